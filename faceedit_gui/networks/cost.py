"""Multiply-accumulate (MAC) and parameter counts of the StyleGAN2 networks.

Counts what the pure-PyTorch layers of `layers.py` execute for ONE image (batch 1),
by running one forward pass with hooks on the layer classes:

- `linear`:  EqualLinear and torch's Linear, `in * out` (the mapping MLP, every modulation, D's head);
- `conv`:    EqualConv2d, torch's Conv2d (the IR-SE encoders) and the convolution of ModulatedConv2d, `out * in * k * k` per
             output pixel; a 2x-upsampling modulated conv is a stride-2 transposed conv,
             `in * out * k * k` per INPUT pixel;
- `demod`:   the per-sample weight work of modulation/demodulation, `out * in * k * k`
             (a weight-sized product and sum of squares; the fused path scales the weight,
             the unfused path does the same work on the activations);
- `fir`:     the depthwise FIR filters (Blur, Upsample), `C * kh * kw` per output pixel
             (zero-inserted pixels included, as `upfirdn2d` computes them).

Biases, activations, noise and normalisation are elementwise and not counted. "GMAC per
pass" in the docs means `conv + linear` unless said otherwise.

Convention: one image, the network's own resolution; returns plain Python ints.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from faceedit_gui.networks.layers import Blur, EqualConv2d, EqualLinear, ModulatedConv2d, Upsample


@dataclasses.dataclass(frozen=True)
class Cost:
    macs: dict[str, int]  # category ("linear", "conv", "demod", "fir") -> MACs per image
    by_module: dict[str, int]  # module name -> its MACs per image (all categories)
    params: int  # trainable parameters

    @property
    def dense_macs(self) -> int:
        """conv + linear: the number quoted as "GMAC per pass"."""
        return self.macs["conv"] + self.macs["linear"]

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())


def _modconv_macs(m: ModulatedConv2d, x: torch.Tensor, out: torch.Tensor) -> tuple[int, int]:
    k2 = m.kernel_size * m.kernel_size
    weight_work = m.out_channel * m.in_channel * k2
    if m.upsample:
        conv = weight_work * x.shape[2] * x.shape[3]  # transposed conv: per input pixel
    else:
        conv = weight_work * out.shape[2] * out.shape[3]
    return conv, weight_work


def count_macs(net: nn.Module, run: Callable[[], object]) -> Cost:
    """Count the MACs of whatever `run()` executes in `net` (call it with batch 1).

    >>> g = Generator(size=32, style_dim=64, n_mlp=2, channels={4: 16, 8: 16, 16: 8, 32: 8})
    >>> cost = count_macs(g, lambda: g(torch.zeros(1, 64)))
    """
    macs = {"linear": 0, "conv": 0, "demod": 0, "fir": 0}
    by_module: dict[str, int] = {}
    names = {id(m): n for n, m in net.named_modules()}
    handles = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0]
        if x.shape[0] != 1:
            raise ValueError(f"count_macs counts one image: got batch {x.shape[0]} at {names.get(id(module))}")
        if isinstance(module, EqualLinear):
            n = {"linear": module.weight.shape[0] * module.weight.shape[1]}
        elif isinstance(module, EqualConv2d):
            o, i, kh, kw = module.weight.shape
            n = {"conv": o * i * kh * kw * output.shape[2] * output.shape[3]}
        elif isinstance(module, nn.Conv2d):  # torch's own (the IR-SE encoders); weight [out, in/groups, kh, kw]
            n = {"conv": module.weight.numel() * output.shape[2] * output.shape[3]}
        elif isinstance(module, nn.Linear):
            n = {"linear": module.weight.numel()}
        elif isinstance(module, ModulatedConv2d):
            conv, demod = _modconv_macs(module, x, output)
            n = {"conv": conv, "demod": demod}
        else:  # Blur / Upsample: depthwise FIR
            kh, kw = module.kernel.shape
            n = {"fir": output.shape[1] * kh * kw * output.shape[2] * output.shape[3]}
        for cat, v in n.items():
            macs[cat] += v
        name = names.get(id(module), type(module).__name__)
        by_module[name] = by_module.get(name, 0) + sum(n.values())

    for m in net.modules():
        if isinstance(m, (EqualLinear, EqualConv2d, ModulatedConv2d, Blur, Upsample, nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    params = sum(p.numel() for p in net.parameters())
    return Cost(macs=macs, by_module=by_module, params=params)


def generator_cost(g: nn.Module, synthesis_only: bool = False) -> Cost:
    """MACs of one generator pass at batch 1: mapping + synthesis, or synthesis alone."""
    device = next(g.parameters()).device
    z = torch.zeros(1, g.style_dim, device=device)
    if synthesis_only:
        w_plus = torch.zeros(1, g.n_latent, g.style_dim, device=device)
        return count_macs(g, lambda: g.synthesis(w_plus))
    return count_macs(g, lambda: g(z))


def discriminator_cost(d: nn.Module) -> Cost:
    """MACs of one discriminator pass at batch 1."""
    device = next(d.parameters()).device
    x = torch.zeros(1, 3, d.size, d.size, device=device)
    return count_macs(d, lambda: d(x))


def format_cost(name: str, cost: Cost) -> str:
    """One readable block: parameters, GMAC by category."""
    parts = ", ".join(f"{k} {v / 1e9:.3f}" for k, v in cost.macs.items())
    return (
        f"{name}: {cost.params / 1e6:.2f} M parameters, "
        f"{cost.dense_macs / 1e9:.3f} GMAC (conv+linear) per image; by kind (GMAC): {parts}"
    )
