#!/usr/bin/env bash
# bbt_workload.sh — the forward passes of Black-Box Tuning on stories260K: each CMA-ES generation scores 20 candidate
# prompts (50 rows each, cat mode after BOS) on 32 SST-2 training examples ("<text> It was", ~75 tokens with the
# llama2.c tokenizer of stories260K) — one lm_score call of 640 sequences. Prints evaluations (prompts) per second and
# the projected time of the reference budget of 8,000 evaluations.
#
# The 32 examples of a prompt share their first 51 rows (BOS and the prompt); the engine computes them once per prompt
# by default. Each round also times the engine with that off (bbt bench --no-prefix-share), interleaved, so the line
# shows what sharing gains ("…_noshare", "sharing_speedup").
#
# Usage: experiments/bench/bbt_workload.sh      (env: BUILD=build THREADS=2 REPS=7 ROUNDS=3)
set -Eeuo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
# stop at the first failure and say which command it was (the innermost first when it was inside $(...))
trap 'echo "bbt_workload.sh: stopped: [$BASH_COMMAND] failed (exit $?, line $LINENO)" >&2' ERR
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPS=${REPS:-7}
ROUNDS=${ROUNDS:-3}
MODEL=../shared/assets/models/stories260K
TSV=../shared/assets/tasks/sst2/16-13/train.tsv
[ -x "$BUILD/bbt" ] || { echo "bbt_workload.sh: $BUILD/bbt is not built (run make)" >&2; exit 1; }
for f in "$MODEL" "$TSV"; do
    [ -e "$f" ] || { echo "bbt_workload.sh: $f is missing (the shared assets)" >&2; exit 1; }
done
on=() off=()
for r in $(seq "$ROUNDS"); do
    for share in on off; do
        flag=()
        [ "$share" = off ] && flag=(--no-prefix-share)
        out=$("$BUILD/bbt" bench --model "$MODEL" --tsv "$TSV" --batch 32 --prompts 20 --prompt-tokens 50 \
              --threads "$THREADS" --dtype bf16 --reps "$REPS" "${flag[@]}")
        echo "round $r, prefix sharing $share: $out" >&2
        if [ "$share" = on ]; then on+=("$out"); else off+=("$out"); fi
    done
done
/usr/bin/python3 - "${#on[@]}" "${on[@]}" "${off[@]}" <<'PYEOF'
import json, statistics, sys
n = int(sys.argv[1])
on, off = ([json.loads(a) for a in part] for part in (sys.argv[2:2 + n], sys.argv[2 + n:]))
s, s0 = (statistics.median(r["s_per_batch"] for r in runs) for runs in (on, off))
print(json.dumps({"s_per_generation": s, "evals_per_s": round(20 / s, 2), "rows_per_generation": on[0]["rows"],
                  "rows_computed": on[0]["rows_computed"], "projected_8000_evals_s": round(8000 / 20 * s, 1),
                  "s_per_generation_noshare": s0, "evals_per_s_noshare": round(20 / s0, 2),
                  "sharing_speedup": round(s0 / s, 3), "threads": on[0]["threads"]}))
PYEOF
