#!/usr/bin/env bash
# bbt_workload.sh — the forward passes of Black-Box Tuning on stories260K: each CMA-ES generation scores 20 candidate
# prompts (50 rows each, cat mode after BOS) on 32 SST-2 training examples ("<text> It was", ~75 tokens with the
# llama2.c tokenizer of stories260K) — one lm_score call of 640 sequences. Prints evaluations (prompts) per second and
# the projected time of the reference budget of 8,000 evaluations.
#
# Usage: experiments/bench/bbt_workload.sh      (env: BUILD=build THREADS=2 REPS=7 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPS=${REPS:-7}
ROUNDS=${ROUNDS:-3}
MODEL=../shared/assets/models/stories260K
TSV=../shared/assets/tasks/sst2/16-13/train.tsv
runs=()
for r in $(seq "$ROUNDS"); do
    out=$("$BUILD/bbt" bench --model "$MODEL" --tsv "$TSV" --batch 32 --prompts 20 --prompt-tokens 50 \
          --threads "$THREADS" --dtype bf16 --reps "$REPS")
    echo "round $r: $out" >&2
    runs+=("$out")
done
/usr/bin/python3 - "${runs[@]}" <<'PYEOF'
import json, statistics, sys
rs = [json.loads(a) for a in sys.argv[1:]]
s = statistics.median(r["s_per_batch"] for r in rs)
print(json.dumps({"s_per_generation": s, "evals_per_s": round(20 / s, 2), "rows_per_generation": rs[0]["rows"],
                  "projected_8000_evals_s": round(8000 / 20 * s, 1), "threads": rs[0]["threads"]}))
PYEOF
