#!/usr/bin/env bash
# bench.sh — cmaes-bench prints exactly the JSON lines of its interface (issue 2), counts evaluations as the protocol
# says, and rejects bad arguments with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench="${BUILD:-build}/cmaes-bench"

"$bench" --func sphere --dim 5 --seeds 1-3 --target 1e-6 >/tmp/cmaes-bench-$$.jsonl
"$bench" --func rastrigin --dim 3 --seeds 4-4 --restarts ipop --x0-uniform -4,4 --variant sep >>/tmp/cmaes-bench-$$.jsonl
"$bench" --func ellipsoid --dim 20 --seeds 1-2 --max-evals 500 --target 0 --noise 0.1 --noise-handling \
    >>/tmp/cmaes-bench-$$.jsonl
"$bench" --overhead --dim 20 --popsize 8 --iters 20 --variant sep >>/tmp/cmaes-bench-$$.jsonl
trap 'rm -f /tmp/cmaes-bench-$$.jsonl' EXIT

/usr/bin/python3 - /tmp/cmaes-bench-$$.jsonl <<'PY'
import json, sys
run = ["func", "dim", "seed", "variant", "restarts", "evals", "best_f", "success", "stop"]
summary = ["summary", "func", "dim", "variant", "runs", "successes", "median_evals", "mean_evals"]
overhead = ["overhead", "variant", "dim", "popsize", "iters", "ms_per_iter"]
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = []
for d in lines:
    keys = list(d)
    kind = "summary" if d.get("summary") else "overhead" if d.get("overhead") else "run"
    want = {"run": run, "summary": summary, "overhead": overhead}[kind]
    assert keys == want, (kind, keys)
    kinds.append(kind)
    if kind == "run":
        assert d["success"] == (d["stop"] == "ftarget"), d
        if d["func"] == "sphere":
            assert d["success"] and d["best_f"] < 1e-6, d
        if d["func"] == "ellipsoid":
            assert d["evals"] == 500 and d["stop"] == "maxfevals" and not d["success"], d
assert kinds == ["run"] * 3 + ["summary"] + ["run", "summary"] + ["run"] * 2 + ["summary", "overhead"], kinds
s = lines[3]
assert s["runs"] == 3 and s["successes"] == 3, s
assert s["median_evals"] == sorted(l["evals"] for l in lines[:3])[1], s
assert lines[-1]["ms_per_iter"] > 0
print("cmaes-bench output: ok")
PY

if "$bench" --func nosuch --dim 3 2>/dev/null; then echo "bench.sh: unknown function accepted" >&2; exit 1; fi
if "$bench" --func sphere --dim 0 2>/dev/null; then echo "bench.sh: dim 0 accepted" >&2; exit 1; fi
msg=$("$bench" --func sphere --dim 3 --seeds 5-2 2>&1 || true)
case "$msg" in *"bad value '5-2' for --seeds"*) ;; *) echo "bench.sh: no message for a bad --seeds: $msg" >&2; exit 1 ;; esac
