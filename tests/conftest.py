"""Fixtures shared across the test suite.

`shared_dir`: the project's ../shared folder (data, reference vectors).
`tiny`: registers two tiny networks in the network registry for one test and hands out
    their classes and a card factory (`tiny.Net`, `tiny.Head`, `tiny.Config`, `tiny.card()`).
`tiny_bundle`: a saved bundle of those networks, for bundle and CLI tests.
`utkface_data`: ../shared/data when its held-out UTKFace faces are there (else the test skips).
`gpu_machine_cli`: runs `faceedit ARGS` in a fresh interpreter that cannot import the
    desktop and CPU-only packages the lent GPU machine lacks (Qt, OpenCV, Pillow, dlib...).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED_DIR


@pytest.fixture(scope="session")
def utkface_data(shared_dir) -> Path:
    data = shared_dir / "data"
    if not (data / "utkface_test.txt").is_file() or not (data / "utkface").is_dir():
        pytest.skip("the UTKFace held-out faces (../shared/data) are not here")
    return data


# --------------------------------------------------------------------------- tiny bundle


@dataclass(frozen=True)
class TinyConfig:
    channels: int = 3  # image channels in and out
    hidden: int = 8  # width of the hidden conv
    kernels: tuple[int, ...] = (3, 1)  # kernel size of each conv


class TinyNet(nn.Module):
    """Two convs, a float buffer and an int64 buffer: enough to exercise every storage rule."""

    config_class = TinyConfig

    def __init__(self, config: TinyConfig = TinyConfig()) -> None:
        super().__init__()
        self.config = config
        k0, k1 = config.kernels
        self.conv = nn.Conv2d(config.channels, config.hidden, k0, padding=k0 // 2)
        self.out = nn.Conv2d(config.hidden, config.channels, k1, padding=k1 // 2)
        self.register_buffer("scale", torch.tensor(0.5))
        self.register_buffer("steps", torch.tensor([7, 123_456_789], dtype=torch.int64))

    @classmethod
    def from_config(cls, config: TinyConfig) -> "TinyNet":
        return cls(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.conv(x))) * self.scale


@dataclass(frozen=True)
class TinyHeadConfig:
    features: int = 12
    classes: int = 2


class TinyHead(nn.Module):
    """A linear classifier, saved as a training-only network."""

    config_class = TinyHeadConfig

    def __init__(self, config: TinyHeadConfig = TinyHeadConfig()) -> None:
        super().__init__()
        self.config = config
        self.fc = nn.Linear(config.features, config.classes)

    @classmethod
    def from_config(cls, config: TinyHeadConfig) -> "TinyHead":
        return cls(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """`tiny_net` and `tiny_head` in the registry for the duration of one test."""
    from faceedit_gui.networks import registry

    monkeypatch.setitem(registry.NETWORK_TYPES, "tiny_net", TinyNet)
    monkeypatch.setitem(registry.NETWORK_TYPES, "tiny_head", TinyHead)
    return SimpleNamespace(Net=TinyNet, Head=TinyHead, Config=TinyConfig, card=tiny_card)


@dataclass
class TinyBundle:
    folder: Path
    card: object  # the BundleCard that save_bundle returned
    networks: dict[str, nn.Module]
    extra_tensors: dict[str, torch.Tensor]


def tiny_card(**changes: object) -> object:
    """A card for an 8 px model (n_w 4, style_dim 16) with two attributes and two directions."""
    from faceedit_gui.checkpoints.card import AttributeSpec, BundleCard, DirectionSpec

    card = BundleCard(
        name="tiny-test",
        resolution=8,
        n_w=4,
        style_dim=16,
        attributes=(
            AttributeSpec(name="age", description="older / younger"),
            AttributeSpec(name="smile", min=-1.0, max=1.5),
        ),
        extra_directions=(DirectionSpec(name="pose", min=-3.0, max=3.0), DirectionSpec(name="yaw", key="yaw_vector")),
        framing={  # the layout of faceedit_gui.faces.framing.Framing.to_dict()
            "kind": "template",
            "size": 8,
            "name": "test-grid-68",
            "template": [[(i % 8 + 0.5) / 8, (i // 8 + 0.5) / 9] for i in range(68)],
            "fit_points": list(range(17, 68)),
        },
        provenance={"data": "synthetic test tensors", "source_checkpoints": []},
        recipe={"editor": {"steps": 3, "lr": 0.001}},
        metrics={"fid": 12.345678, "id_similarity": 0.9},
        notes="made by tests/conftest.py",
    )
    return dataclasses.replace(card, **changes)


@pytest.fixture
def tiny_bundle(tmp_path: Path, tiny: SimpleNamespace) -> TinyBundle:
    """A bundle saved with the default fp16 policy: `generator` and a training-only `classifier`."""
    from faceedit_gui.checkpoints.bundle import save_bundle

    torch.manual_seed(0)
    networks = {"generator": TinyNet(TinyConfig(hidden=5)), "classifier": TinyHead()}
    extra = {"pose": torch.randn(4, 16), "yaw_vector": torch.randn(16)}
    folder = tmp_path / "bundle"
    card = save_bundle(folder, tiny_card(), networks, training_only={"classifier"}, extra_tensors=extra)
    return TinyBundle(folder=folder, card=card, networks=networks, extra_tensors=extra)


# --------------------------------------------------------------------------- edit bundle


def build_edit_bundle(folder: Path, size: int = 32, seed: int = 0) -> Path:
    """An untrained but complete editing bundle (generator, small encoder, editor, a pose
    direction, FFHQ framing) at `size` px: real networks with random weights, for tests
    of the engine, the CLIs and the GUI (`faceedit_gui.engine.devbundle`, tiny config)."""
    from faceedit_gui.engine.devbundle import build_dev_bundle

    return build_dev_bundle(folder, size=size, seed=seed, tiny=True)


@pytest.fixture(scope="session")
def edit_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_edit_bundle(tmp_path_factory.mktemp("edit_bundle") / "bundle")


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test (two shared cores: fast and steady), then back.

    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


_GPU_MACHINE_BLOCKER = r"""
import sys, importlib.abc
BLOCKED = {"PySide6", "qdarkstyle", "cv2", "dlib", "PIL", "face_recognition_models", "face_alignment", "lpips", "torchvision"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
if sys.argv[1:2] == ["--run-script"]:
    import runpy
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    from faceedit_gui.cli.main import main
    sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="session")
def gpu_machine_cli():
    """`run(args, timeout=180, script=None) -> CompletedProcess`: `faceedit ARGS` (or the
    Python file `script` with ARGS) with only torch, numpy, safetensors and tqdm importable,
    as the GPU scripts run it (`python3 -m faceedit_gui.cli.main`, `python3 benchmarks/...`)."""

    def run(args: list, timeout: float = 180, script: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-c", _GPU_MACHINE_BLOCKER, *(["--run-script", str(script)] if script else []), *map(str, args)]
        return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)

    return run
