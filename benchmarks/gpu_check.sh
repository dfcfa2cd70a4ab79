#!/usr/bin/env bash
# Every check that needs a CUDA device, in one go (CI has none):
#   1. the tests marked `cuda` (graph capture, stacked training on the GPU) and the rest of
#      tests/test_fast.py, which then compares its CPU paths against the GPU ones;
#   2. the offline example specs run on the GPU, each twice (the second run must be all cached);
#   3. `make bench` on the GPU, its JSON written to OUTDIR (copy it to benchmarks/results/).
# Usage: bash benchmarks/gpu_check.sh [OUTDIR]
# (PYTHON=... picks the interpreter; DEVICE=cpu SPECS=quickstart BENCH_ARGS="--only conv2" try the
# script itself on a machine without a GPU)
set -u
PY=${PYTHON:-python3}
device=${DEVICE:-cuda}
specs=${SPECS:-quickstart lottery_mnist5k dynamics_mnist5k width_grid_mnist5k}
out=${1:-gpu-check}
mkdir -p "$out"
store=$(mktemp -d)
failed=()
log="$out/checks.log"
: >"$log"
step() {  # step NAME LIMIT_SECONDS COMMAND...: run it, append its output to OUTDIR/checks.log
    local name=$1 limit=$2 t0=$SECONDS part
    shift 2
    part=$(mktemp -p "$store")
    echo "== $name"
    if timeout "$limit" "$@" >"$part" 2>&1; then
        echo "   ok in $((SECONDS - t0)) s"
    else
        echo "   FAILED (exit $?) in $((SECONDS - t0)) s; last lines:"
        tail -n 25 "$part"
        failed+=("$name")
    fi
    { echo "===== $name: $*"; cat "$part"; } >>"$log"
    last=$part
}
$PY -c "import torch; print('torch', torch.__version__, 'CUDA device:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')" || exit 2
step cuda-tests 180 $PY -m pytest -q -p no:cacheprovider -o addopts= -rs tests/test_fast.py
tail -n 3 "$last"
for spec in $specs; do
    step "spec-$spec" 150 $PY -m redundancy run "specs/$spec.yaml" --device "$device" --store "$store/$spec"
    tail -n 2 "$last"
    step "rerun-$spec" 45 $PY -m redundancy run "specs/$spec.yaml" --device "$device" --store "$store/$spec"
    tail -n 1 "$last"
done
step bench 330 $PY benchmarks/run_all.py --device "$device" --out "$out" ${BENCH_ARGS:-}
tail -n 30 "$last"
rm -rf "$store"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
echo "all GPU checks passed"
