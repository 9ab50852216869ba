"""Official e4e / pSp encoder files and the ArcFace IR-SE50 file, opened without running code.

Files: `e4e_ffhq_encode.pt` (Tov et al., 2021), `psp_ffhq_encode.pt` (Richardson et al.,
2021): a dict with `state_dict` (`encoder.<key>`, `decoder.<StyleGAN2 key>`), `opts` (the
training options as a dict) and `latent_avg` (`[18, 512]`, or `[512]` / `[1, 512]`).
`model_ir_se50.pth` (ArcFace, Deng et al., 2019): a bare `Backbone` state dict.
Layouts: `../shared/reference/README.md` and the key tables beside it.

Every file goes through `safe_load.load_torch_checkpoint` (`weights_only=True`). Weights
are matched key by key against an explicit table (checkpoint key -> module key, shape)
built from our modules, and every mismatch is reported at once: missing keys, unexpected
keys, wrong shapes (got/expected). BatchNorm `num_batches_tracked` may be missing (older
files); it is then set to 0. The networks are built on the `meta` device and the loaded
tensors are assigned, so opening the 267 M-value e4e encoder never allocates a second,
randomly initialised copy.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from faceedit_gui.checkpoints.keys import check_state, load_state_dict_checked, short_list
from faceedit_gui.checkpoints.safe_load import CheckpointError, load_torch_checkpoint
from faceedit_gui.networks.arcface import ArcFaceConfig, Backbone
from faceedit_gui.networks.encoders import STYLE_DIM, OfficialEncoder, OfficialEncoderConfig
from faceedit_gui.networks.irse import STAGE_UNITS

ENCODER_PREFIX = "encoder."
DECODER_PREFIX = "decoder."
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
ENCODER_TYPES = {"Encoder4Editing": "e4e", "GradualStyleEncoder": "psp"}
_LIST_MAX = 10


@dataclasses.dataclass(frozen=True)
class KeyEntry:
    """One row of a key table: the name in the file, the name in our module, the shape."""

    checkpoint_key: str
    module_key: str
    shape: tuple[int, ...]
    dtype: torch.dtype


def key_table(module: nn.Module, checkpoint_prefix: str = "", module_prefix: str = "") -> list[KeyEntry]:
    """The explicit mapping for `module` (ideally on `meta`): `checkpoint_prefix + k` <-> `module_prefix + k`.

    `module.state_dict()` order; `k` runs over the module's keys with `module_prefix` removed.
    """
    table = []
    for key, value in module.state_dict().items():
        if not key.startswith(module_prefix):
            continue
        rest = key[len(module_prefix) :]
        table.append(KeyEntry(checkpoint_prefix + rest, key, tuple(value.shape), value.dtype))
    return table


def encoder_key_table(config: OfficialEncoderConfig | None = None) -> list[KeyEntry]:
    """Checkpoint `encoder.<k>` <-> `OfficialEncoder` `encoder.<k>` (without `latent_avg`)."""
    with torch.device("meta"):
        module = OfficialEncoder(config or OfficialEncoderConfig())
    return key_table(module, ENCODER_PREFIX, ENCODER_PREFIX)


def load_by_key_table(
    module: nn.Module,
    table: list[KeyEntry],
    state: Mapping[str, Any],
    source: str,
    extra: Mapping[str, torch.Tensor] | None = None,
) -> nn.Module:
    """Assign `state` (checkpoint keys) to `module` (built on `meta`) through `table`.

    Raises `CheckpointError` naming every missing key, unexpected key and wrong shape.
    `state` should hold only the keys the table covers (callers strip other parts first).
    `extra` gives module keys filled from elsewhere (e.g. `latent_avg`). Floating tensors
    are cast to the module's dtype. Returns `module`, now on the CPU.
    """
    check_state(
        {e.checkpoint_key: e.shape for e in table},
        state,
        source,
        type(module).__name__,
        OPTIONAL_SUFFIXES,
        _LIST_MAX,
    )

    new_state: dict[str, torch.Tensor] = {}
    for entry in table:
        value = state.get(entry.checkpoint_key)
        if value is None:  # an optional counter, e.g. num_batches_tracked
            value = torch.zeros(entry.shape, dtype=entry.dtype)
        new_state[entry.module_key] = value.detach().to(device="cpu", dtype=entry.dtype)
    new_state.update(extra or {})
    module.load_state_dict(new_state, strict=True, assign=True)
    left = [name for name, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"{source}: internal error: {_short(left)} were not filled by the key table")
    return module


def _short(items: list[str]) -> str:
    return short_list(items, _LIST_MAX)


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


# --------------------------------------------------------------------------- e4e / pSp


@dataclasses.dataclass(frozen=True)
class LoadedEncoderCheckpoint:
    """What an e4e / pSp file holds, ready to use."""

    encoder: OfficialEncoder  # eval mode, frozen (call requires_grad_(True) to fine-tune), float32
    decoder_state_dict: dict[str, torch.Tensor]  # rosinality generator keys, `decoder.` stripped
    decoder_size: int  # the generator's resolution (`Generator(size, 512, 8, channel_multiplier=2)`)
    opts: dict[str, Any]  # the training options stored in the file
    source: str  # the file
    generator: nn.Module | None = None  # the built decoder when `build_generator=True`


def encoder_config_from_opts(opts: Mapping[str, Any], source: str, kind: str | None = None) -> OfficialEncoderConfig:
    """Which official encoder a file's `opts` describe; `kind` ('e4e' / 'psp') overrides `encoder_type`."""
    if kind is None:
        encoder_type = opts.get("encoder_type")
        if encoder_type is None:
            raise CheckpointError(
                f"{source}: opts has no 'encoder_type'; pass kind='e4e' or kind='psp' (the two share a layout)"
            )
        if encoder_type not in ENCODER_TYPES:
            raise CheckpointError(
                f"{source}: encoder_type {encoder_type!r} is not supported (supported: {sorted(ENCODER_TYPES)})"
            )
        kind = ENCODER_TYPES[encoder_type]
    if opts.get("learn_in_w"):
        raise CheckpointError(f"{source}: a pSp encoder with learn_in_w=True (one W code) is not supported")
    input_nc = opts.get("input_nc", 3)
    if input_nc != 3:
        raise CheckpointError(f"{source}: input_nc is {input_nc}; only RGB encoders (input_nc 3) are supported")
    size = opts.get("stylegan_size") or opts.get("output_size") or 1024
    try:
        return OfficialEncoderConfig(kind=kind, output_size=int(size))
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from None


