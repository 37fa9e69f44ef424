#!/usr/bin/env bash
# The benchmark scripts end to end, on stories260K and a cut-down SST-2 (the shared splits 16-13 and 16-42, the first
# 20 test lines), at a tiny budget:
#   - experiments/fewshot runs one task × 2 seeds × 2 methods (manual, bbt-sep): one run directory per cell;
#   - a second call skips the finished cells (their summary.json untouched) and resumes a tuned cell whose summary is
#     gone (same test metric);
#   - experiments/summarize: results.csv has one row per cell with the run directories' numbers, results.md's table has
#     a row per method, a column per task plus Avg., and its mean ± std are those of the run directories' summary.json;
#     its along-the-run table ends at the summaries' best training loss;
#   - a grid with a failed cell (a seed without data: the grid goes on and exits 3) and a missing one (its directory
#     removed) still gives the table, with both marked;
#   - summarize --out DIR keeps DIR/cells/ (summaries and logs, no checkpoints): summarizing it gives the same numbers,
#     and a grid continued from a copy of it runs only the missing cell.
# Run from the repository root with BUILD set (make test does this).
set -euo pipefail
export BBT=${BUILD:-build}/bbt
ASSETS=../shared/assets
work=$(mktemp -d /tmp/bbt-fewshot-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

data=$work/data/sst2
for s in 13 42; do
    mkdir -p "$data/16-$s"
    cp "$ASSETS/tasks/sst2/16-$s/train.tsv" "$ASSETS/tasks/sst2/16-$s/dev.tsv" "$data/16-$s/"
done
head -n 21 "$ASSETS/tasks/sst2/test.tsv" >"$data/test.tsv"
small=(--data "$data" --popsize 6 --dim 16 --prompt-len 4 --dev-every 12 --checkpoint-every 1)
grid=$work/grid

experiments/fewshot --tasks sst2 --seeds 13,42 --methods manual,bbt-sep --budget 24 --threads 2 --out "$grid" \
    -- "${small[@]}" 2>"$work/log" || fail "the grid failed: $(cat "$work/log")"
for c in manual-s13 manual-s42 bbt-sep-s13 bbt-sep-s42; do
    [ -f "$grid/sst2/$c/summary.json" ] || fail "cell $c has no summary.json"
done
[ "$(jq -r .baseline "$grid/sst2/manual-s13/summary.json")" = manual ] || fail "manual cell is not a baseline run"
[ "$(jq -r .optimizer "$grid/sst2/bbt-sep-s42/summary.json")" = sep ] || fail "bbt-sep cell did not run sep-CMA-ES"

# finished cells are skipped; an interrupted one (a checkpoint, no summary) is resumed
cp "$grid/sst2/manual-s13/summary.json" "$work/manual13.json"
test_before=$(jq .test_acc "$grid/sst2/bbt-sep-s13/summary.json")
rm "$grid/sst2/bbt-sep-s13/summary.json"
experiments/fewshot --tasks sst2 --seeds 13,42 --methods manual,bbt-sep --budget 24 --threads 2 --out "$grid" \
    -- "${small[@]}" 2>"$work/log" || fail "the second call failed: $(cat "$work/log")"
grep -q "resuming $grid/sst2/bbt-sep-s13" "$work/log" || fail "the cell without summary was not resumed: $(cat "$work/log")"
! grep -q "running" "$work/log" || fail "finished cells were run again: $(cat "$work/log")"
cmp -s "$work/manual13.json" "$grid/sst2/manual-s13/summary.json" || fail "a finished cell's summary.json changed"
[ "$(jq .test_acc "$grid/sst2/bbt-sep-s13/summary.json")" = "$test_before" ] || fail "the resumed cell's test metric changed"

# the summary: shape, and numbers equal to the run directories'
experiments/summarize "$grid" >/dev/null 2>"$work/log" || fail "summarize failed: $(cat "$work/log")"
/usr/bin/python3 - "$grid" <<'PY' || fail "the summary does not match the run directories"
import csv, json, os, statistics, sys
grid = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(grid, "results.csv"))))
assert len(rows) == 4, rows
for r in rows:
    s = json.load(open(os.path.join(grid, r["task"], "%s-s%s" % (r["method"], r["seed"]), "summary.json")))
    assert r["status"] == "done", r
    assert float(r["test"]) == s["test_acc"] and float(r["dev"]) == s["dev_acc"], (r, s)
    assert float(r["train_loss_best"]) == s["train_loss_best"] and float(r["wall_s"]) == s["wall_s"], (r, s)
md = open(os.path.join(grid, "results.md")).read().splitlines()
head = [l for l in md if l.startswith("| Method | SST-2 |")]
assert head and head[0].split("|")[1:-1] == [" Method ", " SST-2 ", " Avg. "], head
for method, label in (("manual", "Manual prompt"), ("bbt-sep", "BBT (sep-CMA-ES)")):
    vals = [json.load(open(os.path.join(grid, "sst2", "%s-s%d" % (method, s), "summary.json")))["test_acc"]
            for s in (13, 42)]
    want = "%.2f ± %.2f" % (100 * statistics.fmean(vals), 100 * statistics.stdev(vals))
    row = [l for l in md if l.startswith("| %s |" % label)]
    assert row, label
    cells = [c.strip() for c in row[0].split("|")[1:-1]]
    assert cells[1] == want, (cells, want)
    assert cells[2] == "%.2f" % (100 * statistics.fmean(vals)), (cells, want)
