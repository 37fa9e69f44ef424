#!/usr/bin/env bash
# forward.sh — the engine's forward pass against PyTorch, side by side, on random-weight models:
#   llama: a Llama of hidden 768, 12 layers, 12 heads, FFN 2048, vocab 32000 (causal; labels read at the last row);
#   bert:  a BERT-base-shaped masked LM, hidden 768, 12 layers, 12 heads, FFN 3072, vocab 50265 (read at the last
#          row, the mask at the end; only the mask row goes past attention in the last layer, and the MLM head only
#          there).
# Each: one scoring batch of 32 sequences x 128 rows, 50 of them a soft prompt (cat mode after the first token). Also
# times the GEMMs alone (the same products over the same rows, nothing else): the bf16 floor of this machine for this
# batch.
#
# The 32 sequences of the Llama batch share their first 51 rows (the first token and the prompt), and our engine by
# default computes those once (lm_options.share_prefix: 77 rows per sequence instead of 128); PyTorch computes every
# row, and the GEMM-only floor counts every row too. So the Llama line also times ours with sharing off
# ("ours_noshare_s", bbt bench --no-prefix-share) and gives the ratio both ways: "ratio_vs_torch_bf16" is the default
# engine, "ratio_noshare_vs_torch_bf16" the same work as PyTorch's.
#
# Rounds are interleaved (ours, PyTorch, GEMM-only, ours, ...) so that load from other processes on a shared machine
# hits every contender alike. Two summaries: the median over rounds of each run's median ("…_s", "ratio_…"), and the
# fastest single repetition seen ("…_min_s", "ratio_best_…"), which is what an unloaded machine gives when the load
# comes and goes.
#
# Usage: experiments/bench/forward.sh      (env: BUILD=build THREADS=2 ROUNDS=3 REPS=5 MODELS="llama bert"
#                                           BENCH_DIR=/tmp/bbt-bench, created if missing)
#        QUICK=1 experiments/bench/forward.sh   (tiny models, one round, one repetition: checks that the script runs
#                                                on this machine in well under a minute; the figures mean nothing)
# One line per model, the last lines of the output:
#   {"model":"llama768","ours_s":…,"torch_fp32_s":…,"torch_bf16_s":…,"ratio_vs_torch_bf16":…,
#    "ours_noshare_s":…,"ratio_noshare_vs_torch_bf16":…, …}
#   {"model":"bert768", …}
set -Eeuo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
# stop at the first failure and say which command it was (the innermost first when it was inside $(...))
trap 'echo "forward.sh: stopped: [$BASH_COMMAND] failed (exit $?, line $LINENO)" >&2' ERR
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-5}
MODELS=${MODELS:-llama bert}
BENCH_DIR=${BENCH_DIR:-/tmp/bbt-bench}
QUICK=${QUICK:-0}
PY=/usr/bin/python3

for prog in bbt make_model gemm_limit; do
    [ -x "$BUILD/$prog" ] || { echo "forward.sh: $BUILD/$prog is not built (run make)" >&2; exit 1; }
done
$PY -c 'import torch' 2>/dev/null || { echo "forward.sh: PyTorch is missing ($PY -c 'import torch' fails)" >&2; exit 1; }
if [ "$QUICK" = 1 ]; then
    ROUNDS=1 REPS=1
    dim=64 layers=2 heads=4 llama_ffn=128 bert_ffn=256 llama_vocab=1000 bert_vocab=1000 tag=-quick
else
    dim=768 layers=12 heads=12 llama_ffn=2048 bert_ffn=3072 llama_vocab=32000 bert_vocab=50265 tag=
