#!/usr/bin/env bash
# pyoptim-bench.sh — libbbtoptim from Python (optim/python/bbtoptim) against python3-cmaes and Optuna's CmaEsSampler
# (issue 15): the 12 sample-efficiency cells of shared/reference/cmaes-reference.md, the per-generation time at
# n = 500, λ = 20 (full and sep) with where sep's time goes, and Optuna studies (10-D Rosenbrock and
# ellipsoid, 2000 trials, 5 seeds). Raw JSON lines go to experiments/out/pyoptim/. Runs niced; OpenBLAS single-threaded (as the reference's
# pycma timings; the machine has 2 shared cores). About 20-40 minutes on a loaded 2-vCPU machine.
#
#   bash experiments/pyoptim-bench.sh [efficiency] [overhead] [optuna]     (after `make`; default: all three)
set -Eeuo pipefail
trap 'echo "pyoptim-bench.sh: stopped: [$BASH_COMMAND] failed (exit $?, line $LINENO)" >&2' ERR
cd "$(dirname "$0")/.."
py=${PYTHON:-/usr/bin/python3}
[ -f build/libbbtoptim.so ] || { echo "pyoptim-bench.sh: build/libbbtoptim.so not built (run make)" >&2; exit 1; }
"$py" -c 'import numpy, cmaes, optuna' || { echo "pyoptim-bench.sh: $py needs python3-numpy, -cmaes, -optuna" >&2; exit 1; }
out=experiments/out/pyoptim
mkdir -p "$out"
export BBTOPTIM_LIB=$PWD/build/libbbtoptim.so PYTHONPATH=$PWD/optim/python OPENBLAS_NUM_THREADS=1 \
       CMAES_BENCH=$PWD/build/cmaes-bench PYTHONDONTWRITEBYTECODE=1
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(overhead efficiency optuna)
for part in "${parts[@]}"; do
    echo "== $part"
    case $part in
        overhead)   nice -n 10 "$py" experiments/pyoptim_bench.py overhead --gens 1000 --out "$out/overhead.jsonl" ;;
        efficiency) nice -n 10 "$py" experiments/pyoptim_bench.py efficiency --out "$out/efficiency.jsonl" ;;
        optuna)     for func in rosenbrock ellipsoid; do
                        nice -n 10 "$py" experiments/pyoptim_bench.py optuna --func $func --trials 2000 --seeds 1-5 \
                            --out "$out/optuna.jsonl"
                    done ;;
        *) echo "pyoptim-bench.sh: unknown part $part" >&2; exit 1 ;;
    esac
    echo
done