def latent_avg_for(value: Any, n_w: int, source: str) -> torch.Tensor:
    """The file's `latent_avg` (`[n_w, 512]`, `[512]` or `[1, 512]`) as `[n_w, 512]` float32."""
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{source}: latent_avg is a {type(value).__name__}, expected a tensor")
    value = value.detach().to("cpu", torch.float32)
    if value.shape == (STYLE_DIM,) or value.shape == (1, STYLE_DIM):
        return value.reshape(1, STYLE_DIM).repeat(n_w, 1)
    if value.shape == (n_w, STYLE_DIM):
        return value.clone()
    raise CheckpointError(
        f"{source}: latent_avg has shape {list(value.shape)}, expected [{n_w}, {STYLE_DIM}], [{STYLE_DIM}] "
        f"or [1, {STYLE_DIM}]"
    )


def load_e4e_or_psp(
    path: str | os.PathLike[str],
    kind: str | None = None,
    build_generator: bool = False,
) -> LoadedEncoderCheckpoint:
    """Open `e4e_ffhq_encode.pt` / `psp_ffhq_encode.pt` (weights only, nothing executed).

    The encoder type comes from `opts['encoder_type']` (or `kind`), the StyleGAN2 size from
    `opts['stylegan_size']` / `opts['output_size']` (default 1024). `latent_avg` is
    repeated to `[n_w, 512]`; it is zero when `opts['start_from_latent_avg']` is False (the
    reference then adds nothing). With `build_generator=True` the decoder is also built
    and loaded (`faceedit_gui.networks.stylegan2.Generator`).

    >>> ckpt = load_e4e_or_psp("e4e_ffhq_encode.pt")          # doctest: +SKIP
    >>> w_plus, features = ckpt.encoder(images)                # [B, 18, 512], {"16x16": ...}
    """
    path = Path(path)
    checkpoint = load_torch_checkpoint(path)
    source = str(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        got = sorted(map(str, checkpoint))[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{source}: not an e4e/pSp checkpoint (expected a dict with 'state_dict'; got {got})")
    opts = checkpoint.get("opts") or {}
    if isinstance(opts, argparse.Namespace):
        opts = vars(opts)
    if not isinstance(opts, dict):
        raise CheckpointError(f"{source}: 'opts' is a {type(opts).__name__}, expected a dict")
    config = encoder_config_from_opts(opts, source, kind)

    state = checkpoint["state_dict"]
    enc_state = {k: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
    dec_state = {k[len(DECODER_PREFIX) :]: v for k, v in state.items() if k.startswith(DECODER_PREFIX)}
    other = [k for k in state if not k.startswith((ENCODER_PREFIX, DECODER_PREFIX))]
    if other:
        raise CheckpointError(
            f"{source}: state_dict has {len(other)} key(s) outside 'encoder.' and 'decoder.': {_short(other)}"
        )

    raw_avg = checkpoint.get("latent_avg")
    use_avg = bool(opts.get("start_from_latent_avg", raw_avg is not None))
    if use_avg and raw_avg is None:
        raise CheckpointError(f"{source}: opts.start_from_latent_avg is set but the file holds no 'latent_avg'")
    latent_avg = (
        latent_avg_for(raw_avg, config.n_w, source) if use_avg else torch.zeros(config.n_w, STYLE_DIM)
    )

    with torch.device("meta"):
        encoder = OfficialEncoder(config)
    table = key_table(encoder, ENCODER_PREFIX, ENCODER_PREFIX)
    load_by_key_table(encoder, table, enc_state, f"{source} [state_dict/encoder]", extra={"latent_avg": latent_avg})
    _freeze(encoder)

    generator = _build_generator(dec_state, config.output_size, source) if build_generator else None
    return LoadedEncoderCheckpoint(
        encoder=encoder,
        decoder_state_dict=dec_state,
        decoder_size=config.output_size,
        opts=dict(opts),
        source=source,
        generator=generator,
    )


def _build_generator(dec_state: dict[str, torch.Tensor], size: int, source: str) -> nn.Module:
    """The decoder as the reference builds it: `Generator(size, 512, 8, channel_multiplier=2)`."""
    from faceedit_gui.networks.stylegan2 import Generator

    if not dec_state:
        raise CheckpointError(f"{source}: no 'decoder.' keys, so there is no generator to build")
    generator = Generator(size, STYLE_DIM, 8, channel_multiplier=2)
    load_state_dict_checked(generator, dec_state, f"{source} [state_dict/decoder]")
    return _freeze(generator)


# --------------------------------------------------------------------------- ArcFace


def arcface_config_from_state_dict(state: Mapping[str, Any], source: str) -> ArcFaceConfig:
    """Read depth, mode, input size and affine off an IR(-SE) Backbone state dict.

    The official `model_ir_se50.pth` gives the defaults (112, 50, 'ir_se', affine).
    """
    units = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    num_layers = next((n for n, u in STAGE_UNITS.items() if sum(u) == len(units)), 50)
    mode = "ir_se" if any(".res_layer.5.fc1." in k for k in state) or not units else "ir"
    linear = state.get("output_layer.3.weight")
    input_size = 112
    if isinstance(linear, torch.Tensor) and linear.ndim == 2 and linear.shape[1] == 512 * 14 * 14:
        input_size = 224
    affine = "output_layer.4.weight" in state or "output_layer.4.bias" in state
    try:
        return ArcFaceConfig(input_size=input_size, num_layers=num_layers, mode=mode, affine=affine)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from None


def load_arcface(path: str | os.PathLike[str]) -> Backbone:
    """Open `model_ir_se50.pth` (a bare Backbone state dict) as a frozen, eval-mode `Backbone`.

    Convention: the returned network takes `[B, 3, 112, 112]` in [-1, 1]; feed it
    `arcface.arcface_preprocess(image)` for the official identity-loss crop.
    """
    path = Path(path)
    state = load_torch_checkpoint(path)
    source = str(path)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{source}: expected a bare ArcFace state dict (a dict of tensors)")
    config = arcface_config_from_state_dict(state, source)
    with torch.device("meta"):
        backbone = Backbone.from_config(config)
    load_by_key_table(backbone, key_table(backbone), state, source)
    return _freeze(backbone)
