#!/usr/bin/env bash
# One chunk of editor training (d_sty, d_cnt, A, H), run ON THE LENT GPU MACHINE by the
# device tool. Explained in docs/TRAINING.md ("The editor"). The session's call, from the repo root:
#
#   run(command="bash scripts/gpu_train_editor.sh", carry=[".data/gen_chunk"], timeout_s=600)
#
# Frozen: the committed generator and encoder checkpoints models/training/{generator,encoder}/
# (or GENERATOR=/ENCODER=, checkpoint or bundle folders), the classifier and identity
# network (models/training/{classifier,identity}: a folder with classifier.safetensors +
# .json, a save_network stem, or a bundle). The editor continues from the committed
# models/training/editor/ (or, on a warm machine, runs/editor_cache/) for MINUTES and
# leaves in $OUT (5 files, each <= 16 MiB):
#   editor/editor.safetensors  editor/state.json  editor/log.jsonl  editor/grid.png  train_stdout.txt
#
# Environment (all optional):
#   MINUTES=8              training wall clock, setup and save included (the call's limit is 10)
#   DATA=.data/gen_chunk   the carried data window (train split only is read)
#   GENERATOR=models/training/generator  ENCODER=models/training/encoder
#   CLASSIFIER=models/training/classifier  (required: L_cls)  IDENTITY=models/training/identity
#   VARIANT=style|style_spa|refine|full   a Table 3 row (its own CKPT: models/training/editor_<variant>)
#   LPIPS_VGG=... LPIPS_LIN=...   official LPIPS files, when someone has them
#   NPROC=<#GPUs>  FRESH=1  EXTRA="..."  PYTHON=python3  DEVICE=cuda
#   (local smoke run: OUT=/tmp/o DEVICE=cpu DATA=... GENERATOR=... ENCODER=... CLASSIFIER=... EXTRA="--tiny --steps 2")
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
# shellcheck source=scripts/gpu_chunk_lib.sh
source scripts/gpu_chunk_lib.sh
gpu_env
MINUTES=${MINUTES:-8}
DATA=${DATA:-.data/gen_chunk}
GENERATOR=${GENERATOR:-models/training/generator}
ENCODER=${ENCODER:-models/training/encoder}
CLASSIFIER=${CLASSIFIER:-models/training/classifier}
IDENTITY=${IDENTITY:-models/training/identity}
SUFFIX=${VARIANT:+_$VARIANT}
CKPT=models/training/editor$SUFFIX
CACHE=runs/editor_cache$SUFFIX
mkdir -p "$OUT/editor"

has_net() { [ -f "$1.safetensors" ] || [ -f "$1/$2.safetensors" ] || [ -f "$1/model.json" ]; }
gpu_resume_dirs "$CKPT" "$CACHE"
gpu_nproc
ARGS=(train editor --data "$DATA" --generator "$GENERATOR" --encoder "$ENCODER" --classifier "$CLASSIFIER"
      --out "$OUT/editor" --minutes "$MINUTES" --device "${DEVICE:-cuda}")
[ ${#RESUME[@]} -gt 0 ] && ARGS+=(--resume "${RESUME[@]}")
has_net "$IDENTITY" identity && ARGS+=(--identity "$IDENTITY")
[ -n "${VARIANT:-}" ] && ARGS+=(--variant "$VARIANT")
[ -n "${LPIPS_VGG:-}" ] && ARGS+=(--lpips-vgg "$LPIPS_VGG" --lpips-lin "${LPIPS_LIN:-}")

{
    gpu_header "$DATA" "$GENERATOR" "$ENCODER"
    has_net "$CLASSIFIER" classifier || echo "NO CLASSIFIER at $CLASSIFIER: the editor needs it (L_cls)"
    echo "resume from: ${RESUME[*]:-(nothing: a fresh start)}"
    echo "args: ${ARGS[*]}"
    gpu_launch "${ARGS[@]}"
} 2>&1 | tee "$OUT/train_stdout.txt"
rc=${PIPESTATUS[0]}
gpu_keep_cache "$OUT/editor" "$CACHE"
ls -la "$OUT" "$OUT/editor"
exit "$rc"
