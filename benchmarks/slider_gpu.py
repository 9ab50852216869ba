"""Per-slider update speed of the official 1024 px configuration on a GPU (issue 8, item 1).

Random weights, the real shapes: StyleGAN2 FFHQ config-f (1024 px, style_dim 512, n_mlp 8,
channel multiplier 2, n_w 18), the official-size e4e encoder (IR-SE50, 256 px input) and an
`Editor` for them (5 attributes). Per photo (cached, timed once warm): inversion, the
reconstruction features `Q_i`, the content inputs. Per update, what the editor does on the
release of a slider: the style pass + `A` + `H` + the fused pass giving `x_refine` at full
size and every `m_i`, handed out as the engine does (uint8 images and float32 masks on the
host); and the drag preview (`--preview-drop` levels early, upsampled to full size).

Modes (`--modes`, timed side by side, interleaved, in one run; each guarded: a mode that
fails is reported and the others still run):
  fp32             eager, torch.no_grad: the baseline of `speedup_vs_fp32`
  fp32-inference   eager, torch.inference_mode (the engine's context)
  bf16, fp16       autocast to that type, fp32 weights
  bf16-half, fp16-half   weights, W+ and caches in that type
  bf16-cl, fp16-half-cl  the same with channels-last weights and feature maps
  bf16-graph, fp16-half-graph   one CUDA graph per pass length, replayed per update
  fp16-half-compile, fp16-half-compile-ro, fp16-half-compile-mat
                   torch.compile mode default / "reduce-overhead" / "max-autotune-no-cudagraphs"
                   (full update only: no preview)
Every mode's x_refine, x_edit and masks for fixed sliders are compared with a strict fp32
reference (TF32 off); `accurate` = finite and x_refine within `--max-mean-diff` uint8 levels
on average. `updates_per_s` is the best accurate mode's full update (wall clock, host
hand-off included). Batch throughput (`--batch-sizes`, eager `--batch-modes`, fused and
unfused modulated convs) gives images/s for batch export. The LAST line is one JSON object.
How each mode runs is `slider_gpu_modes.py`; docs/PERFORMANCE.md §5 explains the output.

    bash scripts/gpu_bench.sh                       # on the GPU machine (device tool, one call)
    python3 benchmarks/slider_gpu.py --deadline-s 420 --out $OUT/slider_gpu.json   # the same, bare
    .venv/bin/python benchmarks/slider_gpu.py --device cpu --size 32 --channel-divisor 16 \\
        --encoder-input 32 --iters 2 --modes fp32,bf16,bf16-half --batch-sizes 1,2   # CPU smoke run
    .venv/bin/python benchmarks/slider_gpu.py --device cpu --modes fp32-inference --iters 1 \\
        --warmup 0 --batch-sizes ""                 # the 1024 configuration once on the CPU (~3 min)
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from faceedit_gui.conventions import tensor_to_uint8  # noqa: E402
from faceedit_gui.engine.runtime import INFERENCE_FUSED, configure_cpu, cpu_name, set_modconv_fused  # noqa: E402
from faceedit_gui.networks.cost import count_macs  # noqa: E402
from faceedit_gui.networks.fusion import content_inputs, reconstruction_features  # noqa: E402
from slider_gpu_modes import (  # noqa: E402
    ATTRIBUTES, CHECK_SLIDERS, DEFAULT_MODES, MODES, Drag, Nets, State, build_nets, compare, hand_off, sync,
    timed_update,
)

TARGET_UPDATES_PER_S = 60.0


class Deadline(Exception):
    """`--deadline-s` passed: finish with what was measured."""


# ----------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    p.add_argument("--size", type=int, default=1024, help="generator resolution (1024: the official FFHQ one)")
    p.add_argument("--channel-multiplier", type=int, default=2, help="official channel table multiplier")
    p.add_argument("--channel-divisor", type=int, default=1, help="divide every generator width (smoke runs)")
    p.add_argument("--encoder-input", type=int, default=256, help="e4e input size (official: 256)")
    p.add_argument("--modes", default=None, help=f"comma list of {list(MODES)}; default: {DEFAULT_MODES}")
    p.add_argument("--iters", type=int, default=None, help="timed rounds, median reported (default 60 GPU, 5 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed updates per mode first (default 5 GPU, 1 CPU)")
    p.add_argument("--preview-drop", type=int, default=1, help="levels the drag preview stops early")
    p.add_argument("--batch-sizes", default=None, help="comma list (default 1,8,32 on GPU, none on CPU)")
    p.add_argument("--batch-modes", default="fp32,bf16,fp16-half", help="eager modes for the batch throughput")
    p.add_argument("--batch-iters", type=int, default=10, help="timed batches per setting")
    p.add_argument("--max-mean-diff", type=float, default=2.0, help="accurate: mean |uint8 diff| of x_refine at most this")
    p.add_argument("--budget-s", type=float, default=240.0, help="graph/compile modes start only before this many seconds")
    p.add_argument("--deadline-s", type=int, default=0, help="stop measuring after this many seconds (0: never)")
    p.add_argument("--no-macs", action="store_true", help="skip the MAC count")
    p.add_argument("--no-cudnn-benchmark", action="store_true", help="leave torch.backends.cudnn.benchmark off")
    p.add_argument("--threads", type=int, default=None, help="CPU intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON record here (after every stage)")
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    args.modes = [m for m in (args.modes or DEFAULT_MODES["cuda" if cuda else "cpu"]).split(",") if m]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        p.error(f"unknown mode(s) {unknown}; known: {list(MODES)}")
    args.iters = args.iters or (60 if cuda else 5)
    args.warmup = (5 if cuda else 1) if args.warmup is None else args.warmup
    sizes = args.batch_sizes if args.batch_sizes is not None else ("1,8,32" if cuda else "")
    args.batch_sizes = [int(b) for b in sizes.split(",") if b]
    args.batch_modes = [m for m in args.batch_modes.split(",") if m]
    return args


def machine(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {"device": device.type, "torch": torch.__version__, "python": platform.python_version()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu_name=props.name, gpu_mem_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    cudnn_tf32=torch.backends.cudnn.allow_tf32, matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    else:
        info.update(gpu_name=None, cpu=cpu_name(), threads=torch.get_num_threads())
    return info


def update_work(nets: Nets, cache: dict, s: torch.Tensor) -> None:
    """The layers one update runs, at batch 1 (`fused_edit` may batch its two passes,
    which `count_macs` does not count): style pass, fused pass, every `H_i` and `A_i`."""
    g, ed = nets.generator, nets.editor
    w_edit = cache["w_p"] + ed.style_offset(s)
    code = ed.content_code(s)
    style = g.synthesis(w_edit, return_features=True)
    g.synthesis(w_edit)  # the fused pass runs the same convolutions
    for i, name in enumerate(g.level_names):
        ed.relevance[i](cache["q_features"][name], style.features[name])
        ed.extractors[i].modulate(cache["content"][i], code[:, i])


def strict_reference(nets: Nets, device: torch.device, preview_levels: int, macs: bool) -> tuple[tuple, dict]:
    """fp32 outputs with TF32 off for CHECK_SLIDERS, and the MAC counts (batch 1)."""
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        state = State(MODES["fp32-inference"], nets, device, preview_levels, share=False)
        with state.ctx():
            ref = tuple(t.clone() if isinstance(t, torch.Tensor) else tuple(m.clone() for m in t)
                        for t in state.eager(torch.tensor([CHECK_SLIDERS], device=device), state.levels["full"]))
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    cost: dict = {}
    if macs:
        both = nn.ModuleDict({"generator": nets.generator, "editor": nets.editor})
        s = torch.tensor([CHECK_SLIDERS], device=device)
        c = state.cache
        upd = count_macs(both, lambda: update_work(nets, c, s))
        photo = count_macs(both, lambda: (reconstruction_features(nets.generator, c["w_p"]),
                                          content_inputs(nets.editor, c["enc_features"], c["image"])))
        enc = count_macs(nets.encoder, lambda: nets.encoder(nets.image)).dense_macs
        cost = {"update_gmac": round(upd.dense_macs / 1e9, 3), "update_gmac_all": round(upd.total_macs / 1e9, 3),
                "photo_gmac": round((photo.dense_macs + enc) / 1e9, 3), "encoder_gmac": round(enc / 1e9, 3),
                "params_m": round((upd.params + sum(p.numel() for p in nets.encoder.parameters())) / 1e6, 2)}
    del state
    return ref, cost


def batched(x, b: int):
    """Every tensor in a nest of dicts and lists repeated to batch `b` (its own memory)."""
    if isinstance(x, dict):
        return {k: batched(v, b) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [batched(v, b) for v in x]
    return x.expand(b, *x.shape[1:]).contiguous()


def batch_throughput(states: dict[str, State], args: argparse.Namespace, device: torch.device, rows: list[dict]) -> None:
    """Appends one row per (mode, modconv path, batch size) to `rows` as it goes."""
    for name in args.batch_modes:
        state = states.get(name)
        if state is None or state.mode.graph or state.mode.compile:
            rows.append({"mode": name, "error": "not set up as an eager mode"})
            continue
        for fused in (True, False):
            set_modconv_fused(state.generator, fused)
            for b in args.batch_sizes:
                row: dict = {"mode": name, "path": "fused" if fused else "unfused", "batch": b}
                try:
                    with state.ctx():
                        cache = batched(state.cache, b)  # b photos' caches (one photo's, repeated)
                        drag, times = Drag(device, b), []
                        for i in range(2 + args.batch_iters):
                            sync(device)
                            t0 = time.perf_counter()
                            x_refine = state.eager(drag(), state.levels["full"], cache)[0]
                            tensor_to_uint8(x_refine)  # the crops batch export saves
                            sync(device)
                            if i >= 2:
                                times.append((time.perf_counter() - t0) * 1e3)
                    ms = statistics.median(times)
                    row.update(ms=round(ms, 2), images_per_s=round(b * 1e3 / ms, 1))
                except Deadline:
                    raise
                except Exception as exc:  # OOM and the like: report, go on with the next setting
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                finally:
                    cache = None
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                rows.append(row)
        set_modconv_fused(state.generator, INFERENCE_FUSED)


def summarise(record: dict, results: dict[str, dict]) -> None:
    base = results.get("fp32", {}).get("full_ms")
    ok = {n: r for n, r in results.items() if r.get("full_ms")}
    good = {n: r for n, r in ok.items() if r.get("accurate")} or ok
    record["modes"] = results
    record["speedup_vs_fp32"] = {n: round(base / r["full_ms"], 3) for n, r in ok.items()} if base else {}
    if good:
        best = min(good, key=lambda n: good[n]["full_ms"])
        r = good[best]
        record.update(mode=best, full_ms=r["full_ms"], gpu_ms=r.get("gpu_ms"), updates_per_s=r["updates_per_s"],
                      preview_fps=r.get("preview_fps"), best_accurate=bool(r.get("accurate")))
        if record.get("update_gmac"):
            record["best_tflops"] = round(2 * record["update_gmac"] / r["full_ms"], 2)
    else:
        record.update(mode=None, full_ms=None, updates_per_s=0.0)
    record["target_updates_per_s"] = TARGET_UPDATES_PER_S
    record["meets_target"] = bool(record["updates_per_s"] >= TARGET_UPDATES_PER_S)


def emit(record: dict, out: Path | None) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")


def print_table(record: dict) -> None:
    print(f"{'mode':22s} {'full ms':>8s} {'upd/s':>7s} {'gpu ms':>7s} {'prev ms':>8s} {'prev/s':>7s} "
          f"{'photo ms':>9s} {'upd MiB':>8s} {'dx max':>8s} {'dx u8':>9s} {'vs fp32':>7s}")
    for name, r in record["modes"].items():
        if "error" in r:
            print(f"{name:22s} FAILED: {r['error']}")
            continue
        d = r.get("diff", {})
        photo = sum(r.get("photo_ms", {}).values())
        fmt = lambda v, spec: format(v, spec) if isinstance(v, (int, float)) else "-".rjust(int(spec.split(".")[0]))  # noqa: E731
        print(f"{name:22s} {fmt(r.get('full_ms'), '8.2f')} {fmt(r.get('updates_per_s'), '7.1f')} "
              f"{fmt(r.get('gpu_ms'), '7.2f')} {fmt(r.get('preview_ms'), '8.2f')} {fmt(r.get('preview_fps'), '7.1f')} "
              f"{photo:9.1f} {fmt(r.get('peak_update_mib'), '8.0f')} {fmt(d.get('x_refine_max_abs'), '8.4f')} "
              f"{d.get('x_refine_uint8_max', '-')!s:>4s}/{fmt(d.get('x_refine_uint8_mean'), '4.2f')} "
              f"{fmt(record['speedup_vs_fp32'].get(name), '6.2f')}x{'' if r.get('accurate') else '  (inaccurate)'}"
              .replace("-x", "- "))
    for row in record.get("batch", []):
        if "error" in row:
            print(f"batch {row.get('mode')} {row.get('path', '')} {row.get('batch', '')}: {row['error']}")
        else:
            print(f"batch {row['mode']:10s} {row['path']:8s} B={row['batch']:3d}: {row['ms']:9.2f} ms  {row['images_per_s']:8.1f} images/s")


def time_modes(states: dict[str, State], results: dict[str, dict], args: argparse.Namespace, device: torch.device,
               rounds: int) -> None:
    """Interleaved rounds, every mode once per round (full update, then preview); medians into `results`."""
    times = {n: {"full": [], "gpu": [], "preview": []} for n in states}
    drags = {n: Drag(device) for n in states}
    try:
        for _ in range(rounds):
            for name, state in list(states.items()):
                try:
                    wall, gpu = timed_update(state, drags[name], "full", args.size)
                    times[name]["full"].append(wall)
                    if gpu is not None:
                        times[name]["gpu"].append(gpu)
                    if state.mode.preview:
                        times[name]["preview"].append(timed_update(state, drags[name], "preview", args.size)[0])
                except Deadline:
                    raise
                except Exception as exc:
                    results[name] = {"error": f"while timing: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
                    del states[name]
    except Deadline:
        print(f"deadline reached after {min((len(t['full']) for t in times.values()), default=0)} rounds", flush=True)
    for name, t in times.items():
        if name in states and t["full"]:
            full = statistics.median(t["full"])
            r = results[name]
            r.update(full_ms=round(full, 3), updates_per_s=round(1e3 / full, 2), samples=len(t["full"]))
            if t["gpu"]:
                r["gpu_ms"] = round(statistics.median(t["gpu"]), 3)
            if t["preview"]:
                prev = statistics.median(t["preview"])
                r.update(preview_ms=round(prev, 3), preview_fps=round(1e3 / prev, 2))


class Run:
    """Sets modes up one by one, each guarded: a failure is reported and the rest go on."""

    def __init__(self, args: argparse.Namespace, device: torch.device, nets: Nets, ref: tuple, preview_levels: int,
                 started: float):
        self.args, self.device, self.nets, self.ref = args, device, nets, ref
        self.preview_levels, self.started = preview_levels, started
        self.peak = 0  # GPU bytes: the largest allocation peak seen
        self.late = False  # the deadline passed: skip the rest, a few timing rounds, no batch throughput

    def set_up(self, names: list[str], results: dict[str, dict], states: dict[str, State]) -> None:
        args, device = self.args, self.device
        cuda = device.type == "cuda"
        for name in names:
            mode = MODES[name]
            elapsed = time.perf_counter() - self.started
            if self.late:
                results[name] = {"error": "skipped: deadline reached"}
                continue
            if (mode.graph or mode.compile) and elapsed > args.budget_s:
                results[name] = {"error": f"skipped: {elapsed:.0f} s elapsed > --budget-s {args.budget_s:.0f}"}
                continue
            t0 = time.perf_counter()
            try:
                sync(device)
                before = torch.cuda.memory_allocated() if cuda else 0
                state = State(mode, self.nets, device, self.preview_levels)
                with state.ctx():
                    state.capture()
                    diff = compare(state.update(torch.tensor([CHECK_SLIDERS], device=device), state.levels["full"]), self.ref)
                    drag = Drag(device)
                    for _ in range(args.warmup):
                        for kind in ("full", "preview") if mode.preview else ("full",):
                            hand_off(state.update(drag(), state.levels[kind]), args.size)
                r: dict = {"photo_ms": {k: round(v, 2) for k, v in state.photo_ms.items()},
                           "photo_cold_ms": round(state.cold_photo_ms, 1), "diff": diff,
                           "accurate": diff["finite"] and diff["x_refine_uint8_mean"] <= args.max_mean_diff,
                           "setup_s": round(time.perf_counter() - t0, 1)}
                if cuda:
                    sync(device)
                    r["state_mib"] = round((torch.cuda.memory_allocated() - before) / 2**20, 1)
                    self.peak = max(self.peak, torch.cuda.max_memory_allocated())
                    torch.cuda.reset_peak_memory_stats()
                    base = torch.cuda.memory_allocated()
                    timed_update(state, drag, "full", args.size)
                    r["peak_update_mib"] = round((torch.cuda.max_memory_allocated() - base) / 2**20, 1)
                results[name], states[name] = r, state
                print(f"  set up {name} in {r['setup_s']} s", flush=True)
            except Deadline:
                results[name] = {"error": f"deadline reached during set-up ({args.deadline_s} s)"}
                self.late = True
            except Exception as exc:
                results[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
                print(f"  {name} FAILED: {results[name]['error']}", flush=True)
                if cuda:
                    torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cpu":
        configure_cpu(args.threads)
    else:
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    if args.deadline_s > 0:
        def on_alarm(signum, frame):
            raise Deadline(f"deadline of {args.deadline_s} s")
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(args.deadline_s)

    record: dict = machine(device)
    nets = build_nets(device, args.size, args.channel_multiplier, args.channel_divisor, args.encoder_input, args.seed)
    g = nets.generator
    preview_levels = max(1, g.num_levels - args.preview_drop)
    record["config"] = {"size": args.size, "n_w": g.n_latent, "style_dim": g.style_dim, "levels": g.num_levels,
                        "channels": {str(k): v for k, v in g.channels.items()}, "attributes": list(ATTRIBUTES),
                        "encoder": f"e4e IR-SE50, {args.encoder_input} px input",
                        "encoder_channels": {str(k): v for k, v in nets.editor.config.encoder_channels.items()},
                        "preview_px": 2 ** (preview_levels + 1), "iters": args.iters, "warmup": args.warmup,
                        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    print(f"machine: {record.get('gpu_name') or record.get('cpu')}, torch {torch.__version__}; "
          f"{args.size} px, n_w {g.n_latent}, channels {g.channels}; random weights")
    ref, cost = strict_reference(nets, device, preview_levels, macs=not args.no_macs)
    record.update(cost)
    if cost:
        print(f"MACs per update (conv+linear): {cost['update_gmac']} G; per photo {cost['photo_gmac']} G "
              f"(encoder {cost['encoder_gmac']} G); {cost['params_m']} M parameters")
    record["partial"] = True

    results: dict[str, dict] = {}
    states: dict[str, State] = {}
    record["modes"] = results
    run = Run(args, device, nets, ref, preview_levels, started)
    run.set_up([n for n in args.modes if not MODES[n].compile], results, states)
    emit(record, args.out)
    record["batch"] = []
    if run.late and args.batch_sizes:
        record["batch"] = [{"error": "skipped: deadline reached"}]
    elif args.batch_sizes:  # before the compile modes: cheaper and more certain to finish
        try:
            batch_throughput(states, args, device, record["batch"])
        except Deadline:
            run.late = True
            record["batch"].append({"error": "deadline reached during the batch throughput"})
    run.set_up([n for n in args.modes if MODES[n].compile], results, states)

    emit(record, args.out)
    time_modes(states, results, args, device, rounds=min(args.iters, 10) if run.late else args.iters)
    signal.alarm(0)
    summarise(record, results)
    if device.type == "cuda":
        record["peak_gpu_mib"] = round(max(run.peak, torch.cuda.max_memory_allocated()) / 2**20, 1)
    record["partial"] = False
    record["elapsed_s"] = round(time.perf_counter() - started, 1)
    emit(record, args.out)
    print_table(record)
    print(f"best: {record['mode']} {record['full_ms']} ms = {record['updates_per_s']} updates/s "
          f"(target {TARGET_UPDATES_PER_S:.0f}: {'met' if record['meets_target'] else 'NOT met'}); "
          f"elapsed {record['elapsed_s']} s")
    print(json.dumps(record, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
