"""How each mode of `slider_gpu.py` runs one slider update (the benchmark's machinery).

A `Mode` is a precision / memory-format / execution choice; `State` holds one mode's
copy of the networks, its per-photo cache (inversion, `Q_i`, content inputs) and its
update function (eager `fused_edit`, a replayed CUDA graph, or `torch.compile`);
`hand_off` is what `EditSession.render` does with the result; `compare` measures a
mode's output against the strict fp32 reference. No Qt, no files: the GPU machine's own
python3 runs it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from faceedit_gui.conventions import tensor_to_uint8, uint8_to_tensor
from faceedit_gui.engine.runtime import INFERENCE_FUSED, set_modconv_fused
from faceedit_gui.networks.editor import Editor, EditorConfig
from faceedit_gui.networks.encoders import OfficialEncoder, OfficialEncoderConfig
from faceedit_gui.networks.fusion import content_inputs, fused_edit, reconstruction_features
from faceedit_gui.networks.stylegan2 import Generator, official_channels

ATTRIBUTES = ("age", "smile", "glasses", "gender", "beard")
CHECK_SLIDERS = (0.8, -0.5, 0.3, 0.0, 1.2)  # the fixed request every mode is compared on
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass(frozen=True)
class Mode:
    """One way to run the update: precision, memory format, grad context, graph or compile."""

    name: str
    dtype: str = "fp32"  # compute type: fp32, bf16, fp16
    half: bool = False  # weights and caches stored in `dtype` (else autocast from fp32 weights)
    channels_last: bool = False  # weights and feature maps channels-last
    inference: bool = True  # torch.inference_mode (else torch.no_grad)
    graph: bool = False  # CUDA graph of each pass length, replayed
    compile: str | None = None  # torch.compile mode

    @property
    def preview(self) -> bool:
        return self.compile is None  # compiling a second pass length would double the compile time


MODES = {m.name: m for m in [
    Mode("fp32", inference=False),
    Mode("fp32-inference"),
    Mode("bf16", "bf16"),
    Mode("fp16", "fp16"),
    Mode("bf16-half", "bf16", half=True),
    Mode("fp16-half", "fp16", half=True),
    Mode("bf16-cl", "bf16", channels_last=True),
    Mode("fp16-half-cl", "fp16", half=True, channels_last=True),
    Mode("bf16-graph", "bf16", graph=True),
    Mode("fp16-half-graph", "fp16", half=True, graph=True),
    Mode("fp16-half-compile", "fp16", half=True, compile="default"),
    Mode("fp16-half-compile-ro", "fp16", half=True, compile="reduce-overhead"),
    Mode("fp16-half-compile-mat", "fp16", half=True, compile="max-autotune-no-cudagraphs"),
]}
DEFAULT_MODES = {
    "cuda": "fp32,fp32-inference,bf16,fp16,bf16-half,fp16-half,bf16-cl,fp16-half-cl,bf16-graph,fp16-half-graph,"
            "fp16-half-compile-ro",
    "cpu": "fp32,fp32-inference,bf16",
}


@dataclasses.dataclass
class Nets:
    generator: Generator
    editor: Editor
    encoder: OfficialEncoder
    image: torch.Tensor  # [1, 3, R, R] the "photo": a generator sample, quantised to uint8 and back
    inversions: dict = dataclasses.field(default_factory=dict)  # compute dtype -> (w_p, features, ms)


def build_nets(
    device: torch.device,
    size: int = 1024,  # generator resolution
    channel_multiplier: int = 2,  # of the official channel table
    channel_divisor: int = 1,  # every generator width divided by this (smoke runs), at least 8
    encoder_input: int = 256,  # e4e input size
    seed: int = 0,
) -> Nets:
    """The official configuration (or a scaled-down one for smoke runs) with random weights."""
    torch.manual_seed(seed)
    channels = {r: max(8, c // channel_divisor) for r, c in official_channels(size, channel_multiplier).items()}
    g = Generator(size=size, style_dim=512, n_mlp=8, channels=channels).eval().to(device)
    enc = OfficialEncoder(OfficialEncoderConfig(kind="e4e", output_size=size, input_size=encoder_input))
    enc = enc.eval().to(device)
    with torch.no_grad():
        sample = g.synthesis(g.broadcast(g.mapping(torch.randn(1, 512, device=device))))
        image = uint8_to_tensor(tensor_to_uint8(sample[0]), device)  # like a photo: 8 bits a channel
        _, feats = enc(image)
    enc_channels = {int(name.split("x")[0]): f.shape[1] for name, f in feats.items()}
    cfg = EditorConfig(n_attributes=len(ATTRIBUTES), n_w=g.n_latent, style_dim=512, generator_channels=dict(channels),
                       encoder_channels=enc_channels, direction_init=0.5)
    editor = Editor(cfg).eval().to(device)
    set_modconv_fused(g, INFERENCE_FUSED)  # the engine's path
    return Nets(g, editor, enc, image)


def channels_last(module: nn.Module) -> None:
    """4-D parameters and buffers channels-last in place (`Module.to(memory_format=...)` also
    tries the 5-D modulated-conv weights, which have no such format)."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.dim() == 4:
            t.data = t.data.contiguous(memory_format=torch.channels_last)


