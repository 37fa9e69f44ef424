#!/usr/bin/env bash
# Runs one test of `make test` and records its result, so that the suite goes on after a failure and ends with one
# summary line (tests/summary.sh).
#
#   bash tests/run_test.sh [--leaks] RESULTS NAME CMD [ARG...]
#
# CMD's output (stdout and stderr) goes to RESULTS/NAME.log; RESULTS/NAME.result gets one line "PASS|FAIL SECONDS NAME".
# --leaks: also fail when the log holds a LeakSanitizer report (a Criterion program's workers report leaks without
# changing the program's exit status). One line is printed per test; a failed test's last lines follow it.
# The exit status is 0 whether the test passed or not: the summary decides.
set -uo pipefail

leaks=0
if [ "${1:-}" = --leaks ]; then leaks=1; shift; fi
[ $# -ge 3 ] || { echo "usage: run_test.sh [--leaks] RESULTS NAME CMD [ARG...]" >&2; exit 1; }
results=$1 name=$2; shift 2
mkdir -p "$results"
log=$results/$name.log

start=$(date +%s.%N)
"$@" >"$log" 2>&1 </dev/null
rc=$?
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

status=PASS why=""
if [ $rc -ne 0 ]; then
    status=FAIL why="exit status $rc"
elif [ $leaks = 1 ] && grep -q "ERROR: LeakSanitizer" "$log"; then
    status=FAIL why="memory leaks"
fi
echo "$status $secs $name" >"$results/$name.result"
if [ $status = PASS ]; then
    printf 'PASS %7s s  %s\n' "$secs" "$name"
else
    printf 'FAIL %7s s  %s (%s; log: %s)\n' "$secs" "$name" "$why" "$log"
    tail -n 30 "$log" | sed 's/^/    | /'
fi
exit 0
