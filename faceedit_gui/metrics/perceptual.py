"""The perceptual distance every loss and report uses: LPIPS when its official files are
here, otherwise the project's documented substitute (docs/PERCEPTUAL.md). It names itself.

    dist = resolve_perceptual(classifier="runs/classifier/classifier")   # or a bundle folder
    d = dist(x, y)            # [B], x and y float [B, 3, H, W] in [-1, 1]
    dist.name                 # "lpips-vgg (official weights)" or "faceedit-perceptual-v1 (...)"

Which one (`resolve_perceptual`):
1. LPIPS-VGG v0.1 (`networks/lpips.py`) when both official files are found: the arguments
   `lpips_backbone` / `lpips_linear`, else the environment variables `FACEEDIT_LPIPS_VGG`
   (torchvision's `vgg16-397923af.pth`) and `FACEEDIT_LPIPS_LIN` (lpips' `v0.1/vgg.pth`).
   Refused with an error when only one is given (a half-configured metric is a mistake).
2. Otherwise `faceedit-perceptual-v1`, the substitute:
       d = 0.5 * d_feat + 0.5 * (1 - MS-SSIM)
   d_feat: LPIPS's recipe with uniform weights (the paper's "lin" layers replaced by a
   plain channel mean) on the five feature maps of the project's attribute classifier
   (stem and four ResNet stages, a network trained here on faces):
       d_feat = mean_k mean_hw( ||f_k(x)/|f_k(x)| - f_k(y)/|f_k(y)|||^2 / 2 )   (= 1 - cos)
   MS-SSIM: `metrics/reconstruction.ms_ssim` on [0, 1] (three scales at 128 px).
   The name carries the classifier's weight fingerprint, so two reports agree on the metric
   only when they used the same weights.
3. Without a classifier: `faceedit-msssim-v1` (1 - MS-SSIM alone), named as such.

Every variant is frozen (no parameter takes gradients, eval mode whatever `.train()` is
asked), differentiable with respect to both images, deterministic, and runs in float32
with autocast off (SSIM's variance differences are not safe in bfloat16).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faceedit_gui.metrics.reconstruction import MS_SSIM_WEIGHTS, ms_ssim, to_unit
from faceedit_gui.networks.encoders import resize_image

ENV_BACKBONE = "FACEEDIT_LPIPS_VGG"
ENV_LINEAR = "FACEEDIT_LPIPS_LIN"
SUBSTITUTE = "faceedit-perceptual-v1"
SSIM_ONLY = "faceedit-msssim-v1"
FEATURE_WEIGHT = 0.5  # weight of d_feat in the substitute
SSIM_WEIGHT = 0.5  # weight of (1 - MS-SSIM) in the substitute
SSIM_SCALE_WEIGHTS = MS_SSIM_WEIGHTS[:3]  # finest first; renormalised over the scales used


def weights_fingerprint(module: nn.Module) -> str:
    """First 8 hex digits of a sha256 over the module's state dict (names, shapes, float32 bytes)."""
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        t = v.detach().cpu()
        t = t.float() if t.is_floating_point() else t
        h.update(f"{k}:{list(t.shape)}:{t.dtype};".encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:8]


class ClassifierFeatures(nn.Module):
    """The attribute classifier's five feature maps by name: `stem`, `stage1` .. `stage4`.

    Reads the classifier's public `trunk.stem` and `trunk.stages` (no hooks); the input is
    resized to the classifier's working size first, as its own forward does.
    """

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        trunk = getattr(classifier, "trunk", None)
        if trunk is None or not hasattr(trunk, "stem") or not hasattr(trunk, "stages"):
            raise TypeError(f"{type(classifier).__name__} has no `trunk.stem` / `trunk.stages` to take features from")
        self.size = int(classifier.config.size)
        self.stem = trunk.stem
        self.stages = trunk.stages

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.stem(resize_image(x, self.size))  # [B, C0, S, S]
        out = {"stem": h}
        for i, stage in enumerate(self.stages):
            h = stage(h)
            out[f"stage{i + 1}"] = h
        return out


def unit_feature_distance(fx: torch.Tensor, fy: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """LPIPS with uniform weights on one level: per pixel `||x^ - y^||^2 / 2` over channels of
    the unit-normalised maps, averaged over space: `[B]`."""
    nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + eps)
    ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + eps)
    return 0.5 * (nx - ny).pow(2).sum(1).mean(dim=(1, 2))


