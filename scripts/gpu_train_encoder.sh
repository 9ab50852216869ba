#!/usr/bin/env bash
# One chunk of encoder training, run ON THE LENT GPU MACHINE by the device tool.
# Explained in docs/ENCODER.md. The session's call, from the repo root:
#
#   run(command="bash scripts/gpu_train_encoder.sh", carry=[".data/gen_chunk"], timeout_s=600)
#
# The generator is FROZEN: the committed generator checkpoint models/training/generator/
# (or GENERATOR=...). The encoder continues from the committed models/training/encoder/
# (or, on a machine still warm from an earlier call, from runs/encoder_cache/) for
# MINUTES of wall clock, and leaves in $OUT (5 files, each <= 16 MiB):
#   encoder/E.safetensors  encoder/state.json  encoder/log.jsonl  encoder/grid.png  train_stdout.txt
# Periodic saves (every 2 minutes) land in $OUT/encoder too.
#
# Environment (all optional):
#   MINUTES=8            training wall clock, setup and save included (the call's limit is 10)
#   DATA=.data/gen_chunk the carried data window (train split only is read)
#   GENERATOR=models/training/generator   generator checkpoint folder or bundle
#   CLASSIFIER=...       attribute classifier for the perceptual substitute
#                        (default: models/training/classifier if its .safetensors exists)
#   IDENTITY=...         identity network (default: models/training/identity if present)
#   LPIPS_VGG=... LPIPS_LIN=...   official LPIPS files, when someone has them
#   NPROC=<#GPUs>        processes (torchrun when > 1)
#   FRESH=1              ignore encoder checkpoints: start from scratch
#   EXTRA="..."          more arguments for `train encoder` (e.g. "--config cfg.json")
#   PYTHON=python3       the interpreter
#   DEVICE=cuda          (cpu for a local smoke run: DEVICE=cpu EXTRA="--tiny --steps 2")
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
# shellcheck source=gpu_chunk_lib.sh
. scripts/gpu_chunk_lib.sh
gpu_env
MINUTES=${MINUTES:-8}
DATA=${DATA:-.data/gen_chunk}
GENERATOR=${GENERATOR:-models/training/generator}
CLASSIFIER=${CLASSIFIER:-models/training/classifier}
IDENTITY=${IDENTITY:-models/training/identity}
CKPT=models/training/encoder
CACHE=runs/encoder_cache
mkdir -p "$OUT/encoder"

gpu_resume_dirs "$CKPT" "$CACHE"
ARGS=(train encoder --data "$DATA" --generator "$GENERATOR" --out "$OUT/encoder" --minutes "$MINUTES" --device "${DEVICE:-cuda}")
[ ${#RESUME[@]} -gt 0 ] && ARGS+=(--resume "${RESUME[@]}")
if [ -f "$CLASSIFIER.safetensors" ] || [ -f "$CLASSIFIER/classifier.safetensors" ] || [ -f "$CLASSIFIER/model.json" ]; then
    ARGS+=(--classifier "$CLASSIFIER")
fi
if [ -f "$IDENTITY.safetensors" ] || [ -f "$IDENTITY/identity.safetensors" ] || [ -f "$IDENTITY/model.json" ]; then
    ARGS+=(--identity "$IDENTITY")
fi
[ -n "${LPIPS_VGG:-}" ] && ARGS+=(--lpips-vgg "$LPIPS_VGG" --lpips-lin "${LPIPS_LIN:-}")
gpu_nproc

{
    gpu_header "$DATA" "$GENERATOR"
    echo "resume from: ${RESUME[*]:-(nothing: a fresh start)}"
    echo "args: ${ARGS[*]}"
    gpu_launch "${ARGS[@]}"
} 2>&1 | tee "$OUT/train_stdout.txt"
rc=${PIPESTATUS[0]}

gpu_keep_cache "$OUT/encoder" "$CACHE"  # a next call while this machine is warm resumes from it
ls -la "$OUT" "$OUT/encoder"
exit "$rc"