fi
mkdir -p "$BENCH_DIR"
batch=(--batch 32 --seq 128 --prompt-tokens 50 --threads "$THREADS")
field() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# run NAME DIR "make_model args" "gemm_limit args" [noshare]   (noshare: also time ours with prefix sharing off)
run() {
    local name=$1 dir=$2 make_args=$3 gemm_args=$4 noshare=${5:-}
    if [ ! -f "$dir/config.json" ]; then
        echo "writing the model to $dir" >&2
        mkdir -p "$(dirname "$dir")"
        # shellcheck disable=SC2086
        "$BUILD/make_model" --out "$dir" $make_args
    fi
    local ours=() ours32=() tf32=() tbf16=() gemm=() mins=() plain=() o o32 t g ons
    for r in $(seq "$ROUNDS"); do
        o=$("$BUILD/bbt" bench --model "$dir" "${batch[@]}" --dtype bf16 --reps "$REPS")
        o32=$("$BUILD/bbt" bench --model "$dir" "${batch[@]}" --dtype f32 --reps "$REPS")
        if [ -n "$noshare" ]; then
            ons=$("$BUILD/bbt" bench --model "$dir" "${batch[@]}" --dtype bf16 --reps "$REPS" --no-prefix-share)
            echo "$name round $r: ours bf16, prefix sharing off $ons" >&2
            plain+=("$(field "$ons" s_per_batch),$(field "$ons" s_min)")
        fi
        t=$($PY experiments/bench/torch_ref.py --model "$dir" --batch 32 --seq 128 --prompt-tokens 50 \
            --threads "$THREADS" --reps "$REPS")
        # shellcheck disable=SC2086
        g=$("$BUILD/gemm_limit" $gemm_args --rows 4096 --threads "$THREADS" --reps "$REPS")
        echo "$name round $r: ours bf16 $o" >&2
        echo "$name round $r: ours f32 $o32" >&2
        echo "$name round $r: torch $t" >&2
        echo "$name round $r: gemm-only bf16 $g" >&2
        ours+=("$(field "$o" s_per_batch)"); ours32+=("$(field "$o32" s_per_batch)")
        tf32+=("$(field "$t" torch_f32_s)"); tbf16+=("$(field "$t" torch_bf16_s)"); gemm+=("$(field "$g" gemm_s)")
        mins+=("$(field "$o" s_min),$(field "$o32" s_min),$(field "$t" torch_f32_min_s),$(field "$t" torch_bf16_min_s),$(field "$g" gemm_min_s)")
    done
    $PY - "$name" "${ours[*]}" "${ours32[*]}" "${tf32[*]}" "${tbf16[*]}" "${gemm[*]}" "$THREADS" "${mins[*]}" \
        "${plain[*]}" <<'PYEOF'
import json, statistics, sys
med = lambda s: statistics.median(float(x) for x in s.split())
ours, ours32, tf32, tbf16, gemm = (med(a) for a in sys.argv[2:7])
best = [min(float(r.split(",")[i]) for r in sys.argv[8].split()) for i in range(5)]
r = lambda x: round(x, 4)
out = {"model": sys.argv[1], "ours_s": r(ours), "ours_f32_s": r(ours32), "torch_fp32_s": r(tf32),
       "torch_bf16_s": r(tbf16), "gemm_bf16_s": r(gemm), "threads": int(sys.argv[7]),
       "ratio_vs_torch_bf16": round(tbf16 / ours, 3), "ratio_vs_torch_fp32": round(tf32 / ours, 3),
       "ours_over_gemm_limit": round(ours / gemm, 3),
       "ours_min_s": r(best[0]), "ours_f32_min_s": r(best[1]), "torch_fp32_min_s": r(best[2]),
       "torch_bf16_min_s": r(best[3]), "gemm_bf16_min_s": r(best[4]),
       "ratio_best_vs_torch_bf16": round(best[3] / best[0], 3),
       "ratio_best_vs_torch_fp32": round(best[2] / best[0], 3),
       "best_ours_over_gemm_limit": round(best[0] / best[4], 3)}
if sys.argv[9]:  # ours with prefix sharing off: the same rows as PyTorch and the GEMM-only floor compute
    plain = [tuple(float(x) for x in p.split(",")) for p in sys.argv[9].split()]
    noshare, noshare_min = statistics.median(p[0] for p in plain), min(p[1] for p in plain)
    out.update({"ours_noshare_s": r(noshare), "ratio_noshare_vs_torch_bf16": round(tbf16 / noshare, 3),
                "noshare_over_gemm_limit": round(noshare / gemm, 3), "ours_noshare_min_s": r(noshare_min),
                "ratio_best_noshare_vs_torch_bf16": round(best[3] / noshare_min, 3),
                "sharing_speedup": round(noshare / ours, 3)})
print(json.dumps(out))
PYEOF
}

lines=()
for m in $MODELS; do
    case $m in
    llama) shape="--dim $dim --ffn $llama_ffn --layers $layers --heads $heads"
           lines+=("$(run "llama$dim$tag" "${MODEL_DIR:-$BENCH_DIR/llama$dim$tag}" \
                     "$shape --vocab $llama_vocab --max-pos 2048" "$shape" noshare)") ;;
    bert) shape="--dim $dim --ffn $bert_ffn --layers $layers --heads $heads"
          lines+=("$(run "bert$dim$tag" "$BENCH_DIR/bert$dim$tag" \
                    "--arch bert $shape --vocab $bert_vocab --max-pos 512" "$shape --gated 0")") ;;
    *) echo "forward.sh: unknown model '$m' (llama, bert)" >&2; exit 1 ;;
    esac
done
printf '%s\n' "${lines[@]}"
