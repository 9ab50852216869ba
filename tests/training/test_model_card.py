"""The model card: `faceedit eval-generator`'s report gets its own section (with the sheet
when it went to resources/), and `write_model_card` fills a README's marked section only."""

from __future__ import annotations

from faceedit_gui.checkpoints.card import BundleCard
from faceedit_gui.metrics.generator import detection_comparison
from faceedit_gui.training.model_card import CARD_BEGIN, CARD_END, model_card_markdown, write_model_card


def generator_eval(copy: str | None) -> dict:
    """A report in the layout `faceedit eval-generator` writes (generator_eval.json)."""
    report = detection_comparison([True] * 930 + [False] * 70, [True] * 990 + [False] * 10)
    report["samples"]["truncation"] = 1.0
    return {"format": 1, "resolution": 128, **report, "arguments": {"num": 1000, "reals": 1000},
            "sheet": {"file": "sample_sheet.png", "seeds": [0, 63], "copy": copy}}  # fmt: skip


def card(metrics: dict) -> BundleCard:
    return BundleCard(name="t", resolution=128, n_w=12, metrics=metrics)


def test_generator_eval_section_with_rates_verdict_and_sheet():
    text = model_card_markdown(card({"generator_eval": generator_eval("resources/sample_sheet_128.png"),
                                     "inversion": {"psnr": 21.5}}))  # fmt: skip
    section = text[text.index("## Generator samples") : text.index("## Metrics")]
    assert "930 of 1000" in section and "990 of 1000" in section and "128 px" in section
    assert "ratio 0.9394" in section and "**FAIL: ratio 0.939 < 0.95**" in section
    assert "![64 samples, seeds 0..63](../resources/sample_sheet_128.png)" in section
    metrics = text[text.index("## Metrics") :]
    assert "inversion: psnr 21.5" in metrics and "arguments" not in metrics  # not dumped again

    no_copy = model_card_markdown(card({"generator_eval": generator_eval(None)}))
    assert "## Generator samples" in no_copy and "![" not in no_copy
    assert "## Generator samples" not in model_card_markdown(card({}))


def test_write_model_card_replaces_only_the_marked_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# models/\n\nhand-written intro\n\n{CARD_BEGIN}\nnot assembled yet\n{CARD_END}\n\n## After\n")
    write_model_card(readme, "# Model card\n\n## Metrics\n\n- a 1\n")
    once = readme.read_text()
    assert once.startswith("# models/\n\nhand-written intro") and once.endswith(f"{CARD_END}\n\n## After\n")
    assert "not assembled yet" not in once and "## Model card\n" in once and "### Metrics\n" in once
    write_model_card(readme, "# Model card\n\n- b 2\n")  # a second assembly replaces the first card
    twice = readme.read_text()
    assert "- b 2" in twice and "- a 1" not in twice and twice.count(CARD_BEGIN) == 1

    plain = tmp_path / "plain.md"  # no markers: the whole file is the card
    plain.write_text("old\n")
    write_model_card(plain, "# Model card\n")
    assert plain.read_text() == "# Model card\n"


def test_the_repository_readme_keeps_its_text_when_the_card_is_written(repo_root, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((repo_root / "models" / "README.md").read_text())
    write_model_card(readme, model_card_markdown(card({"generator_eval": generator_eval(None)}), "default"))
    text = readme.read_text()
    assert text.startswith("# `models/`") and "## Data and licences" in text
    assert "## Model card: `models/default/` (t)" in text and "### Generator samples" in text
    assert "Not assembled yet" not in text
