#!/usr/bin/env bash
# A user's run directory and data folder (issue 12, items 1, 2 and 7), on the real stories260K model with small splits:
#   - --data DIR --seed S reads each split from DIR/16-S/ first, then DIR/; the files used are printed and in
#     summary.json's "data" with their counts, blank examples and examples cut to fit the model included;
#   - one writer per run directory: two tunes started together, and a second tune or --force while a run is going, are
#     refused naming the live pid; a run.lock left by kill -9 blocks neither --force nor --resume;
#   - --resume on a finished run says it is finished (exit 0); --resume RUN --budget N extends a finished run exactly as
#     a run started with N (log and prompt identical, timings aside); a smaller budget is refused;
#   - log.jsonl names its dev metric; usage errors start with "bbt CMD:"; eval on plain text says it needs a table; a
#     header that names a column twice is refused; README and --help list the same choices.
# Run from the repository root with BUILD set (make test does this).
set -euo pipefail
BBT=${BUILD:-build}/bbt
ASSETS=../shared/assets
SST2=$ASSETS/tasks/sst2
work=$(mktemp -d /tmp/bbt-runs-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# One generation of 6 candidates per 6 evaluations; few, short examples: each run is a second or two under ASan.
tiny=(--popsize 6 --dim 8 --prompt-len 4 --threads 1)

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE PATTERN cmd...: the command exits with CODE and its stderr matches PATTERN.
expect() {
    local code=$1 pattern=$2; shift 2
    local rc=0
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code: $(cat "$work/err")"
    grep -qE -- "$pattern" "$work/err" || fail "$*: stderr lacks /$pattern/: $(cat "$work/err")"
}

# json FILE EXPR: a value of a JSON file (python3's json, as a user's script would read it)
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

strip_timings() {
    sed -E 's/"elapsed_s":[0-9.e+-]+//; s/"(wall_s|forward_s|other_s|evals_per_s)":[[:space:]]*[0-9.e+-]+,?//' "$1"
}

# small splits: 8 rows each of SST-2's seed-13 split
mkdir -p "$work/data/16-13"
head -n 9 "$SST2/16-13/train.tsv" >"$work/data/16-13/train.tsv"
head -n 9 "$SST2/16-13/dev.tsv" >"$work/data/16-13/dev.tsv"
head -n 9 "$SST2/test.tsv" >"$work/data/16-13/test.tsv"

echo "-- --data DIR --seed S: every split from DIR/16-S/ (test included), printed and in summary.json"
# train gets a blank example and one longer than stories260K's context (512 tokens; not much longer: the words are cut one
# at a time, each cut tokenizing the text again, and 1,500 words took 5 CPU seconds under ASan)
printf '\t1\n' >>"$work/data/16-13/train.tsv"
{ printf 'it was '; for i in $(seq 600); do printf 'very '; done; printf 'good\t1\n'; } >>"$work/data/16-13/train.tsv"
"$BBT" tune "${tiny[@]}" --budget 6 --data "$work/data" --seed 13 --out "$work/d1" >/dev/null 2>"$work/err" ||
    fail "tune --data: $(cat "$work/err")"
for s in train dev test; do
    grep -q "^bbt tune: $s: .*/data/16-13/$s.tsv (" "$work/err" || fail "stderr does not name 16-13/$s.tsv: $(cat "$work/err")"
    [ "$(json "$work/d1/summary.json" "d['data']['$s']['path'].endswith('/data/16-13/$s.tsv')")" = True ] ||
        fail "summary.json data.$s.path: $(json "$work/d1/summary.json" "d['data']")"
done
grep -q "^bbt tune: train: .*(10 examples, 1 blank, 1 cut to fit the model's context)" "$work/err" ||
    fail "the train line does not count 10 examples, 1 blank, 1 cut: $(cat "$work/err")"
[ "$(json "$work/d1/summary.json" "[d['data'][s][k] for s in ('train', 'dev', 'test') for k in ('examples', 'blank', 'truncated')]")" = \
    "[10, 1, 1, 8, 0, 0, 8, 0, 0]" ] || fail "summary.json data counts: $(json "$work/d1/summary.json" "d['data']")"
[ "$(json "$work/d1/summary.json" "d['test_acc'] is not None")" = True ] || fail "the run has no test score"

echo "-- the shared layout: train/dev in 16-S/, test.tsv beside it; and a flat folder"
mkdir -p "$work/mixed/16-21" "$work/flat"
head -n 9 "$SST2/16-21/train.tsv" >"$work/mixed/16-21/train.tsv"
head -n 9 "$SST2/16-21/dev.tsv" >"$work/mixed/16-21/dev.tsv"
head -n 9 "$SST2/test.tsv" >"$work/mixed/test.tsv"
cp "$work/mixed/16-21/"*.tsv "$work/flat/"
"$BBT" tune "${tiny[@]}" --budget 6 --data "$work/mixed" --seed 21 --out "$work/d2" >/dev/null 2>"$work/err" ||
    fail "tune --data mixed: $(cat "$work/err")"
grep -q "^bbt tune: test: .*/mixed/test.tsv (8 examples)" "$work/err" || fail "test.tsv beside 16-21/: $(cat "$work/err")"
grep -q "^bbt tune: train: .*/mixed/16-21/train.tsv" "$work/err" || fail "train from 16-21/: $(cat "$work/err")"
"$BBT" tune "${tiny[@]}" --budget 6 --data "$work/flat" --seed 21 --out "$work/d3" >/dev/null 2>"$work/err" ||
    fail "tune --data flat: $(cat "$work/err")"
grep -q "^bbt tune: test: none" "$work/err" || fail "no test split is not said: $(cat "$work/err")"
[ "$(json "$work/d3/summary.json" "d['data']['test']")" = None ] || fail "summary.json data.test is not null"
rm "$work/flat/dev.tsv"
expect 2 'no dev.tsv' "$BBT" tune "${tiny[@]}" --budget 6 --data "$work/flat" --seed 21 --out "$work/d4"

echo "-- one writer per run directory: two tunes started together"
"$BBT" tune "${tiny[@]}" --budget 36 --data "$work/data" --out "$work/two" >/dev/null 2>"$work/e1" & p1=$!
"$BBT" tune "${tiny[@]}" --budget 36 --data "$work/data" --out "$work/two" >/dev/null 2>"$work/e2" & p2=$!
pids+=("$p1" "$p2")
r1=0; r2=0; wait "$p1" || r1=$?; wait "$p2" || r2=$?
if [ $r1 = 0 ] && [ $r2 = 2 ]; then loser=e2 winner=$p1
elif [ $r2 = 0 ] && [ $r1 = 2 ]; then loser=e1 winner=$p2
else fail "two tunes on one --out exited $r1 and $r2 (expected one 0, one 2): $(cat "$work/e1" "$work/e2")"; fi
grep -q "is in use: another bbt (pid $winner) is writing this run" "$work/$loser" ||
    fail "the refused tune does not name pid $winner: $(cat "$work/$loser")"
[ "$(wc -l <"$work/two/log.jsonl")" = 6 ] || fail "log.jsonl has $(wc -l <"$work/two/log.jsonl") lines, expected 6"
[ "$(json "$work/two/summary.json" "d['evals']")" = 36 ] || fail "summary.json of the run that got the lock"

echo "-- a second writer while a run is going is refused, --force too; kill -9 leaves run.lock, which blocks nothing"
# The first run reads its training file from a FIFO that nobody writes: it holds the lock (taken before any file is
# read) and waits there for as long as the checks take, on a loaded machine or a quiet one.
mkfifo "$work/never.tsv"
"$BBT" tune "${tiny[@]}" --budget 24 --train "$work/never.tsv" --dev "$work/data/16-13/dev.tsv" --out "$work/busy" \
    >/dev/null 2>&1 & p=$!
pids+=("$p")
for _ in $(seq 600); do [ "$(cat "$work/busy/run.lock" 2>/dev/null)" = "$p" ] && break; sleep 0.05; done
expect 2 "is in use: another bbt \(pid $p\)" "$BBT" tune "${tiny[@]}" --budget 24 --data "$work/data" --out "$work/busy"
expect 2 "is in use: another bbt \(pid $p\)" "$BBT" tune "${tiny[@]}" --budget 24 --force --data "$work/data" --out "$work/busy"
kill -9 "$p"; wait "$p" 2>/dev/null || true
[ "$(cat "$work/busy/run.lock")" = "$p" ] || fail "run.lock does not hold the dead run's pid"
"$BBT" tune "${tiny[@]}" --budget 24 --force --data "$work/data" --out "$work/busy" >/dev/null 2>"$work/err" ||
    fail "--force after kill -9: $(cat "$work/err")"
# a run killed (or finished) after its first checkpoint: --resume is not blocked by the dead pid's run.lock
"$BBT" tune "${tiny[@]}" --budget 24 --data "$work/data" --out "$work/killed" >/dev/null 2>&1 & p=$!
pids+=("$p")
for _ in $(seq 600); do [ -f "$work/killed/checkpoint.bin" ] && break; sleep 0.05; done
kill -9 "$p"; wait "$p" 2>/dev/null || true
[ "$(cat "$work/killed/run.lock")" = "$p" ] || fail "run.lock does not hold the killed run's pid"
"$BBT" tune --resume "$work/killed" >/dev/null 2>"$work/err" || fail "--resume after kill -9: $(cat "$work/err")"
[ "$(json "$work/killed/summary.json" "d['evals']")" = 24 ] || fail "the resumed run did not finish"

echo "-- --resume on a finished run says so; --resume --budget N extends it exactly as a run started with N"
# dev every 10 evaluations, 6 per generation: budget 18 ends with a dev round only because it is the last generation
ext=("${tiny[@]}" --dev-every 10 --checkpoint-every 2 --data "$work/data")
"$BBT" tune "${ext[@]}" --budget 18 --out "$work/ext" >/dev/null 2>&1 || fail "tune --budget 18"
expect 0 "is finished: 18 evaluations of its budget of 18; nothing to resume" "$BBT" tune --resume "$work/ext"
cmp -s "$work/out" "$work/ext/summary.json" || fail "--resume of a finished run does not print its summary"
expect 2 "less than the run's budget 18" "$BBT" tune --resume "$work/ext" --budget 12
"$BBT" tune --resume "$work/ext" --budget 36 >/dev/null 2>"$work/err" || fail "--resume --budget 36: $(cat "$work/err")"
"$BBT" tune "${ext[@]}" --budget 36 --out "$work/straight" >/dev/null 2>&1 || fail "tune --budget 36"
for f in config.json prompt.json prompt.safetensors; do
    cmp -s "$work/ext/$f" "$work/straight/$f" || fail "$f differs between the extended run and a straight --budget 36 run"
done
for f in log.jsonl summary.json; do
    diff <(strip_timings "$work/ext/$f") <(strip_timings "$work/straight/$f") >&2 ||
        fail "$f differs (beyond timings) between the extended run and a straight --budget 36 run"
done

echo "-- log.jsonl names its dev metric; the kept value is the best so far"
grep -q '"dev_metric":"acc"' "$work/straight/log.jsonl" || fail "log.jsonl lacks dev_metric: $(head -n 3 "$work/straight/log.jsonl")"
python3 - "$work/straight/log.jsonl" <<'EOF' || fail "dev_kept is not the running best of dev_mean/dev_best"
import json, sys
kept = None
for line in open(sys.argv[1]):
    g = json.loads(line)
    if "dev_kept" in g:
        best = max(v for v in (g.get("dev_mean"), g.get("dev_best"), kept) if v is not None)
        assert g["dev_kept"] >= best - 1e-9, (g, best)
        kept = g["dev_kept"]
EOF

echo "-- usage errors start with 'bbt CMD:'"
expect 1 '^bbt tune: unknown option "--bugdet"' "$BBT" tune --bugdet 10
expect 1 '^bbt eval: --threads: "x" is not a valid integer' "$BBT" eval --run "$work/ext" --threads x
expect 1 '^bbt predict: --run needs a value' "$BBT" predict --run
expect 1 '^bbt sample: unexpected argument' "$BBT" sample stray

echo "-- eval on plain text says it needs a labelled table; a header naming a column twice is refused"
printf 'a fine film\nawful\n' >"$work/plain.txt"
expect 2 "plain.txt: eval needs a labelled table" "$BBT" eval --run "$work/ext" --split "$work/plain.txt"
printf 'text\ttext\tlabel\na\tb\t1\n' >"$work/dup.tsv"
expect 2 'dup.tsv: line 1: the header names column "text" twice' "$BBT" eval --run "$work/ext" --split "$work/dup.tsv"
expect 2 'dup.tsv: line 1: the header names column "text" twice' \
    "$BBT" tune "${tiny[@]}" --budget 6 --train "$work/dup.tsv" --dev "$work/data/16-13/dev.tsv" --out "$work/d5"

echo "-- README and --help list the same choices"
# bbt tune --help writes a choice setting as "...: a, b or c (default x)" or with a metavar "a|b|c" (eval, predict too)
{ "$BBT" tune --help; "$BBT" eval --help; "$BBT" predict --help; } | awk '
    /^  --[a-z-]+ / { opt = $1 }
    match($0, /: [a-z0-9]+(, [a-z0-9]+)* or [a-z0-9]+ \(default/) {
        s = substr($0, RSTART + 2, RLENGTH - 11); gsub(/, | or /, "|", s); print opt, s }
    /^  --[a-z-]+ [a-zA-Z0-9]+(\|[a-zA-Z0-9]+)+/ { print $1, $2 }' >"$work/choices"
[ "$(wc -l <"$work/choices")" -ge 9 ] || fail "found only $(wc -l <"$work/choices") choice settings in bbt tune --help"
while read -r opt choices; do
    grep -qF -- "\`$opt $choices\`" <(sed 's/\\|/|/g' bbt/README.md README.md) ||
        fail "bbt/README.md does not list \`$opt $choices\` as --help does"
done <"$work/choices"

echo "runs: all passed"
