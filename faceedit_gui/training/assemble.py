"""Assemble the bundled model (`models/default/`, DESIGN §4 and §6) from training outputs.

    card = assemble_bundle(AssemblySources(generator="models/training/generator",
                                           encoder="models/training/encoder",
                                           editor="models/training/editor",
                                           classifier="models/training/classifier",
                                           identity="models/training/identity",
                                           framing="resources/framing_template_utkface.json"),
                           "models/default")

What goes in: the generator's EMA weights (`G_ema`, or a bundle's generator), the encoder,
the editor (its `state.json` names the attributes = sliders, in slider order), and the
attribute classifier and identity network marked training-only; extra style-only
directions (e.g. an unsupervised `pose`) from tensor files; the face framing of the
template JSON resized to the generator's resolution.

The card: slider ranges -2..2 (training uses ±1; the GUI may extrapolate), labels and
descriptions from `SLIDER_TEXT`; provenance = the training data with their licences
(UTKFace and CelebA: non-commercial research only) and every source checkpoint with its
step and sha256; recipe = each checkpoint's training config, steps and chunk history with
the GPU minutes it records; metrics = the `--metrics` JSON files (by file stem), the small
networks' own metrics, and `fp16_check`.

fp16 "where exact enough": each network is compared with a copy whose weights went through
float16 and back (what `load_bundle` does with a float16 file), on a fixed input, in the
output space that matters (`FP16_TOLERANCE`): images in [-1, 1] for G, E (through G) and
the editor (x_refine), probabilities for the classifier, unit embeddings for the identity
network. A network within tolerance is stored float16, otherwise float32; the max and mean
absolute differences go into `metrics["fp16_check"]`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file
from torch import nn

from faceedit_gui.checkpoints.bundle import AttributeSpec, BundleCard, DirectionSpec, load_bundle, save_bundle
from faceedit_gui.faces.framing import load_framing
from faceedit_gui.hashing import sha256_file
from faceedit_gui.networks.fusion import check_compatible, fused_edit
from faceedit_gui.training import checkpoint as ckpt
from faceedit_gui.training.train_editor import freeze, load_encoder, load_frozen, load_trained_editor
from faceedit_gui.training.train_encoder import load_generator

# slider name -> (label, description); the direction is the classifier table's (editor_losses.py)
SLIDER_TEXT: dict[str, tuple[str, str]] = {
    "age": ("Age", "positive: older (UTKFace age >= 40), negative: younger"),
    "smile": ("Smile", "positive: smiling (CelebA Smiling), negative: not smiling"),
    "glasses": ("Glasses", "positive: eyeglasses (CelebA Eyeglasses), negative: none"),
    "gender": ("Gender", "positive: male, negative: female (UTKFace gender, CelebA Male)"),
    "beard": ("Beard", "positive: bearded (1 - CelebA No_Beard), negative: clean-shaven"),
}
DIRECTION_TEXT: dict[str, tuple[str, str]] = {
    "pose": ("Pose", "unsupervised style-only direction (head yaw); the editor's sparsity cannot learn pose"),
}
DATA_SOURCES: tuple[dict[str, str], ...] = (
    {"name": "UTKFace", "use": "generator, encoder, editor, classifier (age, gender), identity",
     "licence": "non-commercial research purposes only", "url": "https://susanqq.github.io/UTKFace/"},
    {"name": "CelebA (10k aligned subset)", "use": "classifier attributes, identity (and the generator where used)",
     "licence": "non-commercial research purposes only", "url": "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"},
)  # fmt: skip
TRAINING_ONLY = ("classifier", "identity")
# network -> (what is compared, max abs difference allowed for float16 storage)
FP16_TOLERANCE: dict[str, tuple[str, float]] = {
    "generator": ("image [-1, 1] from fixed z", 4 / 255),
    "encoder": ("G(E(x)) image [-1, 1]", 4 / 255),
    "editor": ("x_refine image [-1, 1], each slider at +1", 4 / 255),
    "classifier": ("sigmoid probabilities", 5e-3),
    "identity": ("unit embedding entries", 5e-3),
}


@dataclasses.dataclass(frozen=True)
class AssemblySources:
    generator: str | Path  # generator training checkpoint (G_ema) or bundle folder
    encoder: str | Path  # encoder training checkpoint or bundle folder
    editor: str | Path  # editor training checkpoint
    classifier: str | Path  # classifier output folder, save_network stem or bundle
    identity: str | Path  # identity output folder, save_network stem or bundle
    framing: str | Path  # template framing JSON (resources/framing_template_utkface.json)
    directions: dict[str, str | Path] = dataclasses.field(default_factory=dict)  # name -> tensor file (.safetensors)
    metrics: tuple[str | Path, ...] = ()  # JSON files merged into card.metrics by stem


def _round_trip(net: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """A copy whose floating weights went through `dtype` and back to float32."""
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for t in list(twin.parameters()) + list(twin.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())
    return twin


@torch.no_grad()
def fp16_check(nets: dict[str, nn.Module], attributes: Sequence[str], seed: int = 0, n: int = 4) -> dict[str, dict[str, Any]]:
    """Per network: {compared, max_abs_diff, mean_abs_diff, tolerance, dtype (the storage chosen)}."""
    g, e, ed = nets["generator"], nets["encoder"], nets["editor"]
    z = torch.randn(n, g.style_dim, generator=torch.Generator().manual_seed(seed))
    x = g(z).clamp(-1, 1)  # fixed faces from the fp32 generator

    def refine(editor: nn.Module, encoder: nn.Module) -> torch.Tensor:
        w_p, feats = encoder(x)
        s = torch.eye(len(attributes))[torch.arange(n) % len(attributes)]
        return fused_edit(g, editor, w_p, feats, x, s).x_refine

    outputs = {
        "generator": lambda m: m(z),
        "encoder": lambda m: g.synthesis(m(x)[0]),
        "editor": lambda m: refine(m, e),
        "classifier": lambda m: torch.sigmoid(m(x)),
        "identity": lambda m: m(x),
    }
    report = {}
    for name, net in nets.items():
        what, tol = FP16_TOLERANCE[name]
        diff = (outputs[name](net) - outputs[name](_round_trip(net))).abs()
        worst = float(diff.max())
        report[name] = {"compared": what, "max_abs_diff": worst, "mean_abs_diff": float(diff.mean()), "tolerance": tol,
                        "dtype": "float16" if worst <= tol else "float32"}  # fmt: skip
    return report


def _checkpoint_record(role: str, folder: Path, weights: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(provenance entry, recipe entry) of a training checkpoint folder (or a bundle)."""
    state = ckpt.read_state(folder)
    if state is None:  # a bundle folder
        return {"role": role, "path": str(folder), "kind": "bundle"}, {"source": f"bundle {folder}"}
    history = state.get("history", [])
    gpu_s = sum(h.get("seconds", 0.0) for h in history if h.get("device", "cpu") != "cpu")
    entry = {"role": role, "path": str(folder), "kind": "training-checkpoint", "step": int(state["step"]),
             "file": state["files"][weights]["file"], "sha256": state["files"][weights]["sha256"]}  # fmt: skip
    recipe = {"config": state.get("config"), "steps": int(state["step"]), "elapsed_s": state.get("elapsed_s"),
              "gpu_minutes": round(gpu_s / 60, 1), "devices": sorted({h.get("device", "?") for h in history}),
              "data": sorted({h.get("data", "?") for h in history}), "chunks": history,
              "perceptual": state.get("perceptual"),
              "images_seen": int(state["step"]) * int((state.get("config") or {}).get("batch", 0))}  # fmt: skip
    return entry, {k: v for k, v in recipe.items() if v is not None}


