#!/usr/bin/env bash
# End-to-end checks of `bbt tune` and friends on the real stories260K model and the shared SST-2 split:
#   - the same command and seed give the same run directory (timings aside), bit for bit in z;
#   - kill -9 in the middle, then --resume, gives the same final prompt as an uninterrupted run;
#   - Ctrl-C writes a checkpoint and exits resumably;
#   - the training loss falls; eval, predict, sample and tasks work;
#   - bad input gets a clear error and the documented exit code; a damaged checkpoint is never overwritten.
# Run from the repository root with BUILD set (make test does this).
set -euo pipefail
BBT=${BUILD:-build}/bbt
ASSETS=../shared/assets
work=$(mktemp -d /tmp/bbt-e2e-XXXXXX)
trap 'rm -rf "$work"' EXIT

# A small run: a few generations, so the sanitizer build stays quick.
small=(--budget 120 --popsize 6 --dim 32 --prompt-len 8 --dev-every 24 --checkpoint-every 2 --threads 2)

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE PATTERN cmd...: the command exits with CODE and its stderr matches PATTERN.
expect() {
    local code=$1 pattern=$2; shift 2
    local rc=0
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code: $(cat "$work/err")"
    grep -qE -- "$pattern" "$work/err" || fail "$*: stderr lacks /$pattern/: $(cat "$work/err")"
}

# A run directory's files with the timing fields taken out.
strip_timings() {
    sed -E 's/"elapsed_s":[0-9.e+-]+//; s/"(wall_s|forward_s|other_s|evals_per_s)":[[:space:]]*[0-9.e+-]+,?//' "$1"
}

same_run() {
    local a=$1 b=$2
    for f in config.json prompt.json prompt.safetensors; do
        cmp -s "$a/$f" "$b/$f" || fail "$f differs between $a and $b"
    done
    for f in log.jsonl summary.json; do
        diff <(strip_timings "$a/$f") <(strip_timings "$b/$f") >/dev/null || fail "$f differs (beyond timings) between $a and $b"
    done
}

echo "-- determinism: same command, same run directory"
"$BBT" tune "${small[@]}" --out "$work/a" >"$work/a.json"
grep -qE '"label_space":[[:space:]]*1,' "$work/a/config.json" ||
    fail "config.json does not say how label words were scored for a causal model (label_space 1): $(grep label_space "$work/a/config.json")"
"$BBT" tune "${small[@]}" --out "$work/b" >/dev/null
same_run "$work/a" "$work/b"
grep -qE '"evals":[[:space:]]*120,' "$work/a.json" || fail "summary lacks evals 120: $(cat "$work/a.json")"

echo "-- the log is consistent: every generation's best loss is at most its median"
awk '{ match($0, /"loss_min":[-0-9.e+]+/); lo = substr($0, RSTART + 11, RLENGTH - 11) + 0
       match($0, /"loss_median":[-0-9.e+]+/); md = substr($0, RSTART + 14, RLENGTH - 14) + 0
       if (lo > md) { print "line " NR ": loss_min " lo " > loss_median " md; bad = 1 } } END { exit bad }' \
    "$work/a/log.jsonl" || fail "log.jsonl has a generation whose loss_min exceeds its loss_median"

echo "-- the training loss falls"
falls=$(awk -F'[:,]' '/"train_loss_initial"/{i=$2} /"train_loss_best"/{b=$2} END{print (b < i) ? "ok" : "no"}' "$work/a/summary.json")
[ "$falls" = ok ] || fail "train_loss_best is not below train_loss_initial: $(cat "$work/a/summary.json")"
for key in task model seed budget evals train_loss_initial train_loss_best dev_acc test_acc untuned_test_acc wall_s forward_s evals_per_s; do
    grep -q "\"$key\"" "$work/a/summary.json" || fail "summary.json lacks $key"
done

echo "-- kill -9 in the middle, then --resume"
"$BBT" tune "${small[@]}" --out "$work/k" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ -f "$work/k/checkpoint.bin" ] && [ "$(wc -l 2>/dev/null <"$work/k/log.jsonl" || echo 0)" -ge 5 ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ -f "$work/k/summary.json" ] && echo "note: the run finished before the kill; resume then only re-finishes it"
"$BBT" tune --resume "$work/k" >/dev/null
same_run "$work/a" "$work/k"

