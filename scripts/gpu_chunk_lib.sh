# Shared steps of the GPU scripts (sourced, not run): gpu_train_{generator,encoder,editor}.sh, gpu_bench.sh.
#
#   gpu_env                         -> PY (env PYTHON, else python3: on the GPU machine the one with
#                                      CUDA torch); exports PYTHONUNBUFFERED=1 PYTHONPATH=. (repo root)
#   gpu_resume_dirs CKPT CACHE      -> RESUME=(...) the checkpoint folders present (none if FRESH=1)
#   gpu_nproc                       -> NPROC (env NPROC, else the number of GPUs, at least 1)
#   gpu_header [PATH...]            prints GPU, torch versions, and lists the carried inputs (if any)
#   gpu_launch ARGS...              python -m faceedit_gui.cli.main ARGS ${EXTRA}, via torchrun when NPROC > 1
#   gpu_keep_cache SRC CACHE        copies a finished checkpoint to CACHE (a warm machine resumes from it)
# Needs PY (the interpreter) set by the caller or by gpu_env.

gpu_env() {
    export PYTHONUNBUFFERED=1 PYTHONPATH=.
    PY=${PYTHON:-python3}
}

gpu_resume_dirs() {
    RESUME=()
    if [ "${FRESH:-0}" != 1 ]; then
        local d
        for d in "$@"; do [ -f "$d/state.json" ] && RESUME+=("$d"); done
    fi
}

gpu_nproc() {
    NPROC=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l)}
    [ "$NPROC" -ge 1 ] 2>/dev/null || NPROC=1
}

gpu_header() {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PY" -c "import torch, numpy, safetensors; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"
    [ $# -eq 0 ] || ls -la "$@" || echo "MISSING INPUT among: $* (carried / committed?)"
}

gpu_launch() {
    if [ "$NPROC" -gt 1 ]; then
        # shellcheck disable=SC2086
        "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m faceedit_gui.cli.main "$@" ${EXTRA:-}
    else
        # shellcheck disable=SC2086
        "$PY" -m faceedit_gui.cli.main "$@" ${EXTRA:-}
    fi
}

gpu_keep_cache() {
    if [ -f "$1/state.json" ]; then
        rm -rf "$2" && mkdir -p "$(dirname "$2")" && cp -r "$1" "$2"
    fi
    rm -f "$1"/*.tmp
}