class PerceptualDistance(nn.Module):
    """`forward(x, y)` -> `[B]` perceptual distances of images in [-1, 1]; `name` says which.

    Build it with `resolve_perceptual`, or directly: `PerceptualDistance(lpips=...)` or
    `PerceptualDistance(features=ClassifierFeatures(clf), feature_source="...")` or
    `PerceptualDistance()` (MS-SSIM only).
    """

    def __init__(
        self,
        lpips: nn.Module | None = None,
        features: nn.Module | None = None,
        feature_source: str = "",
        lpips_source: str = "",
    ) -> None:
        super().__init__()
        if lpips is not None and features is not None:
            raise ValueError("PerceptualDistance: give LPIPS or substitute features, not both")
        self.lpips = lpips
        self.features = features
        self.feature_source = feature_source
        self.lpips_source = lpips_source
        if lpips is not None:
            net = getattr(getattr(lpips, "config", None), "net", "vgg")
            self.kind, self.name = "lpips", f"lpips-{net} (official weights)"
        elif features is not None:
            fp = weights_fingerprint(features)
            self.kind = "substitute"
            self.name = f"{SUBSTITUTE} (substitute for LPIPS: classifier features {fp} + MS-SSIM)"
        else:
            self.kind = "substitute"
            self.name = f"{SSIM_ONLY} (substitute for LPIPS: 1 - MS-SSIM only, no feature network)"
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "PerceptualDistance":
        return super().train(False)  # frozen: BN statistics and dropout never change

    def describe(self) -> dict[str, Any]:
        """What a report records about the metric."""
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.lpips is not None:
            d["files"] = self.lpips_source
        elif self.features is not None:
            d.update(feature_network=self.feature_source, feature_weight=FEATURE_WEIGHT, ssim_weight=SSIM_WEIGHT,
                     ms_ssim_weights=list(SSIM_SCALE_WEIGHTS))  # fmt: skip
        else:
            d.update(ms_ssim_weights=list(SSIM_SCALE_WEIGHTS))
        return d

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"PerceptualDistance: expected two [B, 3, H, W] images of one shape, got {list(x.shape)} and {list(y.shape)}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            x, y = x.float(), y.float()
            if self.lpips is not None:
                return self.lpips(x, y)
            d_ssim = 1.0 - ms_ssim(to_unit(x).clamp(0, 1), to_unit(y).clamp(0, 1), SSIM_SCALE_WEIGHTS)
            if self.features is None:
                return d_ssim
            fx, fy = self.features(x), self.features(y)
            d_feat = torch.stack([unit_feature_distance(fx[k], fy[k]) for k in fx], 1).mean(1)
            return FEATURE_WEIGHT * d_feat + SSIM_WEIGHT * d_ssim


def load_network_source(source: str | os.PathLike, bundle_name: str) -> nn.Module:
    """A small trained network (eval mode) from a bundle folder (network `bundle_name`,
    possibly training-only), a training output folder holding `<bundle_name>.json` +
    `.safetensors` (e.g. `models/training/classifier`), or `save_network` files (`<stem>`,
    `<stem>.safetensors` or `<stem>.json`)."""
    source = Path(source)
    if source.is_dir() and (source / "model.json").is_file():
        from faceedit_gui.checkpoints.bundle import load_bundle

        return load_bundle(source, networks=[bundle_name])[bundle_name]
    if source.is_dir() and (source / f"{bundle_name}.json").is_file():
        source = source / bundle_name
    from faceedit_gui.training.net_io import load_network

    net, _ = load_network(source)
    return net


def load_classifier(source: str | os.PathLike) -> nn.Module:
    """The attribute classifier from a bundle folder or its `save_network` files."""
    return load_network_source(source, "classifier")


def resolve_perceptual(
    lpips_backbone: str | os.PathLike | None = None,
    lpips_linear: str | os.PathLike | None = None,
    classifier: nn.Module | str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    net: str = "vgg",
) -> PerceptualDistance:
    """LPIPS when both official files are known (arguments, else the environment), else the
    substitute over `classifier` (a module, bundle folder or `save_network` stem), else
    MS-SSIM alone. See the module docstring."""
    backbone = lpips_backbone or os.environ.get(ENV_BACKBONE) or None
    linear = lpips_linear or os.environ.get(ENV_LINEAR) or None
    if (backbone is None) != (linear is None):
        raise ValueError(
            f"LPIPS needs both files: the torchvision backbone ({ENV_BACKBONE}) and lpips' linear layers "
            f"({ENV_LINEAR}); got only {'the backbone' if backbone else 'the linear layers'}"
        )
    if backbone is not None:
        from faceedit_gui.networks.lpips import load_lpips

        model = load_lpips(backbone, linear, net=net)
        return PerceptualDistance(lpips=model, lpips_source=f"{backbone} + {linear}").to(device)
    if classifier is None:
        return PerceptualDistance().to(device)
    source = "module"
    if not isinstance(classifier, nn.Module):
        source = str(classifier)
        classifier = load_classifier(classifier)
    return PerceptualDistance(features=ClassifierFeatures(classifier), feature_source=source).to(device)
