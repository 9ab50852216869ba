"""Classifier and identity training: labels, masked BCE, AUC, short runs on synthetic packs in
the packer's format, weights that reload exactly, and `faceedit attributes` on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit_gui.cli.main import main as faceedit
from faceedit_gui.conventions import uint8_to_tensor
from faceedit_gui.faces import ffhq_framing, load_photo
from faceedit_gui.faces.packing import ShardWriter
from faceedit_gui.networks.classifier import USER_ATTRIBUTES, AttributeClassifier, AttributeClassifierConfig
from faceedit_gui.networks.identity import IdentityNetConfig
from faceedit_gui.training.attribute_targets import CELEBA_ATTRIBUTE_ORDER, attribute_targets, masked_bce, roc_auc
from faceedit_gui.training.face_packs import load_pack
from faceedit_gui.training.net_io import load_network, save_network
from faceedit_gui.training.train_classifier import ClassifierTrainConfig, train_classifier
from faceedit_gui.training.train_identity import IdentityTrainConfig, agreement_metrics, train_identity

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
FFHQ_PHOTO = PHOTOS / "ffhq" / "00000.png"
TINY_CLS = AttributeClassifierConfig(size=32, stem_channels=4, channels=(4, 8, 8, 8))
TINY_ID = IdentityNetConfig(size=32, stem_channels=4, stem_stride=1, channels=(4, 8, 8, 8), blocks=(1, 1, 1, 1))
QUIET = lambda msg: None  # noqa: E731


def write_synthetic_pack(folder: Path, dataset: str, n_train: int = 10, n_test: int = 6, size: int = 32, seed: int = 0) -> Path:
    """Random crops with labels shaped like the real packs' (`faces/packing.py`): 'celeba' has
    the 40 attributes and a derived gender, 'utkface' age/gender/race and no attributes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    landmarks = np.stack([np.linspace(0.25, 0.75, 68), np.linspace(0.3, 0.8, 68)], 1).astype(np.float32) * size
    for split, n in (("train", n_train), ("test", n_test)):
        writer = ShardWriter(folder, split, size, encoding="raw", max_bytes=64 * 1024 + (n // 2 + 1) * (size * size * 3 + 600))
        for i in range(n):
            rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            if dataset == "celeba":
                attrs = tuple(int(v) for v in rng.integers(0, 2, 40))
                age, gender, race = -1, 1 - attrs[CELEBA_ATTRIBUTE_ORDER.index("Male")], -1
            else:
                attrs, age, gender, race = (-1,) * 40, int(rng.integers(1, 90)), int(rng.integers(0, 2)), int(rng.integers(0, 5))
            writer.add(rgb, f"{dataset}_{split}_{i:04d}.jpg", int(split == "test"), age, gender, race, attrs, landmarks, 0.01)
        writer.flush()
        shards += writer.shards
    index = {"dataset": dataset, "size": size, "encoding": "raw", "shards": shards,
             "framing": ffhq_framing(size).to_dict(), "labels": {"attribute_names": list(CELEBA_ATTRIBUTE_ORDER)}}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("packs")
    return [write_synthetic_pack(root / "celeba_32", "celeba"), write_synthetic_pack(root / "utkface_32", "utkface", seed=1)]


# ------------------------------------------------------------------------------ labels and losses


def test_pack_reader_keeps_splits_apart_and_reads_every_shard(packs: list[Path]) -> None:
    train, test = load_pack(packs[0], "train"), load_pack(packs[0], "test")
    assert (len(train), len(test)) == (10, 6)
    assert len({json.dumps(s) for s in json.loads((packs[0] / "index.json").read_text())["shards"]}) > 2  # several shards
    assert (train.labels["split"] == 0).all() and (test.labels["split"] == 1).all()
    assert train.images.dtype == np.uint8 and train.images.shape[1:] == (32, 32, 3)


def test_targets_take_celeba_attributes_from_celeba_and_age_from_utkface_only() -> None:
    names = ("Smiling", "Male", "age_old", "gender_male")
    attrs = np.full((2, 40), -1, np.int8)
    attrs[0, CELEBA_ATTRIBUTE_ORDER.index("Smiling")] = 1
    attrs[:, CELEBA_ATTRIBUTE_ORDER.index("Male")] = [0, 1]  # UTKFace's row: derived from gender
    labels = {"split": np.zeros(2, np.int8), "attrs": attrs, "age": np.array([-1, 45], np.int16), "gender": np.array([1, 0], np.int8)}
    t, k = attribute_targets(labels, names, "celeba")
    np.testing.assert_array_equal(k, [[True, True, False, True], [False, True, True, True]])  # age wherever given
    np.testing.assert_array_equal(t, [[1, 0, 0, 0], [0, 1, 1, 1]])
    t, k = attribute_targets(labels, names, "utkface", age_old_threshold=40)
    np.testing.assert_array_equal(k[1], [False, False, True, True])  # derived Male not used
    np.testing.assert_array_equal(t[1], [0, 0, 1, 1])


def test_masked_bce_ignores_missing_labels_but_not_known_ones() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 3, requires_grad=True)
    targets = torch.randint(0, 2, (4, 3)).float()
    known = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=torch.bool)
    total, per = masked_bce(logits, targets, known)
    total.backward()
    grad = logits.grad.clone()
    assert (grad[~known] == 0).all() and (grad[known] != 0).all()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    torch.testing.assert_close(total, expected)
    flipped_missing = torch.where(known, targets, 1 - targets)
    torch.testing.assert_close(masked_bce(logits, flipped_missing, known)[0], total)
    flipped_known = torch.where(known, 1 - targets, targets)
    assert abs(float(masked_bce(logits, flipped_known, known)[0].detach()) - float(total.detach())) > 1e-3
    col0 = torch.nn.functional.binary_cross_entropy_with_logits(logits[known[:, 0], 0], targets[known[:, 0], 0])
    torch.testing.assert_close(per[0], col0)


