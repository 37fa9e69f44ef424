#!/usr/bin/env bash
# large_model.sh — a RoBERTa-large-shaped masked LM (24 layers, hidden 1024, 16 heads, FFN 4096, vocab 50265, 512
# positions; random weights written by make_model in fp32, 1.42 GB) must load and run, with memory near the weights'
# size. Kept out of `make test` (it writes 1.4 GB and takes a while on a shared machine); run it by hand:
#
#   experiments/bench/large_model.sh          (env: BUILD=build THREADS=2 DIR=/tmp/bbt-bench/roberta-large,
#                                               created if missing)
#
# Prints one JSON line: the weights' bytes, the peak resident memory of `bbt info` (fp32 engine: weights kept in
# fp32) and of `bbt bench` (bf16 engine: matrices in bf16, embedding table in fp32), each over the weights' bytes, and
# the bench's seconds per batch of 8 × 128 rows (50 prompt rows). Fails when a run fails or when the fp32 peak exceeds
# 1.25 × the weights (the file must not be held in memory beside the converted weights).
set -Eeuo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
# stop at the first failure and say which command it was (the innermost first when it was inside $(...))
trap 'echo "large_model.sh: stopped: [$BASH_COMMAND] failed (exit $?, line $LINENO)" >&2' ERR
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
DIR=${DIR:-/tmp/bbt-bench/roberta-large}
for prog in bbt make_model; do
    [ -x "$BUILD/$prog" ] || { echo "large_model.sh: $BUILD/$prog is not built (run make)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "large_model.sh: needs GNU time (/usr/bin/time)" >&2; exit 1; }
if [ ! -f "$DIR/config.json" ]; then
    echo "writing the model to $DIR" >&2
    mkdir -p "$(dirname "$DIR")"   # make_model creates DIR itself, not its parents
    "$BUILD/make_model" --arch roberta --out "$DIR" --dim 1024 --ffn 4096 --layers 24 --heads 16 --vocab 50265 \
        --max-pos 512
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
/usr/bin/time -v "$BUILD/bbt" info --model "$DIR" --threads "$THREADS" > "$tmp/info.json" 2> "$tmp/info.time"
/usr/bin/time -v "$BUILD/bbt" bench --model "$DIR" --batch 8 --reps 3 --threads "$THREADS" > "$tmp/bench.json" \
    2> "$tmp/bench.time"
grep -q '"arch":"roberta"' "$tmp/info.json" && grep -q '"layers":24' "$tmp/info.json" || {
    echo "large_model.sh: unexpected info: $(cat "$tmp/info.json")" >&2; exit 1; }
bytes=$(stat -c %s "$DIR/model.safetensors")
/usr/bin/python3 - "$bytes" "$(peak "$tmp/info.time")" "$(peak "$tmp/bench.time")" "$(cat "$tmp/bench.json")" <<'PYEOF'
import json, sys
weights, f32_kb, bf16_kb, bench = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
out = {"weights_bytes": weights, "peak_rss_f32_bytes": f32_kb * 1024, "peak_rss_bf16_bytes": bf16_kb * 1024,
       "f32_over_weights": round(f32_kb * 1024 / weights, 3), "bf16_over_weights": round(bf16_kb * 1024 / weights, 3),
       "bench_s_per_batch": bench["s_per_batch"], "bench_rows": bench["rows"]}
print(json.dumps(out))
if out["f32_over_weights"] > 1.25:
    sys.exit("large_model.sh: the fp32 engine's peak memory is %.2f x the weights" % out["f32_over_weights"])
PYEOF
