#!/usr/bin/env bash
# End-to-end checks of BERT, RoBERTa and GPT-2 shaped models through the `bbt` commands (run from the repository root
# with BUILD set, as `make test` does): random-weight models written by make_model, with the small tokenizer files of
# tests/models/data (tests/reference/make_test_tokenizers.py), go through `bbt info`, `bbt tokenize`, `bbt bench` and
# a short `bbt tune` on SST-2 (masked LMs read at <mask> in add and cat mode; GPT-2 scores " bad" / " great" as
# continuations); bad model directories and bad tasks get clear errors and the documented exit code.
set -euo pipefail
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "encoders.sh: FAIL: $*" >&2; exit 1; }

# mk ARCH VOCAB: a small random model of that architecture with its tokenizer files
mk() {
    "$BUILD/make_model" --arch "$1" --out "$TMP/$1" --dim 32 --ffn 64 --layers 2 --heads 4 --vocab "$2" --max-pos 128
    cp tests/models/data/"$1"/* "$TMP/$1/"
}
mk roberta 420
mk bert 260
mk gpt2 407   # the tokenizer's size: config.json's bos/eos (vocab - 1) is then its <|endoftext|>, as in GPT-2

# 1. bbt info: architecture, kind, sizes, special tokens
info=$($BBT info --model "$TMP/roberta")
for f in '"arch":"roberta"' '"kind":"masked"' '"hidden":32' '"layers":2' '"ffn":64' '"vocab":420' '"max_pos":128' \
         '"tokenizer":"byte-bpe"' '"bos":0' '"pad":1' '"eos":2' '"mask":410' '"embedding_std":0.49'; do
    [[ "$info" == *"$f"* ]] || fail "roberta info lacks $f: $info"
done
info=$($BBT info --model "$TMP/bert")
for f in '"arch":"bert"' '"kind":"masked"' '"tokenizer":"wordpiece"' '"mask":4' '"cls":2' '"sep":3' '"pad":0'; do
    [[ "$info" == *"$f"* ]] || fail "bert info lacks $f: $info"
done
info=$($BBT info --model "$TMP/gpt2")
for f in '"arch":"gpt2"' '"kind":"causal"' '"tokenizer":"byte-bpe"' '"tied_head":true'; do
    [[ "$info" == *"$f"* ]] || fail "gpt2 info lacks $f: $info"
done

# 1b. config.json's special-token ids are the tokenizer's (the engine takes the tokenizer's; a model writer that put
#     other ids into config.json would describe another tokenizer than the one it is tested with)
for arch in roberta bert gpt2; do
    /usr/bin/python3 - "$TMP/$arch/config.json" "$($BBT info --model "$TMP/$arch")" <<'PY' || fail "$arch: config.json and tokenizer disagree on special ids"
import json, sys
config, info = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
special = info["special"]
for key, name in (("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "pad")):
    if key in config and config[key] != special.get(name):
        sys.exit("%s: %s = %s, the tokenizer's %s is %s" % (sys.argv[1], key, config[key], name, special.get(name)))
PY
done

# 2. label words as the reference BBT code takes them for RoBERTa: the word without a leading space is another token
#    than the word with one, and templates get <s> ... </s>
plain=$(echo "great" | $BBT tokenize --tokenizer "$TMP/roberta" --no-special)
spaced=$(echo " great" | $BBT tokenize --tokenizer "$TMP/roberta" --no-special)
[ -n "$plain" ] && [ "$plain" != "$spaced" ] || fail "\"great\" ($plain) and \" great\" ($spaced) tokenize alike"
wrapped=$(echo "great" | $BBT tokenize --tokenizer "$TMP/roberta")
[ "$wrapped" = "0 $plain 2" ] || fail "<s> great </s> is '$wrapped', not '0 $plain 2'"

# 3. bbt bench reads a masked LM at a mask token; a masked LM does not generate
$BBT bench --model "$TMP/roberta" --batch 4 --seq 40 --prompt-tokens 8 --reps 1 --threads 2 | grep -q '"arch":"roberta"' \
    || fail "bench on roberta"
code() { set +e; "$@" > "$TMP/out" 2> "$TMP/err"; echo $?; set -e; }
[ "$(code $BBT generate --model "$TMP/bert" --prompt "it was")" = 3 ] || fail "generate on a masked LM: $(cat "$TMP/err")"
grep -q "does not generate" "$TMP/err" || fail "generate on a masked LM: $(cat "$TMP/err")"

# 4. a short bbt tune on each (the loop, the scorer and the encoder end to end)
tune() { # tune NAME MODEL MODE
    $BBT tune --model "$TMP/$2" --task sst2 --budget 40 --popsize 4 --dim 16 --prompt-len 4 --prompt-mode "$3" \
        --threads 2 --out "$TMP/run-$1" > "$TMP/$1.json" || fail "tune $1: $(cat "$TMP/$1.json")"
    grep -qE '"evals":[[:space:]]*40,' "$TMP/$1.json" || fail "tune $1 did not spend its budget: $(cat "$TMP/$1.json")"
    grep -qE '"test_acc":[[:space:]]*0\.[0-9]' "$TMP/$1.json" || fail "tune $1 has no test accuracy"
}
tune roberta-add roberta add
tune roberta-cat roberta cat
tune bert-add bert add
tune gpt2-add gpt2 add
tune gpt2-cat gpt2 cat

# 5. bad input: each a clear error naming what is wrong, exit code 2
bad() { # bad DIR PATTERN [command...]: bbt info on DIR fails with exit 2 and a message matching PATTERN
    local dir=$1 pattern=$2
    [ "$(code $BBT info --model "$dir")" = 2 ] || fail "bbt info $dir: exit code $(code $BBT info --model "$dir")"
    grep -qE -- "$pattern" "$TMP/err" || fail "bbt info $dir: message lacks /$pattern/: $(cat "$TMP/err")"
}
cp -r "$TMP/roberta" "$TMP/nomerges" && rm "$TMP/nomerges/merges.txt"
bad "$TMP/nomerges" "merges.txt"
cp -r "$TMP/roberta" "$TMP/badmerges" && printf '#version: 0.2\nĠ zzz\n' > "$TMP/badmerges/merges.txt"
bad "$TMP/badmerges" 'merges.txt: line 2.*"zzz" is not in the vocabulary'
cp -r "$TMP/roberta" "$TMP/smallvocab" && sed -i 's/"vocab_size":[[:space:]]*420/"vocab_size": 300/' "$TMP/smallvocab/config.json"
bad "$TMP/smallvocab" "roberta.embeddings.word_embeddings.weight' has shape \[420, 32\] but config.json implies \[300, 32\]"
cp -r "$TMP/bert" "$TMP/wide" && sed -i 's/"hidden_size":[[:space:]]*32/"hidden_size": 48/' "$TMP/wide/config.json"
bad "$TMP/wide" "has shape \[260, 32\] but config.json implies \[260, 48\]"
# a tokenizer with more tokens than the model's vocabulary
"$BUILD/make_model" --arch bert --out "$TMP/toomanytok" --dim 32 --ffn 64 --layers 2 --heads 4 --vocab 200 --max-pos 128
cp tests/models/data/bert/vocab.txt "$TMP/toomanytok/"
bad "$TMP/toomanytok" "the tokenizer has 256 tokens but the model's vocabulary only 200"
cp -r "$TMP/gpt2" "$TMP/gpt2heads" && sed -i 's/"n_head":[[:space:]]*4/"n_head": 5/' "$TMP/gpt2heads/config.json"
bad "$TMP/gpt2heads" "n_embd 32 is not a multiple of n_head 5"
# a label word that tokenizes to nothing (WordPiece drops control characters and whitespace)
printf '{"name":"blank","template":"{prompt} {text} It was <mask> .","label_words":["great"," \\t "]}\n' > "$TMP/blank.json"
[ "$(code $BBT tune --model "$TMP/bert" --task-file "$TMP/blank.json" --data ../shared/assets/tasks/sst2/16-13 \
       --budget 8 --popsize 4 --dim 4 --prompt-len 2 --out "$TMP/run-blank")" = 2 ] \
    || fail "a blank label word: exit code, $(cat "$TMP/err")"
grep -q 'label word " 	 " (class 1) tokenizes to nothing' "$TMP/err" || fail "a blank label word: $(cat "$TMP/err")"
echo "encoders.sh: all passed"