def test_auc_matches_hand_counted_pairs_and_ties_count_half() -> None:
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4 pairs
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5, 0.9]), np.array([1, 0, 1])) == pytest.approx(0.75)  # (0.5 + 1) / 2
    assert roc_auc(np.array([3.0, 2.0, 1.0]), np.array([1, 1, 0])) == 1.0
    assert np.isnan(roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))


def test_agreement_metrics_are_perfect_for_a_student_that_copies_dlib() -> None:
    rng = np.random.default_rng(0)
    d = rng.normal(size=(20, 8)) * 0.1 + 1.0
    mean = d.mean(0)
    s = (d - mean) / np.linalg.norm(d - mean, axis=1, keepdims=True)
    m = agreement_metrics(s, d, mean, float(np.linalg.norm(d - mean, axis=1).mean()))
    assert m["cos_agreement"] == pytest.approx(1.0) and m["rank1_retrieval"] == 1.0
    assert m["pair_corr"] > 0.9 and m["nn_agreement"] > 0.5


# ------------------------------------------------------------------------------ training runs


def test_three_classifier_steps_write_weights_that_reload_to_identical_outputs(packs: list[Path], tmp_path: Path) -> None:
    cfg = ClassifierTrainConfig(network=TINY_CLS, steps=3, batch=4, warmup=1, log_every=1, eval_every=2)
    record = train_classifier(packs, tmp_path, cfg, fresh=True, echo=QUIET)
    assert record["metrics"]["steps"] == 3
    card = json.loads((tmp_path / "classifier.json").read_text())
    assert card["network_type"] == "attribute_classifier" and "Smiling" in card["metrics"]["held_out"]["auc"]
    assert card["framing"]["kind"] == "ffhq"
    logs = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs if "loss/bce" in r] == [1, 2, 3]
    net, _ = load_network(tmp_path / "classifier")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    again, _ = load_network(tmp_path / "classifier.json")
    torch.testing.assert_close(net(x), again(x), rtol=0, atol=0)
    # a second call with a longer schedule resumes at step 3
    longer = ClassifierTrainConfig(network=TINY_CLS, steps=5, batch=4, warmup=1, log_every=1, eval_every=2)
    assert train_classifier(packs, tmp_path, longer, echo=QUIET)["metrics"]["steps"] == 3  # the saved config wins...
    assert train_classifier(packs, tmp_path, longer, fresh=True, echo=QUIET)["metrics"]["steps"] == 5  # ...unless fresh


def test_three_identity_steps_with_real_dlib_targets_reload_identically(packs: list[Path], tmp_path: Path) -> None:
    cfg = IdentityTrainConfig(network=TINY_ID, train_per_pack=6, steps=3, batch=4, warmup=1, log_every=1, eval_every=2)
    record = train_identity(packs, tmp_path / "run", tmp_path / "cache", cfg, fresh=True, test_limit=4, echo=QUIET)
    assert record["data"] == {"train_crops": 12, "held_out_crops": 8}
    cached = np.load(tmp_path / "cache" / "celeba_32_train.npz")
    assert cached["descriptors"].shape == (6, 128) and np.isfinite(cached["descriptors"]).all()
    for key in ("cos_agreement", "cos_agreement_raw", "cos_mean_baseline_raw", "pair_corr", "rank1_retrieval"):
        assert key in record["metrics"]["held_out"]
    net, card = load_network(tmp_path / "run" / "identity")
    assert card["network_type"] == "identity" and float(net.dlib_mean.abs().sum()) > 0
    again, _ = load_network(tmp_path / "run" / "identity")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(net(x), again(x), rtol=0, atol=0)


# ------------------------------------------------------------------------------ faceedit attributes


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    save_network(tmp_path / "w" / "classifier", AttributeClassifier(TINY_CLS).eval(), framing=ffhq_framing(64).to_dict())
    return tmp_path / "w"


def test_attributes_cli_on_an_aligned_real_photo_prints_json_with_the_user_names(tiny_weights: Path, capsys) -> None:
    assert faceedit(["attributes", "--aligned", "--json", "--weights", str(tiny_weights), str(FFHQ_PHOTO)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1 and out[0]["file"] == str(FFHQ_PHOTO)
    attrs = out[0]["attributes"]
    assert set(attrs) == set(USER_ATTRIBUTES) and {"smile", "glasses", "age", "gender", "beard"} <= set(attrs)
    assert all(0.0 <= p <= 1.0 for p in attrs.values())
    net, _ = load_network(tiny_weights / "classifier")
    expected = net.user_probabilities(uint8_to_tensor(load_photo(FFHQ_PHOTO).rgb))[0]
    assert attrs["smile"] == pytest.approx(expected["smile"], abs=1e-4)


def test_attributes_cli_detects_and_aligns_faces_with_dlib_without_aligned(tiny_weights: Path, capsys) -> None:
    assert faceedit(["attributes", "--weights", str(tiny_weights), str(FFHQ_PHOTO)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 1 and lines[0].startswith(f"{FFHQ_PHOTO}#0: smile ")


def test_attributes_cli_says_what_to_pass_when_there_is_no_classifier(tmp_path: Path, capsys) -> None:
    assert faceedit(["attributes", "--bundle", str(tmp_path / "nothing"), str(FFHQ_PHOTO)]) == 2
    assert "--weights DIR" in capsys.readouterr().err
    assert faceedit(["attributes", "--weights", str(tmp_path), str(FFHQ_PHOTO)]) == 2
    assert "no trained classifier" in capsys.readouterr().err
