"""Linear latent edits shared by the baselines (InterFaceGAN, GANSpace, SeFa) and the pose slider.

A `Direction` is one slider: a unit vector `u` in W (`[style_dim]`), the W+ layers it
acts on, and a strength `alpha` calibrated on generated samples. As a W+ tensor it is

    vector = alpha * mask[:, None] * u[None, :]        # [n_w, style_dim]

where `mask[l] = 1` for `layers[0] <= l < layers[1]`, else 0. A `LinearEditor` holds one
direction per name and applies

    w_plus' = w_plus + sum_k s_k * vector_k            # [B, n_w, style_dim]

so `s = +-1` is the calibrated edit and `s = 0` leaves `w_plus` unchanged.

Calibration (`calibrate_strengths`): for each direction, the smallest alpha at which
moving generated samples w by `+alpha` and `-alpha` changes the attribute classifier's
probability by `target` on average, half-way each side:
    mean_i [p(w_i + alpha v) - p(w_i - alpha v)] / 2 = target      (default target 0.25)
Found by doubling from `sigma` (the spread of W along u) and then bisection in log alpha.
Only generated samples are used, never photos or held-out lists (DESIGN §7). When the
classifier never reaches the target (an untrained one, say) alpha stops at the largest
value tried and the direction records `reached = False`.

Storage (`LinearEditor.save`): `<stem>.safetensors` (one `[style_dim]` unit vector per
direction, float32) and `<stem>.json` (`{"format": 1, "method", "directions": {name:
{layers, strength, reached, ...}}, "meta"}`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

FORMAT = 1
DEFAULT_TARGET = 0.25  # mean half-difference of the classifier's probability at s = +-1


@dataclasses.dataclass(frozen=True)
class Direction:
    name: str  # slider name (an attribute of the classifier, or "pose")
    unit: torch.Tensor  # [style_dim], unit norm in W
    layers: tuple[int, int]  # W+ layers [start, end) the edit touches
    strength: float = 1.0  # alpha: the W distance of s = 1
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # how it was chosen (component, score, ...)

    def vector(self, n_w: int) -> torch.Tensor:
        """The W+ offset of `s = 1`: `[n_w, style_dim]`."""
        mask = torch.zeros(n_w, dtype=self.unit.dtype, device=self.unit.device)
        mask[self.layers[0] : self.layers[1]] = 1
        return self.strength * mask[:, None] * self.unit[None, :]


class LinearEditor:
    """Named linear directions in W+; `apply(w_plus, sliders)` adds `sum s_k vector_k`."""

    def __init__(self, method: str, directions: Sequence[Direction], n_w: int, meta: Mapping[str, Any] | None = None):
        self.method = method
        self.n_w = int(n_w)
        self.directions: dict[str, Direction] = {d.name: d for d in directions}
        self.meta = dict(meta or {})

    @property
    def names(self) -> list[str]:
        return list(self.directions)

    def vectors(self) -> dict[str, torch.Tensor]:
        return {n: d.vector(self.n_w) for n, d in self.directions.items()}

    def apply(self, w_plus: torch.Tensor, sliders: Mapping[str, float]) -> torch.Tensor:
        """`w_plus` `[B, n_w, D]` + the sliders' offset; unknown names or non-finite values raise."""
        if w_plus.ndim != 3 or w_plus.shape[1] != self.n_w:
            raise ValueError(f"w_plus: got shape {list(w_plus.shape)}, expected [B, {self.n_w}, style_dim]")
        check_sliders(sliders, self.names, self.method)
        out = w_plus
        for name, value in sliders.items():
            if value:
                out = out + float(value) * self.directions[name].vector(self.n_w).to(w_plus)
        return out

    # ------------------------------------------------------------------ storage

    def save(self, stem: str | os.PathLike) -> tuple[Path, Path]:
        """`<stem>.safetensors` + `<stem>.json`, each written to a temporary name and renamed."""
        from safetensors.torch import save_file

        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        tensors = {n: d.unit.detach().float().cpu().contiguous() for n, d in self.directions.items()}
        st, js = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        tmp = st.with_name(st.name + ".partial")
        save_file(tensors, str(tmp), metadata={"faceedit.editing": self.method})
        os.replace(tmp, st)
        record = {
            "format": FORMAT,
            "method": self.method,
            "n_w": self.n_w,
            "style_dim": int(next(iter(tensors.values())).shape[0]) if tensors else 0,
            "directions": {
                n: {"layers": list(d.layers), "strength": d.strength, "info": d.info} for n, d in self.directions.items()
            },
            "meta": self.meta,
        }
        tmp = js.with_name(js.name + ".partial")
        tmp.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
        os.replace(tmp, js)
        return st, js

    @classmethod
    def load(cls, stem: str | os.PathLike) -> "LinearEditor":
        from safetensors.torch import load_file

        stem = Path(stem)
        js, st = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
        for p in (js, st):
            if not p.is_file():
                raise FileNotFoundError(f"linear edit directions: {p} is missing")
        record = json.loads(js.read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"{js}: format {record.get('format')!r}, expected {FORMAT}")
        tensors = load_file(str(st))
        dirs = []
        for name, d in record["directions"].items():
            if name not in tensors:
                raise ValueError(f"{st}: no tensor for direction {name!r}")
            dirs.append(Direction(name, tensors[name].float(), tuple(d["layers"]), float(d["strength"]), dict(d.get("info", {}))))
        return cls(record["method"], dirs, record["n_w"], record.get("meta"))