# "Along the run": the tuned method's best training loss at the whole budget is the summaries' train_loss_best
best = [json.load(open(os.path.join(grid, "sst2", "bbt-sep-s%d" % s, "summary.json")))["train_loss_best"] for s in (13, 42)]
row = [l for l in md if l.startswith("| SST-2 | BBT (sep-CMA-ES) | 2 |")]
assert row, "no along-the-run row for bbt-sep"
cells = [c.strip() for c in row[0].split("|")[1:-1]]
assert cells[7] == "%.3f ± %.3f" % (statistics.fmean(best), statistics.stdev(best)), (cells, best)
# … and its "test z = 0" is the summaries' untuned test accuracy
z0 = [json.load(open(os.path.join(grid, "sst2", "bbt-sep-s%d" % s, "summary.json")))["untuned_test_acc"] for s in (13, 42)]
assert cells[8] == "%.2f ± %.2f" % (100 * statistics.fmean(z0), 100 * statistics.stdev(z0)), (cells, z0)
assert not [l for l in md if l.startswith("| SST-2 | Manual prompt |")], "an untuned method in the along-the-run table"
PY
if command -v gnuplot >/dev/null; then
    for p in loss test wall; do
        for ext in png svg; do [ -s "$grid/$p.$ext" ] || fail "no plot $p.$ext"; done
    done
fi

# a failed cell and a missing one: the grid goes on (exit 3), summarize marks both
mkdir -p "$data/16-100" # a split with no files: bbt tune fails on that seed
rc=0
experiments/fewshot --tasks sst2 --seeds 13,42,100 --methods manual,bbt-sep --budget 24 --threads 2 --out "$grid" \
    -- "${small[@]}" 2>"$work/log" || rc=$?
[ "$rc" = 3 ] || fail "a grid with failed cells exited $rc, expected 3: $(cat "$work/log")"
grep -q "FAILED $grid/sst2/manual-s100" "$work/log" || fail "the failed cell was not reported: $(cat "$work/log")"
[ -f "$grid/sst2/bbt-sep-s100.status" ] || fail "the grid stopped at the first failed cell"
rm -r "$grid/sst2/manual-s42" "$grid/sst2/manual-s42.status"
experiments/summarize "$grid" --no-plots >/dev/null 2>"$work/log" || fail "summarize failed: $(cat "$work/log")"
md=$grid/results.md
grep -q "| Manual prompt | .*(1/3; 1 failed, 1 missing)" "$md" || fail "the manual cell's failed and missing seeds are not marked: $(cat "$md")"
grep -q "| sst2 | manual | 100 | failed | exit 2" "$md" || fail "the failed cell is not listed: $(cat "$md")"
grep -q "| sst2 | manual | 42 | missing | never run |" "$md" || fail "the missing cell is not listed: $(cat "$md")"
grep -q "^sst2,manual,42,missing," "$grid/results.csv" || fail "results.csv lacks the missing cell"
grep -q "^sst2,bbt-sep,100,failed," "$grid/results.csv" || fail "results.csv lacks the failed cell"

# published elsewhere (--out): cells/ keeps what the numbers came from, no checkpoints; summarizing cells/ gives the
# same CSV and table, and does not touch cells/ itself; a grid continued from a copy of cells/ runs only what is missing
pub=$work/pub
experiments/summarize "$grid" --no-plots --out "$pub" >/dev/null 2>"$work/log" || fail "summarize --out failed: $(cat "$work/log")"
for f in grid.tsv sst2/bbt-sep-s13/summary.json sst2/bbt-sep-s13/log.jsonl sst2/manual-s100.status; do
    [ -f "$pub/cells/$f" ] || fail "cells/ lacks $f"
done
[ -z "$(find "$pub/cells" -name 'checkpoint*' -o -name 'prompt*')" ] || fail "cells/ holds checkpoints or prompts"
experiments/summarize "$pub/cells" --no-plots --out "$pub" >/dev/null 2>"$work/log" || fail "summarize of cells/ failed: $(cat "$work/log")"
experiments/summarize "$pub/cells" --no-plots --out "$work/again" >/dev/null 2>"$work/log" || fail "summarize of cells/ failed: $(cat "$work/log")"
cmp -s "$grid/results.csv" "$work/again/results.csv" || fail "cells/ gives another results.csv: $(diff "$grid/results.csv" "$work/again/results.csv")"
diff <(tail -n +2 "$grid/results.md") <(tail -n +2 "$work/again/results.md") >/dev/null || fail "cells/ gives another results.md"
mkdir "$work/grid2" && cp -rn "$pub/cells/." "$work/grid2/"
rc=0
experiments/fewshot --tasks sst2 --seeds 13,42 --methods manual,bbt-sep --budget 24 --threads 2 --out "$work/grid2" \
    -- "${small[@]}" 2>"$work/log" || rc=$?
[ "$rc" = 0 ] || fail "the grid continued from cells/ exited $rc: $(cat "$work/log")"
[ "$(grep -c "running" "$work/log")" = 1 ] && grep -q "running $work/grid2/sst2/manual-s42" "$work/log" ||
    fail "the grid continued from cells/ did not run only the missing cell: $(cat "$work/log")"
echo "fewshot: OK"
