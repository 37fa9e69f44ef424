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


echo "-- predict --probs and --format jsonl: each label's probability per input"
printf 'a gorgeous , witty movie .\n\nthe worst film of the year .\n' >"$work/in.txt"
"$BBT" predict --run "$work/run" "$work/in.txt" >"$work/labels"
"$BBT" predict --run "$work/run" --probs "$work/in.txt" >"$work/probs.tsv"
"$BBT" predict --run "$work/run" --format jsonl "$work/in.txt" >"$work/probs.jsonl"
python3 - "$work" <<'PY' || fail "predict --probs / --format jsonl: see above"
import csv, json, math, sys
w = sys.argv[1]
labels = open(w + "/labels").read().split("\n")[:-1]
assert labels[1] == "" and len(labels) == 3, labels                     # plain output unchanged: lines line up
rows = list(csv.DictReader(open(w + "/probs.tsv"), delimiter="\t"))
assert list(rows[0]) == ["line", "predicted", "p_bad", "p_great", "text"], list(rows[0])
assert [r["line"] for r in rows] == ["1", "3"], rows                   # the blank line is no example
objs = [json.loads(l) for l in open(w + "/probs.jsonl")]
for r, o, want in zip(rows, objs, [labels[0], labels[2]]):
    p = [float(r["p_bad"]), float(r["p_great"])]
    assert abs(sum(p) - 1) < 1e-5, p
    assert r["predicted"] == want == o["predicted"] == ["bad", "great"][p[1] > p[0]], (r, o, want)
    assert math.isclose(o["probs"]["great"], p[1], rel_tol=1e-5) and o["line"] == int(r["line"]) and o["text"] == r["text"]
PY
"$BBT" predict --help | grep -q -- '--probs' && "$BBT" predict --help | grep -q -- '--format tsv|jsonl' ||
    fail "predict --help lacks --probs or --format"
rc=0; "$BBT" predict --run "$work/run" --format csv "$work/in.txt" 2>"$work/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'format csv: expected tsv or jsonl' "$work/err" || fail "--format csv: exit $rc, $(cat "$work/err")"

echo "-- eval --per-example: the same per example of a labelled split, with the gold label"
"$BBT" eval --run "$work/run" --split dev --per-example "$work/dev.tsv" >"$work/eval.json"
"$BBT" eval --run "$work/run" --split dev --per-example "$work/dev.jsonl" >/dev/null
python3 - "$work" <<'PY' || fail "eval --per-example: see above"
import csv, json, sys
w = sys.argv[1]
ev = json.load(open(w + "/eval.json"))
assert ev["per_example"] == w + "/dev.tsv" and ev["n"] == 12, ev
assert ev["positive_class"] == 1 and ev["positive_label"] == "great" and "f1" in ev and "macro_f1" not in ev, ev
rows = list(csv.DictReader(open(w + "/dev.tsv"), delimiter="\t"))
assert list(rows[0]) == ["line", "gold", "correct", "predicted", "p_bad", "p_great", "text"], list(rows[0])
assert len(rows) == 12
sampled = {l.split("\t")[1]: l.split("\t")[2].strip() for l in open(w + "/s/dev.tsv").readlines()[1:]}
for r in rows:
    assert ["bad", "great"][int(sampled[r["text"]])] == r["gold"], r        # the gold label is the file's
    assert r["correct"] == str(int(r["gold"] == r["predicted"])), r
acc = sum(r["correct"] == "1" for r in rows) / len(rows)
assert abs(acc - ev["acc"]) < 1e-12, (acc, ev["acc"])                   # the same scores as the totals
objs = [json.loads(l) for l in open(w + "/dev.jsonl")]
assert [(o["gold"], o["predicted"], o["text"]) for o in objs] == [(r["gold"], r["predicted"], r["text"]) for r in rows]
PY

echo "-- more than two classes: macro_f1, per class, confusion; metric f1 trains on macro-F1 and says so"
printf '{"name": "news", "template": "{prompt} . {text} . This is <mask> News", "label_words": ["World", "Sports", "Business", "Tech"], "metric": "f1"}' >"$work/news.json"
# 16 examples of each split, 4 per class (the shared files are sorted by class); no test split: AG News's is 7,600 long
for split in train dev; do awk 'NR == 1 || NR % 4 == 2' "$ASSETS/tasks/agnews/16-13/$split.tsv" >"$work/news-$split.tsv"; done
"$BBT" tune --task-file "$work/news.json" --train "$work/news-train.tsv" --dev "$work/news-dev.tsv" --budget 4 --popsize 2 --dim 8 --prompt-len 4 \
    --dev-every 2 --loss f1 --threads 2 --out "$work/news" >"$work/news.summary" 2>"$work/news.err" || fail "tune news: $(cat "$work/news.err")"