def check_sliders(sliders: Mapping[str, float], known: Sequence[str], who: str = "edit") -> None:
    """Raise a ValueError for unknown names and non-finite values."""
    unknown = sorted(set(sliders) - set(known))
    if unknown:
        raise ValueError(f"{who}: unknown slider(s) {unknown}; known: {list(known)}")
    for name, v in sliders.items():
        if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ValueError(f"{who}: slider {name!r} is not a finite number ({v!r})")


def layer_range(spec: str | tuple[int, int] | None, n_w: int) -> tuple[int, int]:
    """`"all"`/None -> (0, n_w); `"coarse"` the first third, `"middle"`, `"fine"`; or (start, end)."""
    if spec is None or spec == "all":
        return (0, n_w)
    third = max(1, n_w // 3)
    named = {"coarse": (0, third), "middle": (third, 2 * third), "fine": (2 * third, n_w)}
    if isinstance(spec, str):
        if spec not in named:
            raise ValueError(f"unknown layer range {spec!r} (all, coarse, middle, fine or (start, end))")
        return named[spec]
    start, end = int(spec[0]), int(spec[1])
    if not 0 <= start < end <= n_w:
        raise ValueError(f"layer range {spec} outside [0, {n_w})")
    return (start, end)


# ---------------------------------------------------------------------- sampling, scoring


@torch.no_grad()
def sample_w(generator: torch.nn.Module, n: int, seed: int = 0, truncation: float = 1.0, batch: int = 256) -> torch.Tensor:
    """`n` mapped latents w `[n, style_dim]` from a seeded generator of z (truncation towards the mean)."""
    g = torch.Generator().manual_seed(seed)
    dev = next(generator.parameters()).device
    ws = []
    for i in range(0, n, batch):
        z = torch.randn(min(batch, n - i), generator.style_dim, generator=g).to(dev)
        ws.append(generator.mapping(z))
    w = torch.cat(ws)
    if truncation < 1:
        w = generator.truncate(w, truncation, generator.mean_latent(4096))
    return w


ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # images [B, 3, R, R] in [-1, 1] -> logits [B, K]


def classifier_scorer(classifier: torch.nn.Module, names: Sequence[str]) -> ScoreFn:
    """Images -> the attribute classifier's user-facing logits for `names` (`[B, len(names)]`)."""
    names = tuple(names)

    def score(images: torch.Tensor) -> torch.Tensor:
        return classifier.user_logits(classifier(images), names)

    return score


@torch.no_grad()
def score_w_plus(generator, score: ScoreFn, w_plus: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Logits of `G(w_plus)` (stored noise), batched: `[N, K]`."""
    out = []
    for i in range(0, len(w_plus), batch):
        out.append(score(generator.synthesis(w_plus[i : i + batch])).float().cpu())
    return torch.cat(out)


def assign_components(components: torch.Tensor, coords: torch.Tensor, logits: torch.Tensor, names: Sequence[str]) -> dict[str, tuple[int, float]]:
    """For each attribute, the component whose coordinate correlates most with its logit.

    `components` `[C, D]`, `coords` `[N, C]` (samples' coordinates along them), `logits`
    `[N, K]`. Returns name -> (component index, signed Pearson r); a component is used once
    (greedy by |r|, strongest pair first), so two attributes never share a direction.
    """
    c = (coords - coords.mean(0)) / (coords.std(0) + 1e-8)
    y = (logits - logits.mean(0)) / (logits.std(0) + 1e-8)
    r = (c.T @ y) / max(1, len(c) - 1)  # [C, K]
    out: dict[str, tuple[int, float]] = {}
    used: set[int] = set()
    flat = sorted(((abs(float(r[i, k])), i, k) for i in range(r.shape[0]) for k in range(r.shape[1])), reverse=True)
    for _, i, k in flat:
        if names[k] in out or i in used:
            continue
        out[names[k]] = (i, float(r[i, k]))
        used.add(i)
    return out


@torch.no_grad()
def calibrate_strength(
    generator,
    score: Callable[[torch.Tensor], torch.Tensor],
    w: torch.Tensor,
    vector: torch.Tensor,
    sigma: float,
    target: float = DEFAULT_TARGET,
    max_doublings: int = 6,
    bisections: int = 5,
) -> tuple[float, bool, float]:
    """alpha with `mean[p(w + a v) - p(w - a v)] / 2 = target`; returns (alpha, reached, effect).

    `w` `[N, n_w, D]` samples (W+), `vector` `[n_w, D]` the direction at unit strength,
    `score(w_plus) -> probability [N]` of the attribute (sign: up = positive slider).
    """

    def effect(a: float) -> float:
        up, down = score(w + a * vector), score(w - a * vector)
        return float((up - down).mean() / 2)

    hi = max(sigma, 1e-3)
    e_hi = effect(hi)
    if e_hi >= target:  # already there at one sigma: halve until it is not
        for _ in range(max_doublings):
            e_half = effect(hi / 2)
            if e_half < target:
                break
            hi, e_hi = hi / 2, e_half
        else:
            return hi, True, e_hi
        lo = hi / 2
    else:  # double until it is
        for _ in range(max_doublings):
            lo, hi = hi, 2 * hi
            e_hi = effect(hi)
            if e_hi >= target:
                break
        else:
            return hi, False, e_hi
    for _ in range(bisections):  # in log alpha, keeping `hi` on the reached side
        mid = math.sqrt(lo * hi)
        e_mid = effect(mid)
        if e_mid >= target:
            hi, e_hi = mid, e_mid
        else:
            lo = mid
    return hi, True, e_hi


def calibrate_editor(
    editor: LinearEditor,
    generator,
    classifier,
    w: torch.Tensor,
    target: float = DEFAULT_TARGET,
    batch: int = 32,
) -> LinearEditor:
    """A copy of `editor` whose strengths are calibrated per attribute on W samples `w` `[N, D]`.

    Directions whose name is no classifier attribute (pose) keep their strength.
    """
    n_w = generator.n_latent
    w_plus = generator.broadcast(w)
    known = set(classifier.user_names()) if hasattr(classifier, "user_names") else set()
    out = []
    for name, d in editor.directions.items():
        if name not in known:
            out.append(d)
            continue
        scorer = classifier_scorer(classifier, [name])

        def prob(wp: torch.Tensor, scorer=scorer) -> torch.Tensor:
            return torch.sigmoid(score_w_plus(generator, scorer, wp, batch)[:, 0])

        unit_vec = dataclasses.replace(d, strength=1.0).vector(n_w).to(w)
        sigma = float((w @ d.unit.to(w)).std()) if len(w) > 1 else 1.0
        alpha, reached, eff = calibrate_strength(generator, prob, w_plus, unit_vec, sigma, target)
        info = {**d.info, "calibration": {"target": target, "reached": reached, "effect": round(eff, 4),
                                          "sigma_w": round(sigma, 5), "samples": len(w)}}  # fmt: skip
        out.append(dataclasses.replace(d, strength=float(alpha), info=info))
    meta = {**editor.meta, "calibration_target": target}
    return LinearEditor(editor.method, out, editor.n_w, meta)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
