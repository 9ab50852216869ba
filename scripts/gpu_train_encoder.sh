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
export PYTHONUNBUFFERED=1 PYTHONPATH=.
PY=${PYTHON:-python3}
MINUTES=${MINUTES:-8}
DATA=${DATA:-.data/gen_chunk}
GENERATOR=${GENERATOR:-models/training/generator}
CLASSIFIER=${CLASSIFIER:-models/training/classifier}
IDENTITY=${IDENTITY:-models/training/identity}
CKPT=models/training/encoder
CACHE=runs/encoder_cache
mkdir -p "$OUT/encoder"

RESUME=()
if [ "${FRESH:-0}" != 1 ]; then
    [ -f "$CKPT/state.json" ] && RESUME+=("$CKPT")
    [ -f "$CACHE/state.json" ] && RESUME+=("$CACHE")
fi
ARGS=(train encoder --data "$DATA" --generator "$GENERATOR" --out "$OUT/encoder" --minutes "$MINUTES" --device "${DEVICE:-cuda}")
[ ${#RESUME[@]} -gt 0 ] && ARGS+=(--resume "${RESUME[@]}")
if [ -f "$CLASSIFIER.safetensors" ] || [ -f "$CLASSIFIER/classifier.safetensors" ] || [ -f "$CLASSIFIER/model.json" ]; then
    ARGS+=(--classifier "$CLASSIFIER")
fi
if [ -f "$IDENTITY.safetensors" ] || [ -f "$IDENTITY/identity.safetensors" ] || [ -f "$IDENTITY/model.json" ]; then
    ARGS+=(--identity "$IDENTITY")
fi
[ -n "${LPIPS_VGG:-}" ] && ARGS+=(--lpips-vgg "$LPIPS_VGG" --lpips-lin "${LPIPS_LIN:-}")
NPROC=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l)}
[ "$NPROC" -ge 1 ] 2>/dev/null || NPROC=1

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PY" -c "import torch, numpy, safetensors; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"
    ls -la "$DATA" "$GENERATOR" || echo "NO DATA or GENERATOR: were they carried / committed?"
    echo "resume from: ${RESUME[*]:-(nothing: a fresh start)}"
    echo "args: ${ARGS[*]}"
    if [ "$NPROC" -gt 1 ]; then
        # shellcheck disable=SC2086
        "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m faceedit_gui.cli.main "${ARGS[@]}" ${EXTRA:-}
    else
        # shellcheck disable=SC2086
        "$PY" -m faceedit_gui.cli.main "${ARGS[@]}" ${EXTRA:-}
    fi
} 2>&1 | tee "$OUT/train_stdout.txt"
rc=${PIPESTATUS[0]}

if [ -f "$OUT/encoder/state.json" ]; then
    rm -rf "$CACHE" && mkdir -p runs && cp -r "$OUT/encoder" "$CACHE"
fi
rm -f "$OUT"/encoder/*.tmp
ls -la "$OUT" "$OUT/encoder"
exit "$rc"