grep -q '4 classes: F1 (the dev metric and the loss) is macro-F1' "$work/news.err" || fail "tune does not say F1 is macro-F1: $(cat "$work/news.err")"
"$BBT" eval --run "$work/news" --split dev >"$work/news.eval" 2>"$work/err" || fail "eval news: $(cat "$work/err")"
python3 - "$work" <<'PY' || fail "multi-class eval: see above"
import json, sys
w = sys.argv[1]
ev = json.load(open(w + "/news.eval"))
summary = json.load(open(w + "/news.summary"))
assert summary["dev_metric_name"] == "macro_f1" and "dev_macro_f1" in summary and "dev_f1" not in summary, summary
assert "f1" not in ev and "positive_class" not in ev, ev                 # no silent F1 of class 1
conf, per = ev["confusion"], ev["per_class"]
assert len(conf) == 4 and all(len(r) == 4 for r in conf) and sum(map(sum, conf)) == ev["n"], conf
assert [c["label"] for c in per] == ["World", "Sports", "Business", "Tech"], per
for c, k in enumerate(per):
    tp, support, predicted = conf[c][c], sum(conf[c]), sum(r[c] for r in conf)
    assert k["support"] == support and abs(k["recall"] - (tp / support if support else 0)) < 1e-12, k
    assert abs(k["precision"] - (tp / predicted if predicted else 0)) < 1e-12, k
present = [k["f1"] for c, k in enumerate(per) if k["support"] or sum(r[c] for r in conf)]
assert abs(ev["macro_f1"] - sum(present) / len(present)) < 1e-12, ev
assert abs(ev["acc"] - sum(conf[c][c] for c in range(4)) / ev["n"]) < 1e-12, ev
PY
"$BBT" eval --help | grep -q 'macro_f1' || fail "eval --help does not name macro_f1"

echo "-- the loss plot: at the end of bbt tune, and bbt plot RUN"
awk '/"loss_mean":/ { n++ } END { exit n != NR }' "$work/run/log.jsonl" || fail "log.jsonl lines lack loss_mean"
python3 - "$work/run/log.jsonl" <<'PY' || fail "log.jsonl: loss_mean is not the population's mean"
import json, sys
for l in open(sys.argv[1]):
    g = json.loads(l)
    assert g["loss_min"] <= g["loss_mean"], g
PY
if command -v gnuplot >/dev/null; then
    for run in run news; do
        [ "$(head -c 8 "$work/$run/loss.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$run/loss.png is not a PNG"
        grep -q '<svg' "$work/$run/loss.svg" || fail "$run/loss.svg is not an SVG"
    done
    grep -q 'gnuplot' "$work/tune.err" && fail "tune spoke of gnuplot although it is installed: $(cat "$work/tune.err")"
    grep -q 'kept: ' "$work/run/loss.gp" && grep -q 'population mean' "$work/run/loss.gp" || fail "loss.gp lacks the kept prompt or the mean"
    rm "$work/run/loss.png" "$work/run/loss.svg"
    "$BBT" plot "$work/run" 2>"$work/err" || fail "bbt plot: $(cat "$work/err")"
    [ -s "$work/run/loss.png" ] && [ -s "$work/run/loss.svg" ] || fail "bbt plot did not draw loss.png and loss.svg"
else
    echo "note: no gnuplot here: only its absence is checked"
fi
# no gnuplot: said once, loss.gp written, the run and the command still succeed
"$BBT" sample --input "$work/full.tsv" --k 6 --seed 5 --out "$work/s2" 2>/dev/null
env PATH=/nonexistent "$BBT" tune --task-file "$work/mine.json" --data "$work/s2" --budget 6 --popsize 6 --dim 8 --prompt-len 4 \
    --threads 2 --out "$work/nognuplot" >/dev/null 2>"$work/err" || fail "tune without gnuplot failed: $(cat "$work/err")"
[ "$(grep -c 'gnuplot not found on PATH' "$work/err")" = 1 ] || fail "tune without gnuplot: not said exactly once: $(cat "$work/err")"
[ -f "$work/nognuplot/loss.gp" ] && [ ! -e "$work/nognuplot/loss.png" ] || fail "tune without gnuplot: loss.gp missing or a PNG appeared"
env PATH=/nonexistent "$BBT" plot "$work/nognuplot" 2>"$work/err" || fail "bbt plot without gnuplot: exit $?"
grep -q 'gnuplot not found on PATH' "$work/err" || fail "bbt plot without gnuplot: $(cat "$work/err")"
# an unfinished run (no summary.json, no dev evaluation yet) is plotted as far as it went; a damaged log is named
mkdir -p "$work/unfinished"
cp "$work/run/config.json" "$work/unfinished/"
head -n 1 "$work/run/log.jsonl" | sed -E 's/,"dev_(mean|best)":[^,]*//g' >"$work/unfinished/log.jsonl"
"$BBT" plot "$work/unfinished" 2>"$work/err" || fail "bbt plot on an unfinished run: $(cat "$work/err")"
grep -q 'no dev evaluation yet' "$work/unfinished/loss.gp" || fail "unfinished run: loss.gp does not say there is no dev evaluation"
echo '{"evals": ' >>"$work/unfinished/log.jsonl"
rc=0; "$BBT" plot "$work/unfinished" 2>"$work/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'log.jsonl: line 2 is not a generation' "$work/err" || fail "damaged log: exit $rc, $(cat "$work/err")"
rc=0; "$BBT" plot 2>"$work/err" || rc=$?
[ "$rc" = 1 ] || fail "bbt plot without RUN: exit $rc"

echo "outputs: all checks passed"