echo "-- Ctrl-C writes a checkpoint and exits resumably"
"$BBT" tune "${small[@]}" --budget 3000 --out "$work/c" >/dev/null 2>"$work/c.err" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(wc -l 2>/dev/null <"$work/c/log.jsonl" || echo 0)" -ge 2 ] && break
    sleep 0.05
done
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "interrupted run exited $rc, expected 130"
grep -q -- "--resume" "$work/c.err" || fail "interrupt message does not say how to resume"
[ -f "$work/c/checkpoint.bin" ] || fail "no checkpoint after Ctrl-C"

echo "-- a run killed before its first generation can be resumed"
"$BBT" tune "${small[@]}" --checkpoint-every 1000 --out "$work/early" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$work/early/checkpoint.bin" ] && break; sleep 0.02; done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
expect 2 'has not finished' "$BBT" eval --run "$work/early"
"$BBT" tune --resume "$work/early" >/dev/null
cmp -s "$work/a/prompt.json" "$work/early/prompt.json" || fail "the run resumed from its first checkpoint kept another prompt"

echo "-- every built-in task runs (one generation each)"
# Each on the first 8 rows of its 16-shot train and dev splits and the first 32 of its test set (yelpp has none):
# scoring a whole test set under ASan took minutes per task (agnews 7,600 rows, snli 9,824), and long texts cut to fit
# the model cost more than their scoring; run "a" above reads a whole split and test set (sst2) already.
for task in sst2 yelpp agnews dbpedia mrpc rte snli; do
    mkdir -p "$work/data-$task/16-13"
    for split in train dev; do head -n 9 "$ASSETS/tasks/$task/16-13/$split.tsv" >"$work/data-$task/16-13/$split.tsv"; done
    [ -f "$ASSETS/tasks/$task/test.tsv" ] && head -n 33 "$ASSETS/tasks/$task/test.tsv" >"$work/data-$task/test.tsv"
    "$BBT" tune --task "$task" --data "$work/data-$task" --budget 2 --popsize 2 --dim 8 --prompt-len 4 --threads 2 \
        --out "$work/task-$task" >/dev/null 2>&1 || fail "task $task does not run"
done

echo "-- eval and predict"
"$BBT" eval --run "$work/a" --split dev >"$work/eval.json"
grep -q '"n":32' "$work/eval.json" || fail "eval on dev: $(cat "$work/eval.json")"
expect 2 'split devv: not dev, test or train, and no such file' "$BBT" eval --run "$work/a" --split devv
expect 2 'stdin.: no input: it is empty or holds only blank lines' "$BBT" predict --run "$work/a" </dev/null
printf 'a gorgeous , witty , seductive movie .\nthe worst film of the year .\n' | "$BBT" predict --run "$work/a" >"$work/pred"
[ "$(wc -l <"$work/pred")" = 2 ] || fail "predict printed $(wc -l <"$work/pred") lines for 2 inputs"
grep -qvE '^(bad|great)$' "$work/pred" && fail "predict printed something other than label words: $(cat "$work/pred")"
printf 'a gorgeous , witty , seductive movie .\n\n\nthe worst film of the year .\n' | "$BBT" predict --run "$work/a" >"$work/pred_blank"
[ "$(sed -n 2,3p "$work/pred_blank" | tr -d '\n')" = "" ] && [ "$(wc -l <"$work/pred_blank")" = 4 ] ||
    fail "predict on text with blank lines: output lines do not line up with input lines: $(cat -A "$work/pred_blank")"
