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
# shellcheck source=gpu_chunk_lib.sh
. scripts/gpu_chunk_lib.sh
gpu_env
MINUTES=${MINUTES:-8}
DATA=${DATA:-.data/gen_chunk}
CKPT=models/training/generator
CACHE=runs/generator_cache
mkdir -p "$OUT/generator"

gpu_resume_dirs "$CKPT" "$CACHE"
ARGS=(train generator --data "$DATA" --out "$OUT/generator" --minutes "$MINUTES" --device "${DEVICE:-cuda}")
[ ${#RESUME[@]} -gt 0 ] && ARGS+=(--resume "${RESUME[@]}")
gpu_nproc

{
    gpu_header "$DATA"
    if [ "${GPU_TEST:-0}" = 1 ]; then
        "$PY" -m pytest -q -m gpu -p no:cacheprovider --noconftest tests/training/test_train_generator_gpu.py || exit 3
    fi
    echo "resume from: ${RESUME[*]:-(nothing: a fresh start)}"
    gpu_launch "${ARGS[@]}"
} 2>&1 | tee "$OUT/train_stdout.txt"
rc=${PIPESTATUS[0]}

gpu_keep_cache "$OUT/generator" "$CACHE"  # a next call while this machine is warm resumes from it
ls -la "$OUT" "$OUT/generator"
exit "$rc"
