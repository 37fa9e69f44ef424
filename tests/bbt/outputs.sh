#!/usr/bin/env bash
# What a user's own task produces besides the prompt (issue 12, items 3-6), on the real stories260K model:
#   - bbt sample keeps the input's header and columns (a task file naming them reads the sampled files), and drops
#     repeated texts before the split so that train and dev never share one;
#   - predict --probs / --format jsonl and eval --per-example give each label's probability per input;
#   - eval's JSON names its F1 (binary: f1 and the positive class; more classes: macro_f1, per class, confusion);
#   - bbt plot and the end of bbt tune draw RUN/loss.png and RUN/loss.svg, or say once that gnuplot is missing.
# Run from the repository root with BUILD set (make test does this).
set -euo pipefail
BBT=${BUILD:-build}/bbt
ASSETS=../shared/assets
work=$(mktemp -d /tmp/bbt-outputs-XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "-- sample keeps the input's columns and drops repeated texts"
# 12 distinct texts per class, each twice, one repeat with the other label; a column of ids the task does not read
{
    printf 'id\tsentence\tlabel\n'
    for i in $(seq 0 23); do printf '%d\tmovie number %d was %s\t%d\n' "$i" "$i" "$([ $((i % 2)) = 1 ] && echo great || echo awful)" $((i % 2)); done
    for i in $(seq 0 23); do printf '%d\tmovie number %d was %s\t%d\n' "$((i + 100))" "$i" "$([ $((i % 2)) = 1 ] && echo great || echo awful)" $(((i + (i == 4)) % 2)); done
} >"$work/full.tsv"
"$BBT" sample --input "$work/full.tsv" --k 6 --seed 5 --out "$work/s" 2>"$work/sample.err" || fail "sample: $(cat "$work/sample.err")"
grep -q '48 rows, 24 duplicates dropped (same text as an earlier row; 1 of them with another label' "$work/sample.err" ||
    fail "sample does not say how many duplicates it dropped: $(cat "$work/sample.err")"
grep -q 'columns id, sentence, label' "$work/sample.err" || fail "sample does not name the columns: $(cat "$work/sample.err")"
for split in train dev; do
    [ "$(head -n 1 "$work/s/$split.tsv")" = "$(printf 'id\tsentence\tlabel')" ] ||
        fail "$split.tsv header is not the input's: $(head -n 1 "$work/s/$split.tsv")"
    [ "$(wc -l <"$work/s/$split.tsv")" = 13 ] || fail "$split.tsv has $(wc -l <"$work/s/$split.tsv") lines, expected 13"
done
# every text once in all: k = 6 takes all 12 distinct texts of each class, so a repeat would have to cross the splits
[ -z "$(tail -n +2 -q "$work/s/train.tsv" "$work/s/dev.tsv" | cut -f 2 | sort | uniq -d)" ] ||
    fail "train and dev share a text: $(tail -n +2 -q "$work/s/train.tsv" "$work/s/dev.tsv" | cut -f 2 | sort | uniq -d)"
awk -F'\t' 'FNR > 1 && $1 + 0 >= 100 { bad = 1 } END { exit bad }' "$work/s/train.tsv" "$work/s/dev.tsv" ||
    fail "a repeated row was kept instead of the first"
"$BBT" sample --input "$work/full.tsv" --k 6 --seed 5 --out "$work/sn" --normalise 2>/dev/null
[ "$(head -n 1 "$work/sn/train.tsv")" = "$(printf 'text\tlabel')" ] || fail "--normalise: $(head -n 1 "$work/sn/train.tsv")"
diff <(tail -n +2 "$work/s/train.tsv" | cut -f 2,3) <(tail -n +2 "$work/sn/train.tsv") >/dev/null ||
    fail "--normalise drew other rows than the default layout"
"$BBT" sample --help | grep -q -- '--normalise' || fail "sample --help lacks --normalise"

echo "-- a task file naming the input's column reads the sampled files"
printf '{"name": "mine", "template": "{text} It was <mask> .", "label_words": ["bad", "great"], "columns": {"text": "sentence"}}' >"$work/mine.json"
"$BBT" tune --task-file "$work/mine.json" --data "$work/s" --budget 12 --popsize 6 --dim 8 --prompt-len 4 --dev-every 6 \
    --threads 2 --out "$work/run" >/dev/null 2>"$work/tune.err" || fail "tune on the sampled files: $(cat "$work/tune.err")"

echo "outputs: all checks passed"