[ "$(sed -n 4p "$work/pred_blank")" = "$(sed -n 2p "$work/pred")" ] || fail "predict: a blank line changed a prediction"
"$BBT" predict --run "$work/a" --index "$ASSETS/tasks/sst2/16-13/dev.tsv" >"$work/pred2"
[ "$(wc -l <"$work/pred2")" = 32 ] || fail "predict on a TSV file: $(wc -l <"$work/pred2") lines"
printf '\xef\xbb\xbftext\tlabel\r\ngood movie\t1\r\nbad\t0\r\n' >"$work/bom.tsv"   # a spreadsheet's export
"$BBT" predict --run "$work/a" "$work/bom.tsv" >"$work/pred3" || fail "predict on a TSV with a BOM and CRLF failed"
[ "$(wc -l <"$work/pred3")" = 2 ] || fail "predict on a TSV with a BOM: $(wc -l <"$work/pred3") lines"

echo "-- sample and tasks"
# the first 6,000 rows of SST-2's full training set: what these checks need (reproducible, never overwritten without
# --force), at a tenth of the 60,614 rows' time under ASan (tests/bbt/outputs.sh samples real files too)
head -n 6001 "$ASSETS/full/sst2/train.tsv" >"$work/full.tsv"
"$BBT" sample --input "$work/full.tsv" --k 16 --seed 21 --out "$work/s1" 2>/dev/null
"$BBT" sample --input "$work/full.tsv" --k 16 --seed 21 --out "$work/s2" 2>/dev/null
cmp -s "$work/s1/train.tsv" "$work/s2/train.tsv" || fail "sample is not reproducible"
[ "$(wc -l <"$work/s1/dev.tsv")" = 33 ] || fail "sample dev has $(wc -l <"$work/s1/dev.tsv") lines"
expect 2 'already holds train.tsv; give --force' "$BBT" sample --input "$work/full.tsv" --seed 42 --out "$work/s1"
cmp -s "$work/s1/train.tsv" "$work/s2/train.tsv" || fail "sample replaced the files of an earlier draw"
"$BBT" sample --input "$work/full.tsv" --seed 42 --out "$work/s1" --force 2>/dev/null
cmp -s "$work/s1/train.tsv" "$work/s2/train.tsv" && fail "sample --force did not replace the earlier draw"
"$BBT" tasks | grep -q "^dbpedia" || fail "bbt tasks does not list dbpedia"

echo "-- bad input"
expect 2 "unknown task 'sst9'" "$BBT" tune --task sst9 --out "$work/x1"
expect 2 'no split for --seed 7 .*its splits are for --seed 13, 21, 42, 87, 100' "$BBT" tune --seed 7 --out "$work/x1"
printf 'sentence\tlabel\nfine\t1\n' >"$work/nocol.tsv"
expect 2 'no column "text"' "$BBT" tune "${small[@]}" --train "$work/nocol.tsv" --dev "$work/nocol.tsv" --out "$work/x2"
expect 2 'line 1 has 2 fields.*read as plain text.*column "text"' "$BBT" predict --run "$work/a" "$work/nocol.tsv"
printf 'text\tlabel\nfine\t1\nworse\t5\n' >"$work/badlabel.tsv"
expect 2 'line 3: label "5"' "$BBT" tune "${small[@]}" --train "$work/badlabel.tsv" --dev "$work/badlabel.tsv" --out "$work/x3"
printf 'text\tlabel\n' >"$work/empty.tsv"
expect 2 'no examples' "$BBT" tune "${small[@]}" --train "$work/empty.tsv" --dev "$work/empty.tsv" --out "$work/x4"
printf 'text\tlabel\na\t0\nb\t1\n' >"$work/tiny.tsv"
expect 2 'class "0" has 1 examples' "$BBT" sample --input "$work/tiny.tsv" --k 2 --out "$work/x5"
expect 2 'no column "nope"; the file has: text, label' "$BBT" sample --input "$work/tiny.tsv" --label-col nope --out "$work/x5b"
printf '{"template": "{text} <mask> <mask>", "label_words": ["bad", "great"]}' >"$work/twomasks.json"
expect 2 'must contain <mask> exactly once' "$BBT" tune --task-file "$work/twomasks.json" --data "$ASSETS/tasks/sst2" --out "$work/x6"
printf '{"template": "{text_a} ? <mask> , {text_b}", "label_words": ["Yes", "No"]}' >"$work/pair.json"
expect 2 'causal LM reads only up to <mask>: give "causal_template"' "$BBT" tune --task-file "$work/pair.json" \
    --data "$ASSETS/tasks/rte" --out "$work/x8"
