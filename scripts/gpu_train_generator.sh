#!/usr/bin/env bash
# One chunk of generator training, run ON THE LENT GPU MACHINE by the device tool.
# Everything is explained in docs/TRAINING.md. The session's call, from the repo root:
#
#   run(command="bash scripts/gpu_train_generator.sh", carry=[".data/gen_chunk"], timeout_s=600)
#
# It trains from the committed checkpoint models/training/generator/ (or, on a machine
# still warm from an earlier call, from the more advanced copy it left in
# runs/generator_cache/) on the carried data window for MINUTES of wall clock, and leaves
# in $OUT (7 files, each <= 16 MiB):
#   generator/{G,G_ema,D}.safetensors  generator/state.json  generator/log.jsonl
#   generator/grid.png                 train_stdout.txt
# Periodic saves (every 2 minutes) land in $OUT/generator too, so even a run killed at its
# limit returns a usable checkpoint.
#
# Environment (all optional):
#   MINUTES=8          training wall clock, setup and save included (the call's limit is 10)
#   DATA=.data/gen_chunk   the carried data window (python -m faceedit_gui.training.chunks stage)
#   NPROC=<#GPUs>      processes (torchrun when > 1)
#   FRESH=1            ignore every checkpoint: start from scratch
#   GPU_TEST=1         first run the CUDA smoke tests (~30 s)
#   EXTRA="..."        more arguments for `train generator` (e.g. "--config cfg.json")
#   PYTHON=python3     the interpreter (the GPU machine's python3 holds torch)
#   DEVICE=cuda        (cpu for a local smoke run: DEVICE=cpu EXTRA="--tiny --steps 3")
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
export PYTHONUNBUFFERED=1 PYTHONPATH=.
PY=${PYTHON:-python3}
MINUTES=${MINUTES:-8}
DATA=${DATA:-.data/gen_chunk}
CKPT=models/training/generator
CACHE=runs/generator_cache
mkdir -p "$OUT/generator"

RESUME=()
if [ "${FRESH:-0}" != 1 ]; then
    [ -f "$CKPT/state.json" ] && RESUME+=("$CKPT")
    [ -f "$CACHE/state.json" ] && RESUME+=("$CACHE")
fi
ARGS=(train generator --data "$DATA" --out "$OUT/generator" --minutes "$MINUTES" --device "${DEVICE:-cuda}")
[ ${#RESUME[@]} -gt 0 ] && ARGS+=(--resume "${RESUME[@]}")
NPROC=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l)}
[ "$NPROC" -ge 1 ] 2>/dev/null || NPROC=1

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PY" -c "import torch, numpy, safetensors; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"
    ls -la "$DATA" || echo "NO DATA at $DATA: was it carried?"
    if [ "${GPU_TEST:-0}" = 1 ]; then
        "$PY" -m pytest -q -m gpu -p no:cacheprovider --noconftest tests/training/test_train_generator_gpu.py || exit 3
    fi
    echo "resume from: ${RESUME[*]:-(nothing: a fresh start)}"
    if [ "$NPROC" -gt 1 ]; then
        # shellcheck disable=SC2086
        "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m faceedit_gui.cli.main "${ARGS[@]}" ${EXTRA:-}
    else
        # shellcheck disable=SC2086
        "$PY" -m faceedit_gui.cli.main "${ARGS[@]}" ${EXTRA:-}
    fi
} 2>&1 | tee "$OUT/train_stdout.txt"
rc=${PIPESTATUS[0]}

# A copy on this machine: a next call while it is still warm resumes from it.
if [ -f "$OUT/generator/state.json" ]; then
    rm -rf "$CACHE" && mkdir -p runs && cp -r "$OUT/generator" "$CACHE"
fi
rm -f "$OUT"/generator/*.tmp
ls -la "$OUT" "$OUT/generator"
exit "$rc"