class State:
    """One mode's networks, per-photo cache and update function."""

    def __init__(self, mode: Mode, nets: Nets, device: torch.device, preview_levels: int, share: bool = True):
        self.mode, self.device = mode, device
        self.dtype = DTYPES[mode.dtype]
        g, ed = nets.generator, nets.editor
        if mode.half or mode.channels_last:
            g, ed = copy.deepcopy(g), copy.deepcopy(ed)
            if mode.half:
                g, ed = g.to(self.dtype), ed.to(self.dtype)
            if mode.channels_last:
                channels_last(g), channels_last(ed)
        self.generator, self.editor, self.encoder = g, ed, nets.encoder
        self.inversions = nets.inversions if share else {}
        self.levels = {"full": g.num_levels, "preview": preview_levels}
        self.photo_ms: dict[str, float] = {}
        self.cold_photo_ms = 0.0
        with self.ctx():
            t0 = time.perf_counter()
            self.cache = self.per_photo(nets.image)
            self.cold_photo_ms = (time.perf_counter() - t0) * 1e3
            self.cache = self.per_photo(nets.image, timed=True)  # warm: the figure reported
        self.compiled: Callable | None = None
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, tuple, torch.Tensor]] = {}

    def ctx(self) -> contextlib.AbstractContextManager:
        return torch.inference_mode() if self.mode.inference else torch.no_grad()

    def autocast(self) -> contextlib.AbstractContextManager:
        enabled = self.mode.dtype != "fp32" and not self.mode.half
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=enabled, cache_enabled=not self.mode.graph)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def per_photo(self, image: torch.Tensor, timed: bool = False) -> dict:
        """Inversion (fp32 weights, autocast in low-precision modes), Q_i, content inputs."""
        store = self.dtype if self.mode.half else torch.float32
        fmt = torch.channels_last if self.mode.channels_last else torch.contiguous_format
        t = [time.perf_counter()]
        if self.mode.dtype in self.inversions:  # one inversion per compute type, shared by its modes
            w_p, feats, encode_ms = self.inversions[self.mode.dtype]
        else:
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.mode.dtype != "fp32"):
                w_p, feats = self.encoder(image)
            self._sync()
            encode_ms = (time.perf_counter() - t[0]) * 1e3
            if timed:
                self.inversions[self.mode.dtype] = w_p, feats, encode_ms
        w_p = w_p.to(store)
        feats = {k: v.to(store, memory_format=fmt) for k, v in feats.items()}
        image = image.to(store, memory_format=fmt)
        t.append(time.perf_counter())
        with self.autocast():
            q = reconstruction_features(self.generator, w_p)
            self._sync()
            t.append(time.perf_counter())
            content = content_inputs(self.editor, feats, image)
        self._sync()
        t.append(time.perf_counter())
        if timed:
            self.photo_ms = {"encode": encode_ms, "reconstruct": (t[2] - t[1]) * 1e3, "content": (t[3] - t[2]) * 1e3}
        return {"w_p": w_p, "enc_features": feats, "image": image, "q_features": q, "content": content}

    def eager(self, s: torch.Tensor, levels: int, cache: dict | None = None) -> tuple:
        c = cache or self.cache
        with self.autocast():
            out = fused_edit(self.generator, self.editor, c["w_p"], c["enc_features"], c["image"], s,
                             q_features=c["q_features"], levels=levels, content=c["content"])
        return out.x_refine, out.x_edit, tuple(out.masks.values())

    def capture(self) -> None:
        """Compile or capture (first calls, not timed)."""
        s = torch.tensor([CHECK_SLIDERS], device=self.device)
        if self.mode.compile:
            self.compiled = torch.compile(self.eager, mode=self.mode.compile, dynamic=False)
        if self.mode.graph:
            if self.device.type != "cuda":
                raise RuntimeError("CUDA graphs need a CUDA device")
            for levels in set(self.levels.values()):
                static = s.clone()
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        self.eager(static, levels)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    outs = self.eager(static, levels)
                self.graphs[levels] = (graph, outs, static)

    def update(self, s: torch.Tensor, levels: int) -> tuple:
        if self.graphs:
            graph, outs, static = self.graphs[levels]
            static.copy_(s)
            graph.replay()
            return outs
        if self.compiled is not None:
            if self.mode.compile == "reduce-overhead":
                torch.compiler.cudagraph_mark_step_begin()
            return self.compiled(s, levels)
        return self.eager(s, levels)


