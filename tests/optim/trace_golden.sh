#!/usr/bin/env bash
# trace_golden.sh — the separable variant's candidates are the same bits in every build: python_trace's "sep" run (every
# candidate of 60 generations as the bit patterns of its doubles, then the end state) must hash to the committed value,
# which was taken from the release build (-O3, the AVX2 clones of optim's loops, CMAES_VECTOR_LOOPS in
# optim/cmaes_internal.h). make test runs it against the sanitizer build (-O1, no clones), so a pass shows that the
# vectorised loops change no bit; a deliberate change to the algorithm updates the value below. The sep variant uses no
# BLAS, so the value does not depend on OpenBLAS's kernels or thread count.
set -euo pipefail
cd "$(dirname "$0")/../.."
trace="${BUILD:-build}/tests/optim/python_trace"
[ -x "$trace" ] || { echo "trace_golden.sh: $trace is not built (make ${trace})" >&2; exit 1; }
want=04cd513674f7d4cfe45b2a1b1de4f668
got=$("$trace" sep | md5sum | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    echo "trace_golden.sh: the sep trace hashes to $got, expected $want: the separable variant's candidates changed" >&2
    exit 1
fi
echo "trace_golden: sep trace $got as committed"
