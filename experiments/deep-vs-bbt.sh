#!/usr/bin/env bash
# BBTv2 (bbt tune --deep) against BBT (separable CMA-ES) and random search at the same budget, on stories260K:
# tasks × split seeds × methods, then one table of mean ± std over the seeds (best training loss, test metric, wall time).
#
#   experiments/deep-vs-bbt.sh [--tasks sst2,rte,mrpc] [--seeds 13,21,42] [--budget 8000] [--jobs 2] [--threads 1]
#                              [--out experiments/out/deep-vs-bbt] [--bbt build/bbt]
#
# Every run keeps the method's defaults (BBT: σ0 = 1, α = 1; BBTv2: σ0 = 0.2, α = 0.2 — the reference's; random search:
# BBT's projection and σ0) with d = 500, λ = 20, L = 50. A run directory that is already finished is kept, one that was
# interrupted is resumed, so the script can be stopped and started again. Writes OUT/results.tsv and OUT/table.md
# (runs not finished are left out and named under the table); AGGREGATE_ONLY=1 only rewrites them from what is there.
set -euo pipefail
tasks=sst2,rte,mrpc
seeds=13,21,42
budget=8000
jobs=2
threads=1
out=experiments/out/deep-vs-bbt
bbt=build/bbt
while [ $# -gt 0 ]; do
    case $1 in
    --tasks) tasks=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bbt) bbt=$2; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "deep-vs-bbt.sh: unknown option $1" >&2; exit 1 ;;
    esac
done
mkdir -p "$out"

# one line per run: task seed method
plan=$out/plan.txt
: >"$plan"
for task in ${tasks//,/ }; do
    for seed in ${seeds//,/ }; do
        for method in bbtv2 bbt random; do
            echo "$task $seed $method" >>"$plan"
        done
    done
done

run_one() {
    local task=$1 seed=$2 method=$3 dir="$out/$1-s$2-$3"
    local extra=()
    case $method in
    bbtv2) extra=(--deep) ;;
    bbt) extra=(--optimizer sep) ;;
    random) extra=(--optimizer random) ;;
    esac
    if [ -f "$dir/summary.json" ]; then
        return 0
    elif [ -f "$dir/checkpoint.bin" ]; then
        nice -n 10 "$bbt" tune --resume "$dir" --threads "$threads" >/dev/null 2>"$dir.err" || { cat "$dir.err" >&2; return 1; }
    else
        nice -n 10 "$bbt" tune --task "$task" --seed "$seed" --budget "$budget" --threads "$threads" "${extra[@]}" \
            --out "$dir" --force >/dev/null 2>"$dir.err" || { cat "$dir.err" >&2; return 1; }
    fi
    echo "done $task s$seed $method: $(grep -oE '"(train_loss_best|test_acc|wall_s)":[^,]*' "$dir/summary.json" | tr '\n' ' ')"
}
export -f run_one
export out bbt budget threads
[ "${AGGREGATE_ONLY:-0}" = 1 ] || xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <"$plan"

/usr/bin/python3 - "$out" "$plan" <<'PY'
import json, os, statistics, sys
out, plan = sys.argv[1], sys.argv[2]
rows, groups = [], {}
missing = []
for line in open(plan):
    task, seed, method = line.split()
    path = os.path.join(out, "%s-s%s-%s" % (task, seed, method), "summary.json")
    if not os.path.exists(path):  # stopped before it finished: left out of the table, and said so
        missing.append("%s-s%s-%s" % (task, seed, method))
        continue
    s = json.load(open(path))
    metric = s.get("test_f1", s["test_acc"]) if task == "mrpc" else s["test_acc"]
    untuned = s.get("untuned_test_f1", s["untuned_test_acc"]) if task == "mrpc" else s["untuned_test_acc"]
    rows.append((task, seed, method, s["evals"], s["train_loss_initial"], s["train_loss_best"], metric, untuned, s["wall_s"]))
    groups.setdefault((task, method), []).append(rows[-1])
with open(os.path.join(out, "results.tsv"), "w") as f:
    f.write("task\tseed\tmethod\tevals\ttrain_loss_initial\ttrain_loss_best\ttest_metric\tuntuned_test_metric\twall_s\n")
    for r in rows:
        f.write("\t".join(str(x) for x in r) + "\n")
def ms(v):
    return "%.3f ± %.3f" % (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
lines = ["| task | method | runs | evals | train loss z=0 | best train loss | test metric | untuned test | wall s |",
         "|---|---|---|---|---|---|---|---|---|"]
for (task, method), g in groups.items():
    lines.append("| %s%s | %s | %d | %d | %s | %s | %s | %s | %s |" % (
        task, " (F1)" if task == "mrpc" else "", method, len(g), g[0][3], ms([r[4] for r in g]), ms([r[5] for r in g]),
        ms([r[6] for r in g]), ms([r[7] for r in g]), "%.0f ± %.0f" % (statistics.mean([r[8] for r in g]),
        statistics.stdev([r[8] for r in g]) if len(g) > 1 else 0.0)))
if missing:
    lines.append("")
    lines.append("not finished (left out): " + ", ".join(missing))
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
