#!/usr/bin/env bash
# End-to-end checks of the model commands of `bbt` (run from the repository root with BUILD set, as `make test` does):
# stories260K's known greedy continuation through `bbt generate`, the JSON of `bbt info` and `bbt bench`, a random
# Hugging Face model written by make_model, and the exit codes of bad usage and bad input.
set -euo pipefail
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
MODEL=../shared/assets/models/stories260K
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "commands.sh: FAIL: $*" >&2; exit 1; }

# 1. The known greedy output (shared/assets/SOURCES.md), in fp32 and bf16.
want="Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."
for dtype in f32 bf16; do
    got=$($BBT generate --model $MODEL --prompt "Once upon a time" --max-tokens 40 --dtype $dtype --threads 2)
    [ "$got" = "$want" ] || fail "generate ($dtype): got '$got'"
done
# the checkpoint file itself works too, and sampling with a seed is reproducible
a=$($BBT generate --model $MODEL/stories260K.bin --prompt "Lily" --max-tokens 30 --temperature 0.9 --seed 7)
b=$($BBT generate --model $MODEL --prompt "Lily" --max-tokens 30 --temperature 0.9 --seed 7)
[ "$a" = "$b" ] || fail "sampling with the same seed differs: '$a' vs '$b'"
[ "${a#Lily}" != "$a" ] || fail "generated text does not start with the prompt: '$a'"

# 2. bbt info
info=$($BBT info --model $MODEL)
for field in '"arch":"llama"' '"hidden":64' '"layers":5' '"heads":8' '"kv_heads":4' '"vocab":512' '"max_pos":512' \
             '"tokenizer":"llama2c"' '"bos":1' '"eos":2' '"embedding_std":0.30'; do
    [[ "$info" == *"$field"* ]] || fail "info lacks $field: $info"
done

# 3. bbt bench prints one JSON line with the required fields
bench=$($BBT bench --model $MODEL --batch 4 --seq 40 --prompt-tokens 10 --prompts 2 --reps 2 --threads 2)
for field in s_per_batch tokens_per_s gflops evals_per_s; do
    [[ "$bench" == *"\"$field\":"* ]] || fail "bench lacks $field: $bench"
done
[ "$(echo "$bench" | wc -l)" = 1 ] || fail "bench printed more than one line"
# the 4 sequences of a prompt share BOS + 10 prompt rows: computed once per unit unless --no-prefix-share
[[ "$bench" == *'"rows":320,'* && "$bench" != *'"rows_computed":320,'* ]] || fail "bench shared no prefix: $bench"
bench=$($BBT bench --model $MODEL --batch 4 --seq 40 --prompt-tokens 10 --prompts 2 --reps 1 --no-prefix-share)
[[ "$bench" == *'"rows_computed":320,'* ]] || fail "bench --no-prefix-share: $bench"
bench=$($BBT bench --model $MODEL --batch 3 --prompts 2 --reps 1 --tsv ../shared/assets/tasks/sst2/16-13/train.tsv)
[[ "$bench" == *'"batch":3'* ]] || fail "bench --tsv: $bench"

# 4. a random Hugging Face model from make_model, in bf16 storage, sharded
$BUILD/make_model --out "$TMP/hf" --dim 32 --ffn 64 --layers 2 --heads 4 --kv-heads 2 --vocab 50 --max-pos 64 \
    --dtype bf16 --shards 2 --untied
[ -f "$TMP/hf/model.safetensors.index.json" ] || fail "make_model wrote no index"
info=$($BBT info --model "$TMP/hf")
[[ "$info" == *'"hidden":32'* && "$info" == *'"tied_head":false'* && "$info" == *'"tokenizer":null'* ]] \
    || fail "info on the random model: $info"
$BBT bench --model "$TMP/hf" --batch 2 --seq 20 --prompt-tokens 5 --reps 1 --dtype f32 > /dev/null
$BUILD/make_model --out "$TMP/m.bin" --format llama2c --dim 32 --ffn 64 --layers 2 --heads 4 --vocab 50 --max-pos 64
$BBT info --model "$TMP/m.bin" > /dev/null

# 5. exit codes: usage 1, input 2
code() { set +e; "$@" > /dev/null 2>&1; echo $?; set -e; }
[ "$(code $BBT generate --prompt x)" = 1 ] || fail "missing --model is not a usage error"
[ "$(code $BBT generate --model $MODEL --prompt x --max-tokens -3)" = 1 ] || fail "negative --max-tokens"
[ "$(code $BBT bench --model $MODEL --dtype f16)" = 1 ] || fail "bad --dtype"
[ "$(code $BBT bench --model $MODEL --seq 600 --reps 1)" = 1 ] || fail "--seq beyond the model's positions"
[ "$(code $BBT info --model $MODEL --bogus 1)" = 1 ] || fail "unknown option"
[ "$(code $BBT info --model "$TMP/nothing")" = 2 ] || fail "missing model is not an input error"
[ "$(code $BBT generate --model "$TMP/hf" --prompt x)" = 2 ] || fail "generate without a tokenizer"
$BBT generate --help | grep -q -- --max-tokens || fail "generate --help"
$BBT bench --help | grep -q -- --prompt-tokens || fail "bench --help"
$BBT info --help | grep -q -- embedding || fail "info --help"
echo "commands.sh: all passed"
