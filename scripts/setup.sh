#!/usr/bin/env bash
# Set up faceedit in ./.venv: the CPU build of torch first (any other torch request
# pulls several GB of CUDA packages), then the package and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[test]"