def full_size(image: torch.Tensor, size: int) -> torch.Tensor:
    """The engine's preview upsampling (`engine.session._full_size`)."""
    if image.shape[-1] == size:
        return image
    return torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)


def hand_off(outs: tuple, size: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """What `EditSession.render` hands out: uint8 HWC images and float32 masks, on the host."""
    x_refine, x_edit, masks = outs
    refined = tensor_to_uint8(full_size(x_refine, size)[0])
    style = tensor_to_uint8(full_size(x_edit, size)[0])
    return refined, style, [m[0, 0].float().cpu().numpy() for m in masks]


class Drag:
    """A new slider vector every call, like a drag (built on the host, as the engine does)."""

    def __init__(self, device: torch.device, batch: int = 1):
        self.device, self.batch, self.tick = device, batch, 0

    def __call__(self) -> torch.Tensor:
        self.tick += 1
        rows = [[-1.0 + ((self.tick + 7 * b) % 40) / 20.0, 0.3, 0.0, -0.2, 0.1] for b in range(self.batch)]
        return torch.tensor(rows, dtype=torch.float32).to(self.device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_update(state: State, drag: Drag, kind: str, size: int) -> tuple[float, float | None]:
    """(wall ms incl. the host hand-off, GPU ms of the passes alone or None on the CPU)."""
    cuda = state.device.type == "cuda"
    sync(state.device)
    t0 = time.perf_counter()
    with state.ctx():
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        outs = state.update(drag(), state.levels[kind])
        if cuda:
            end.record()
        hand_off(outs, size)
    sync(state.device)
    wall = (time.perf_counter() - t0) * 1e3
    return wall, (start.elapsed_time(end) if cuda else None)


def compare(outs: tuple, ref: tuple) -> dict[str, float]:
    """Differences to the strict fp32 reference, on the [-1, 1] scale and in uint8 levels."""
    x, e, masks = outs
    rx, re_, rmasks = ref
    d = (x.float() - rx).abs()
    u = np.abs(tensor_to_uint8(x).astype(np.int16) - tensor_to_uint8(rx).astype(np.int16))
    m = max(float((a.float() - b).abs().max()) for a, b in zip(masks, rmasks))
    return {
        "x_refine_max_abs": float(d.max()),
        "x_refine_mean_abs": float(d.mean()),
        "x_refine_rel": float(d.max() / rx.abs().max().clamp(min=1e-12)),
        "x_refine_uint8_max": int(u.max()),
        "x_refine_uint8_mean": float(u.mean()),
        "x_edit_max_abs": float((e.float() - re_).abs().max()),
        "masks_max_abs": m,
        "finite": bool(torch.isfinite(x).all() and torch.isfinite(e).all()),
    }
