#!/usr/bin/env bash
# Runs one test of `make test` and records its result, so that the suite goes on after a failure and ends with one
# summary line (tests/summary.sh).
#
#   bash tests/run_test.sh [--leaks] RESULTS NAME CMD [ARG...]
#
# CMD's output (stdout and stderr) goes to RESULTS/NAME.log; RESULTS/NAME.result gets one line
# "PASS|FAIL WALL_SECONDS CPU_SECONDS NAME".
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

# wall seconds, and the CPU seconds (user + system) of the test and everything it started: on a shared machine the
# wall time says as much about the load as about the test
TIMEFORMAT='%R %U %S'
{ time "$@" >"$log" 2>&1 </dev/null; } 2>"$results/$name.time"
rc=$?
read -r wall user sys <"$results/$name.time"
rm -f "$results/$name.time"
secs=$(awk -v w="$wall" 'BEGIN { printf "%.1f", w }')
cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')

status=PASS why=""
if [ $rc -ne 0 ]; then
    status=FAIL why="exit status $rc"
elif [ $leaks = 1 ] && grep -q "ERROR: LeakSanitizer" "$log"; then
    status=FAIL why="memory leaks"
fi
echo "$status $secs $cpu $name" >"$results/$name.result"
if [ $status = PASS ]; then
    printf 'PASS %7s s (cpu %6s s)  %s\n' "$secs" "$cpu" "$name"
else
    printf 'FAIL %7s s (cpu %6s s)  %s (%s; log: %s)\n' "$secs" "$cpu" "$name" "$why" "$log"
    tail -n 30 "$log" | sed 's/^/    | /'
fi
exit 0
