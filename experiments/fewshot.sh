#!/usr/bin/env bash
# fewshot.sh — the few-shot benchmark: tasks × seeds × optimizers → run directories, a table and plots.
#
#   experiments/fewshot.sh [--tasks sst2,rte] [--seeds 13,21,42,87,100] [--optimizers sep,full,random]
#                          [--budget 8000] [--model DIR] [--out DIR] [--threads N] [-- extra bbt tune options]
#
# Every run goes to OUT/<task>/<optimizer>-s<seed>. A run that already has a summary.json is kept; one that has a
# checkpoint but no summary (killed, interrupted) is resumed. So the script can be stopped and started again at will.
# At the end: OUT/results.tsv (one row per run), OUT/table.md (mean ± std of test accuracy — or F1 for mrpc — per task
# and optimizer, with the untuned prompt for comparison), OUT/curves.png (best training loss against evaluations, one
# line per optimizer, first task, mean over seeds) and OUT/accuracy.png.
set -Eeuo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
# stop at the first failure and say which command it was (the innermost first when it was inside $(...))
trap 'echo "fewshot.sh: stopped: [$BASH_COMMAND] failed (exit $?, line $LINENO)" >&2' ERR
cd "$(dirname "$0")/.."

tasks=sst2
seeds=13,21,42,87,100
optimizers=sep,full,random
budget=8000
model=
out=experiments/out/fewshot
threads=0
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --tasks) tasks=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --optimizers) optimizers=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fewshot.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
    esac
done

BBT=${BBT:-build/bbt}
[ -x "$BBT" ] || { echo "fewshot.sh: $BBT is not built (run make)" >&2; exit 1; }
mkdir -p "$out"
model_opt=(); [ -n "$model" ] && model_opt=(--model "$model")

# ---- the runs ----
IFS=, read -ra task_list <<<"$tasks"
IFS=, read -ra seed_list <<<"$seeds"
IFS=, read -ra opt_list <<<"$optimizers"
for task in "${task_list[@]}"; do
    for opt in "${opt_list[@]}"; do
        for seed in "${seed_list[@]}"; do
            dir=$out/$task/$opt-s$seed
            if [ -f "$dir/summary.json" ]; then
                continue
            elif [ -f "$dir/checkpoint.bin" ]; then
                echo "resuming $dir" >&2
                "$BBT" tune --resume "$dir" --threads "$threads" >/dev/null
            else
                echo "running $dir" >&2
                mkdir -p "$out/$task"
                "$BBT" tune "${model_opt[@]}" --task "$task" --seed "$seed" --optimizer "$opt" --budget "$budget" \
                    --threads "$threads" --out "$dir" "${extra[@]}" >/dev/null
            fi
        done
    done
done

# ---- the table ----
# summary.json is cJSON's pretty print: one "key": value per line.
field() { awk -F'\t' -v k="\"$2\":" '$2 == k { gsub(/[",]/, "", $3); print $3 }' "$1"; }

results=$out/results.tsv
printf 'task\toptimizer\tseed\tmetric\ttest\tuntuned_test\tdev\ttrain_loss_initial\ttrain_loss_best\twall_s\tevals_per_s\n' >"$results"
for task in "${task_list[@]}"; do
    for opt in "${opt_list[@]}"; do
        for seed in "${seed_list[@]}"; do
            s=$out/$task/$opt-s$seed/summary.json
            [ -f "$s" ] || continue
            metric=$(field "$s" dev_metric_name)
            # acc, f1 or macro_f1 (more than two classes): summary.json's keys are test_<metric>, dev_<metric>, …
            test=$(field "$s" "test_$metric"); untuned=$(field "$s" "untuned_test_$metric"); dev=$(field "$s" "dev_$metric")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$task" "$opt" "$seed" "$metric" "$test" "$untuned" "$dev" \
                "$(field "$s" train_loss_initial)" "$(field "$s" train_loss_best)" "$(field "$s" wall_s)" \
                "$(field "$s" evals_per_s)" >>"$results"
        done
    done
done

awk -F'\t' 'NR > 1 {
        key = $1 SUBSEP $2; n[key]++; s[key] += $5; q[key] += $5 * $5; u[key] += $6; m[key] = $4
        l0[key] += $8; l1[key] += $9; w[key] += $10
        if (!(($1) in seen_task)) { seen_task[$1] = 1; tasks[++nt] = $1 }
        if (!(($2) in seen_opt)) { seen_opt[$2] = 1; opts[++no] = $2 }
    }
    END {
        print "| task | optimizer | runs | test (mean ± std) | untuned test | train loss: initial → best | wall s |"
        print "|---|---|---|---|---|---|---|"
        for (i = 1; i <= nt; i++) for (j = 1; j <= no; j++) {
            key = tasks[i] SUBSEP opts[j]; if (!n[key]) continue
            mean = s[key] / n[key]; var = q[key] / n[key] - mean * mean; if (var < 0) var = 0
            printf "| %s | %s | %d | %.2f ± %.2f %s | %.2f | %.3f → %.3f | %.0f |\n", tasks[i], opts[j], n[key],
                100 * mean, 100 * sqrt(var), m[key] == "f1" ? "(F1)" : m[key] == "macro_f1" ? "(macro-F1)" : "", 100 * u[key] / n[key],
                l0[key] / n[key], l1[key] / n[key], w[key] / n[key]
        }
    }' "$results" >"$out/table.md"
cat "$out/table.md"

# ---- plots ----
if command -v gnuplot >/dev/null; then
    first=${task_list[0]}
    curves=$out/curves.dat
    : >"$curves"
    for opt in "${opt_list[@]}"; do
        # mean over seeds of the best training loss after each generation
        cat "$out/$first/$opt"-s*/log.jsonl 2>/dev/null | awk -v opt="$opt" '{
                match($0, /"evals":[0-9]+/); e = substr($0, RSTART + 8, RLENGTH - 8)
                match($0, /"best_train_loss":[-0-9.e+]+/); b = substr($0, RSTART + 18, RLENGTH - 18)
                sum[e] += b; cnt[e]++; if (!(e in seen)) { seen[e] = 1; order[++k] = e }
            } END { printf "\"%s\"\n", opt; for (i = 1; i <= k; i++) print order[i], sum[order[i]] / cnt[order[i]]; print ""; print "" }' >>"$curves"
    done
    gnuplot <<EOF
set terminal png size 900,560
set output "$out/curves.png"
set title "$first: best training loss (mean over seeds)"
set xlabel "evaluations"; set ylabel "training loss"; set key top right; set grid
plot for [i=0:${#opt_list[@]}-1] "$curves" index i using 1:2 with lines lw 2 title columnheader(1)
EOF
    awk -F'\t' 'NR > 1 { k = $1 "/" $2; s[k] += $5; n[k]++; u[$1] += $6; nu[$1]++ }
        END { for (k in s) printf "%s\t%.4f\n", k, s[k] / n[k]; for (t in u) printf "%s/untuned\t%.4f\n", t, u[t] / nu[t] }' \
        "$results" | sort >"$out/accuracy.dat"
    gnuplot <<EOF
set terminal png size 900,560
set output "$out/accuracy.png"
set title "test metric (mean over seeds)"; set style fill solid 0.6; set boxwidth 0.6; set yrange [0:1]; set grid y
set xtics rotate by -30
plot "$out/accuracy.dat" using 0:2:xtic(1) with boxes notitle
EOF
    echo "plots: $out/curves.png $out/accuracy.png" >&2
fi