def _small_net_record(role: str, source: str | Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(provenance, recipe, metrics) of a classifier/identity from its save_network JSON."""
    p = Path(source)
    stem = p / role if p.is_dir() and (p / f"{role}.json").is_file() else p.with_suffix("")
    card_path = stem.with_suffix(".json")
    if not card_path.is_file():
        return {"role": role, "path": str(source), "training_only": True}, {}, {}
    info = json.loads(card_path.read_text())
    weights = stem.with_suffix(".safetensors")
    prov = {"role": role, "path": str(weights), "sha256": sha256_file(weights), "training_only": True}
    recipe = {k: v for k, v in info.items() if k not in ("metrics", "network_type", "config")}
    return prov, recipe, info.get("metrics", {})


def load_direction(path: str | Path, name: str) -> torch.Tensor:
    """A direction tensor from a safetensors file: the tensor `name`, or its only tensor."""
    tensors = load_file(str(path))
    if name in tensors:
        return tensors[name].float()
    if len(tensors) == 1:
        return next(iter(tensors.values())).float()
    raise ValueError(f"{path}: no tensor {name!r} and more than one tensor ({sorted(tensors)})")


def assemble_bundle(sources: AssemblySources, out: str | Path, name: str = "faceedit-default-128", notes: str = "") -> BundleCard:
    """Load every part, check fp16, build the card and write the bundle to `out` (replaced)."""
    g, _ = load_generator(sources.generator)
    encoder, _ = load_encoder(sources.encoder)
    editor, ed_state = load_trained_editor(sources.editor)
    freeze(editor)
    check_compatible(g, editor)
    nets = {"generator": g, "encoder": encoder, "editor": editor,
            "classifier": load_frozen(sources.classifier, "classifier"), "identity": load_frozen(sources.identity, "identity")}  # fmt: skip
    attributes = tuple(ed_state["attributes"])
    if len(attributes) != editor.config.n_attributes:
        raise ValueError(f"{sources.editor}: state.json names {len(attributes)} attributes, the editor has {editor.config.n_attributes}")
    checks = fp16_check(nets, attributes)

    prov, recipe, metrics = [], {}, {}
    for role, folder, weights in (("generator", sources.generator, "G_ema"), ("encoder", sources.encoder, "E"),
                                  ("editor", sources.editor, "editor")):  # fmt: skip
        entry, recipe[role] = _checkpoint_record(role, Path(folder), weights)
        prov.append(entry)
    for role in TRAINING_ONLY:
        entry, recipe[role], metrics[role] = _small_net_record(role, getattr(sources, role))
        prov.append(entry)
    for path in sources.metrics:
        metrics[Path(path).stem] = json.loads(Path(path).read_text())
    metrics["fp16_check"] = checks

    directions, specs = {}, []
    for d_name, path in sources.directions.items():
        directions[d_name] = load_direction(path, d_name)
        label, text = DIRECTION_TEXT.get(d_name, (d_name.replace("_", " ").capitalize(), "style-only direction"))
        specs.append(DirectionSpec(name=d_name, label=label, description=text))
        prov.append({"role": f"direction {d_name}", "path": str(path), "sha256": sha256_file(path)})
    card = BundleCard(
        name=name, resolution=g.size, n_w=g.n_latent, style_dim=g.style_dim,
        attributes=tuple(AttributeSpec(name=a, label=SLIDER_TEXT.get(a, ("", ""))[0], min=-2.0, max=2.0,
                                       description=SLIDER_TEXT.get(a, ("", ""))[1]) for a in attributes),
        extra_directions=tuple(specs),
        framing=load_framing(sources.framing).with_size(g.size).to_dict(),
        provenance={"data": list(DATA_SOURCES), "source_checkpoints": prov,
                    "licence_note": "trained on UTKFace and CelebA: for non-commercial research use only"},
        recipe=recipe, metrics=metrics, notes=notes,
    )  # fmt: skip
    dtypes = {k: v["dtype"] for k, v in checks.items()}
    return save_bundle(out, card, nets, training_only=set(TRAINING_ONLY), dtype=dtypes, extra_tensors=directions, overwrite=True)


def verify_assembled(folder: str | Path) -> dict[str, Any]:
    """Open the bundle as the app does (and with its training-only networks): a short report."""
    bundle = load_bundle(folder, include_training_only=True)
    return {"networks": sorted(bundle.networks), "attributes": list(bundle.card.attribute_names),
            "directions": sorted(bundle.directions), "framing": bundle.card.framing.get("name")}  # fmt: skip
