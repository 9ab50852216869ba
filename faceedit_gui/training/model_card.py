"""The model card (`models/README.md`) as Markdown, generated from a bundle's card.

Everything comes from `model.json` (`checkpoints/card.py`): networks, sliders, framing,
data and licences, recipe (steps, GPU minutes, devices, data) and metrics, so the text
can never disagree with the bundle it describes. Numbers the card lacks are written as
"not measured yet" rather than left out. The generator's own check (`faceedit
eval-generator`'s `generator_eval.json`, passed to `bundle-assemble --metrics`) gets a
section of its own, with the 8x8 sample sheet when its copy went to `resources/`.

`write_model_card(path, markdown)`: a README that holds the markers `CARD_BEGIN` and
`CARD_END` keeps its own text and gets the card (headings one level down) between them;
any other file is replaced by the card.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePath
from typing import Any

from faceedit_gui.checkpoints.card import BundleCard

CARD_BEGIN = "<!-- model-card:begin (written by faceedit bundle-assemble) -->"
CARD_END = "<!-- model-card:end -->"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, sort_keys=True)[:160] + "`"
    return str(value)


def _metric_lines(metrics: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in metrics.items():
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            lines.append(f"- {prefix}{key}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()))
        elif isinstance(value, dict):
            lines += _metric_lines(value, f"{prefix}{key} / ")
        else:
            lines.append(f"- {prefix}{key}: {_fmt(value)}")
    return lines


def _generator_eval_lines(ev: dict[str, Any]) -> list[str]:
    """The section for `faceedit eval-generator`'s report (metrics key `generator_eval`)."""
    s, r = ev.get("samples", {}), ev.get("reals", {})
    ratio = ev.get("ratio")
    out = ["## Generator samples", "",
           f"dlib's HOG detector (no CNN fallback) finds a face in {s.get('detected', '?')} of {s.get('n', '?')} "
           f"random samples (truncation {_fmt(s.get('truncation', '?'))}) = {_fmt(s.get('rate', '?'))}, and in "
           f"{r.get('detected', '?')} of {r.get('n', '?')} held-out UTKFace faces resized to {ev.get('resolution', '?')} px "
           f"= {_fmt(r.get('rate', '?'))}: ratio {'undefined' if ratio is None else _fmt(ratio)} "
           f"(target >= {_fmt(ev.get('target', {}).get('ratio_at_least', 0.95))}). **{ev.get('verdict', '?')}**.",
           ""]  # fmt: skip
    copy = (ev.get("sheet") or {}).get("copy")
    parts = PurePath(copy).parts if copy else ()
    if "resources" in parts:  # the card lives in models/: link the sheet from there
        rel = "/".join(parts[parts.index("resources"):])
        out += [f"![64 samples, seeds 0..63]({'../' + rel})", "", f"`{rel}`: 64 samples (seeds 0..63), 8 x 8.", ""]
    return out


def model_card_markdown(card: BundleCard, folder_name: str = "default") -> str:
    """The Markdown model card of a bundle."""
    out = [f"# Model card: `models/{folder_name}/` ({card.name})", ""]
    out += [f"A {card.resolution} px StyleGAN2 (n_w = {card.n_w}, style_dim = {card.style_dim}) with its e4e-style "
            "encoder and the two-branch editor of Yin et al. (2022), trained by this project's own code. "
            "Open it with `faceedit_gui.checkpoints.bundle.load_bundle`.", ""]  # fmt: skip
    out += ["## Networks", "", "| name | type | parameters | stored as | training-only |", "|---|---|---:|---|---|"]
    for name, e in card.networks.items():
        out.append(f"| {name} | {e.type} | {e.parameters:,} | {e.dtype} | {'yes' if e.training_only else 'no'} |")
    out += ["", "## Sliders", "", "| slider | label | range | meaning |", "|---|---|---|---|"]
    for a in card.attributes:
        out.append(f"| {a.name} | {a.label} | {a.min:g} … {a.max:g} | {a.description} |")
    for d in card.extra_directions:
        out.append(f"| {d.name} (style-only) | {d.label} | {d.min:g} … {d.max:g} | {d.description} |")
    out += ["", "Training used sliders in {-1, 0, +1}; beyond ±1 the GUI extrapolates.", ""]
    fr = card.framing
    out += ["## Face framing", "", f"`{fr.get('name', '?')}` ({fr.get('kind', '?')}, {fr.get('size', '?')} px): "
            f"{fr.get('note', '')}", ""]  # fmt: skip
    out += ["## Data and licences", ""]
    for d in card.provenance.get("data", []):
        out.append(f"- **{d.get('name')}** ({d.get('url', '')}): {d.get('use', '')}. Licence: {d.get('licence', '?')}.")
    note = card.provenance.get("licence_note")
    out += ["", f"**{note}.**" if note else "", "", "## Recipe", ""]
    total_gpu = 0.0
    for role, r in card.recipe.items():
        gpu = r.get("gpu_minutes")
        total_gpu += gpu or 0.0
        bits = [f"{k} {_fmt(r[k])}" for k in ("steps", "images_seen", "gpu_minutes", "devices", "data", "perceptual") if k in r]
        out.append(f"- **{role}**: " + (", ".join(bits) if bits else "see model.json"))
    out += ["", f"GPU minutes in all: {total_gpu:.1f}.", "", "## Source checkpoints", ""]
    for s in card.provenance.get("source_checkpoints", []):
        out.append(f"- {s.get('role')}: `{s.get('path')}`" + (f" step {s['step']}" if "step" in s else "")
                   + (f", sha256 `{s['sha256'][:16]}…`" if s.get("sha256") else ""))  # fmt: skip
    out += [""]
    if isinstance(card.metrics.get("generator_eval"), dict):
        out += _generator_eval_lines(card.metrics["generator_eval"])
    out += ["## Metrics", ""]
    out += _metric_lines({k: v for k, v in card.metrics.items() if k != "generator_eval"}) or ["- not measured yet"]
    out += ["", "## Limits", "",
            "- Non-commercial research use only (the training data's licences).",
            "- 128 px faces in the UTKFace framing; identity and attribute numbers are measured by the "
            "project's evaluators (dlib for identity), see docs/.",
            "- Pose cannot be learned by the sparse style directions (the paper's stated limitation): the pose "
            "slider, when present, is an unsupervised style-only direction.",
            f"- Created {card.provenance.get('created', '?')} by {card.provenance.get('code_version', '?')}.", ""]  # fmt: skip
    return "\n".join(out)


def write_model_card(path: str | os.PathLike, markdown: str) -> Path:
    """Write the card to `path`: between `CARD_BEGIN` and `CARD_END` when the file holds
    both (the rest of it kept, the card's headings one level down), else the whole file."""
    path = Path(path)
    old = path.read_text() if path.is_file() else ""
    start, end = old.find(CARD_BEGIN), old.find(CARD_END)
    if 0 <= start < end:
        inner = re.sub(r"^(#+) ", r"#\1 ", markdown.strip(), flags=re.MULTILINE)
        text = old[: start + len(CARD_BEGIN)] + "\n\n" + inner + "\n\n" + old[end:]
    else:
        text = markdown
    path.write_text(text)
    return path
