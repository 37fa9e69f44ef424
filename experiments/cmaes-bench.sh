#!/usr/bin/env bash
# cmaes-bench.sh — the whole CMA-ES protocol of ../shared/reference/cmaes-reference.md with build/cmaes-bench, as a table
# next to pycma's figures. Raw JSON lines go to experiments/out/cmaes/. Takes about two minutes on 2 vCPUs.
#
#   bash experiments/cmaes-bench.sh            (after `make`)
set -Eeuo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
# stop at the first failure and say which command it was (the innermost first when it was inside $(...))
trap 'echo "cmaes-bench.sh: stopped: [$BASH_COMMAND] failed (exit $?, line $LINENO)" >&2' ERR
cd "$(dirname "$0")/.."
bench=${BENCH:-build/cmaes-bench}
out=experiments/out/cmaes
mkdir -p "$out"
[ -x "$bench" ] || { echo "cmaes-bench.sh: $bench not built (run make)" >&2; exit 1; }
py=/usr/bin/python3

summary() {   # the summary line of a run's JSON output
    grep '"summary":true' "$1"
}

echo "== Sample efficiency: x0 = 3, sigma0 = 2, default popsize, seeds 1-11, target 1e-8 (evaluations to f < 1e-8)"
printf "%-11s %3s  %-22s %-22s %s\n" function n "pycma median (succ)" "bbt median (succ)" verdict
while read -r func n pycma psucc; do
    f="$out/eff-$func-$n.jsonl"
    "$bench" --func "$func" --dim "$n" --seeds 1-11 >"$f"
    summary "$f" | $py -c "
import json, sys
s = json.loads(sys.stdin.read())
ok = s['successes'] >= $psucc and s['median_evals'] is not None and s['median_evals'] <= $pycma
med = 'none' if s['median_evals'] is None else '%.0f' % s['median_evals']
print('%-11s %3d  %-22s %-22s %s' % ('$func', $n, '$pycma ($psucc/11)', '%s (%d/11)' % (med, s['successes']),
      'met' if ok else 'NOT MET'))"
done <<'EOF'
sphere 10 1458 11
ellipsoid 10 4188 11
rosenbrock 10 5303 11
cigar 10 3923 11
discus 10 3110 11
diffpow 10 3752 11
sphere 40 5209 11
ellipsoid 40 48638 11
rosenbrock 40 64233 9
cigar 40 16128 11
discus 40 20816 11
diffpow 40 48508 11
EOF

echo
echo "== Restarts: rastrigin n = 10, IPOP, x0 ~ U[-4,4]^10 per restart, sigma0 = 2, seeds 1-51"
f="$out/rastrigin-ipop.jsonl"
"$bench" --func rastrigin --dim 10 --seeds 1-51 --restarts ipop --x0-uniform -4,4 --sigma0 2 >"$f"
summary "$f" | $py -c "
import json, sys
s = json.loads(sys.stdin.read())
ok = s['successes'] == 51 and s['median_evals'] <= 55000
print('pycma: 51/51, median 54731, mean 64.4k | bbt: %d/51, median %.0f, mean %.0f | target 51/51, median <= 55000: %s'
      % (s['successes'], s['median_evals'], s['mean_evals'], 'met' if ok else 'NOT MET'))"

echo
echo "== n = 500, 10,000 evaluations, x0 = 3, sigma0 = 2, seeds 1-5: median best f (targets: the sep rows)"
printf "%-11s %-8s %-12s %-12s %s\n" function variant pycma bbt verdict
while read -r func variant pycma kind; do
    f="$out/n500-$func-$variant.jsonl"
    "$bench" --func "$func" --dim 500 --seeds 1-5 --variant "$variant" --max-evals 10000 --target 0 >"$f"
    grep -v summary "$f" | $py -c "
import json, sys, statistics
v = statistics.median(json.loads(l)['best_f'] for l in sys.stdin)
verdict = ('met' if v <= float('$pycma') else 'NOT MET') if '$kind' == 'target' else '(for information)'
print('%-11s %-8s %-12s %-12.3g %s' % ('$func', '$variant', '$pycma', v, verdict))"
done <<'EOF'
sphere sep 1.8 target
ellipsoid sep 2.1e6 target
cigar sep 1.9e6 target
rosenbrock sep 3.2e3 info
sphere full 50 info
ellipsoid full 4.3e7 info
EOF

echo
echo "== Noise: sphere n = 500, f (1 + 0.05 N(0,1)), 10,000 evaluations, seeds 1-5: median true f of the final mean"
for mode in plain uh; do
    f="$out/noise-$mode.jsonl"
    extra=""
    [ "$mode" = uh ] && extra="--noise-handling"
    # shellcheck disable=SC2086
    "$bench" --func sphere --dim 500 --seeds 1-5 --variant sep --max-evals 10000 --target 0 --noise 0.05 $extra >"$f"
done
$py - "$out/noise-plain.jsonl" "$out/noise-uh.jsonl" <<'EOF'
import json, sys, statistics
def med(path):
    return statistics.median(json.loads(l)['best_f'] for l in open(path) if 'summary' not in l)
plain, uh = med(sys.argv[1]), med(sys.argv[2])
print('sep without noise handling: %.3g | sep with noise handling: %.3g | reference: plain CMA-ES stuck at 3.4e3 '
      '(pycma 4.6e3): %s' % (plain, uh, 'met' if uh < 3.4e3 / 2 else 'NOT MET'))
EOF

echo
echo "== Overhead per generation, n = 500, popsize 20, 1000 generations (ask + tell, median of 5; shared machine)"
for variant in full sep; do
    "$bench" --overhead --dim 500 --popsize 20 --iters 1000 --variant "$variant" | tee "$out/overhead-$variant.json" |
        $py -c "
import json, sys
s = json.loads(sys.stdin.read())
target = {'full': 5.0, 'sep': 0.05}[s['variant']]
ref = {'full': '~10', 'sep': '~0.86'}[s['variant']]
print('%-4s %.4f ms (pycma %s ms, target <= %g ms): %s' % (s['variant'], s['ms_per_iter'], ref, target,
      'met' if s['ms_per_iter'] <= target else 'NOT MET'))"
done