printf '{"template": "{text} It was <mask>", "label_words": ["bad", "great"], "labelwords": 1}' >"$work/typo.json"
expect 2 'unknown field "labelwords"' "$BBT" tune --task-file "$work/typo.json" --data "$ASSETS/tasks/sst2" --out "$work/x9"
expect 2 'prompt-len 600: the model .* takes at most 512' "$BBT" tune --prompt-len 600 --out "$work/x10"
"$BBT" tune "${small[@]}" --prompt-len 4 --prompt-mode cat --out "$work/cat4" >/dev/null
expect 2 'shape \[4, 64\].*needs \[8, 64\]' "$BBT" tune "${small[@]}" --prompt-mode cat \
    --init-prompt "$work/cat4/prompt.safetensors" --out "$work/x7"
expect 1 'unknown option' "$BBT" tune --bugdet 10
expect 2 'nocol.tsv is a file, not a directory' "$BBT" tune "${small[@]}" --out "$work/nocol.tsv/run"
expect 2 'nocol.tsv is a file, not a directory' "$BBT" sample --input "$work/full.tsv" --out "$work/nocol.tsv"
"$BBT" tune "${small[@]}" --budget 6 --out "$work/new/nested/run" >/dev/null || fail "--out with missing parents"
[ -f "$work/new/nested/run/summary.json" ] || fail "no run in --out DIR whose parents did not exist"
expect 1 'not a valid integer' "$BBT" tune --budget ten
# a value out of range or options that exclude each other are usage errors too, like a malformed number
expect 1 'budget 0: must be' "$BBT" tune --budget 0
expect 1 'budget 10 is less than one generation' "$BBT" tune --budget 10 --popsize 20
expect 1 'expected bf16 or f32' "$BBT" tune --dtype f16
expect 1 'threads 100000: must be 0 \(all cores\) .. 4096' "$BBT" tune --threads 100000   # it crashed the engine
expect 1 'threads -1: must be 0' "$BBT" eval --run "$work/a" --threads -1
expect 1 'not both' "$BBT" tune --task sst2 --task-file "$work/pair.json"
expect 1 'k 0: must be at least 1' "$BBT" sample --input "$work/tiny.tsv" --k 0 --out "$work/x11"

# a read-only --out is refused before any work (root writes anywhere: run as nobody where we can)
as_user=()
[ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if [ "$(id -u)" != 0 ] || [ ${#as_user[@]} -gt 0 ]; then
    mkdir -p "$work/ro" && chmod 555 "$work/ro" && chmod 755 "$work"
    expect 2 'ro: cannot write in this directory' "${as_user[@]}" "$BBT" tune "${small[@]}" --out "$work/ro"
fi
mkdir -p "$work/notarun"
expect 2 'notarun is not a run directory: it has no config.json' "$BBT" tune --resume "$work/notarun"
expect 2 'notarun is not a run directory' "$BBT" eval --run "$work/notarun"
expect 2 'no such run directory' "$BBT" predict --run "$work/nosuchrun" "$work/tiny.tsv"

echo "-- a damaged checkpoint is refused and never overwritten"
cp -r "$work/c" "$work/d"
printf '\x01' | dd of="$work/d/checkpoint.bin" bs=1 seek=40 conv=notrunc 2>/dev/null
before=$(sha256sum "$work/d/checkpoint.bin")
expect 2 'CRC' "$BBT" tune --resume "$work/d"
expect 1 '--force cannot be given with it' "$BBT" tune --resume "$work/d" --force
expect 2 'damaged.*--force' "$BBT" tune "${small[@]}" --out "$work/d"
[ "$(sha256sum "$work/d/checkpoint.bin")" = "$before" ] || fail "the damaged checkpoint was modified"
expect 2 'already holds a run' "$BBT" tune "${small[@]}" --out "$work/a"
"$BBT" tune "${small[@]}" --out "$work/d" --force >/dev/null
[ -f "$work/d/summary.json" ] || fail "--force did not start a new run"

echo "e2e: all checks passed"
