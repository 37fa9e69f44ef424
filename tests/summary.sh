#!/usr/bin/env bash
# The end of `make test`: the slowest tests, the failed ones, and one last line "N passed, N failed".
#
#   bash tests/summary.sh RESULTS
#
# Reads RESULTS/*.result (written by tests/run_test.sh: STATUS WALL CPU NAME). Exits 1 when a test failed or none ran.
set -uo pipefail
results=${1:?usage: summary.sh RESULTS}

shopt -s nullglob
files=("$results"/*.result)
if [ ${#files[@]} -eq 0 ]; then
    echo "0 passed, 0 failed (no test results in $results)"
    exit 1
fi

echo "== slowest tests (wall and CPU seconds; every test's log is in $results/)"
cat "${files[@]}" | sort -k2,2 -g -r | head -n 10 | awk '{ printf "  %7.1f  %7.1f  %s\n", $2, $3, $4 }'
cat "${files[@]}" | awk -v n=${#files[@]} '{ w += $2; c += $3 } END { printf "  total: %.0f s wall, %.0f s CPU in %d tests\n", w, c, n }'

failed=$(cat "${files[@]}" | awk '$1 != "PASS" { print $4 }')
if [ -n "$failed" ]; then
    echo "== failed:"
    echo "$failed" | sed 's/^/  /'
fi
npass=$(cat "${files[@]}" | awk '$1 == "PASS"' | wc -l)
nfail=$(cat "${files[@]}" | awk '$1 != "PASS"' | wc -l)
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
