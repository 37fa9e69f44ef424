# tests/remote/lib.sh — what the remote tests (remote.sh, embeds.sh, deep.sh) share, sourced after each defines
# fail() and $tmp: a run's log.jsonl without times and cost counters, and the comparison of two runs' numbers.

# The run $1's log.jsonl lines without "elapsed_s" and the "remote" cost object (they differ between equal runs).
log_numbers() { sed -E 's/"elapsed_s":[0-9.e+-]*//; s/,"remote":\{[^}]*\}//' "$1/log.jsonl"; }

# Every number of every log.jsonl line of the runs $1 and $2 agrees within 1e-5 relative, and the runs have as many
# lines (a server that scores in batches of another shape rounds differently, so not bit for bit).
close_logs() {
    paste -d '\n' <(log_numbers "$1") <(log_numbers "$2") |
    awk 'function nums(s, a,   n) { n = 0; while (match(s, /-?[0-9][0-9.e+-]*/)) { a[++n] = substr(s, RSTART, RLENGTH) + 0;
                                      s = substr(s, RSTART + RLENGTH) } return n }
         NR % 2 == 1 { n1 = nums($0, x); next }
         { n2 = nums($0, y); if (n1 != n2) { print "line " NR/2 ": other fields"; bad = 1 }
           for (i = 1; i <= n1; i++) { d = x[i] - y[i]; if (d < 0) d = -d; m = x[i] < 0 ? -x[i] : x[i];
               if (d > 1e-5 * m + 1e-12) { print "line " NR/2 ": " x[i] " vs " y[i]; bad = 1 } } }
         END { exit bad }' > "$tmp/close" || fail "$2: log.jsonl is not within 1e-5 of $1: $(head -3 "$tmp/close")"
    [ "$(wc -l < "$1/log.jsonl")" = "$(wc -l < "$2/log.jsonl")" ] || fail "$2: another number of generations than $1"
}
