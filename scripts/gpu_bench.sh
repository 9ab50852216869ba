#!/usr/bin/env bash
# The slider benchmark ON THE LENT GPU MACHINE (issue 8, item 1): the official 1024 px
# configuration with random weights, every precision mode side by side, then the CUDA tests
# on its record. Explained in docs/PERFORMANCE.md ("GPU (to run when a GPU is lent)").
# The session's call, from the repo root (nothing to carry: no data, no weights):
#
#   run(command="bash scripts/gpu_bench.sh", timeout_s=600)
#
# Leaves in $OUT: slider_gpu.json (the record, rewritten after every stage), slider_gpu.txt
# (the whole output: table, JSON last line), pytest.txt.
#
# Environment (all optional):
#   DEADLINE=420   seconds after which the benchmark stops measuring and reports (a fresh
#                  machine spends ~1 min on CUDA start-up and cuDNN autotuning; the tests and
#                  the transfers need the rest of the 10 minutes)
#   TESTS=1        then run tests/engine/test_slider_gpu_benchmark.py -m gpu on the record
#   EXTRA="..."    more benchmark flags, e.g. EXTRA="--modes fp32,fp16-half,fp16-half-compile-mat"
#   PYTHON=python3
#   (local smoke run: OUT=/tmp/o PYTHON=.venv/bin/python TESTS=0
#    EXTRA="--device cpu --size 32 --channel-divisor 16 --encoder-input 32 --iters 2" bash scripts/gpu_bench.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_bench}
# shellcheck source=scripts/gpu_chunk_lib.sh
source scripts/gpu_chunk_lib.sh
gpu_env
mkdir -p "$OUT"
rm -f "$OUT/slider_gpu.json"

{
    gpu_header
    # shellcheck disable=SC2086
    "$PY" benchmarks/slider_gpu.py --deadline-s "${DEADLINE:-420}" --out "$OUT/slider_gpu.json" ${EXTRA:-}
} 2>&1 | tee "$OUT/slider_gpu.txt"
rc=${PIPESTATUS[0]}

if [ "${TESTS:-1}" = 1 ] && [ -f "$OUT/slider_gpu.json" ]; then
    left=$((570 - SECONDS))
    if [ "$left" -gt 20 ]; then
        SLIDER_GPU_JSON="$OUT/slider_gpu.json" timeout "$left" "$PY" -m pytest -q -p no:cacheprovider -m gpu \
            tests/engine/test_slider_gpu_benchmark.py 2>&1 | tee "$OUT/pytest.txt"
    else
        echo "no time left for the CUDA tests ($SECONDS s elapsed)" | tee "$OUT/pytest.txt"
    fi
fi
ls -la "$OUT"
exit "$rc"
