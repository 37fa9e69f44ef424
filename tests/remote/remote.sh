#!/usr/bin/env bash
# tests/remote/remote.sh — `bbt tune --endpoint` against `bbt serve` (loopback, stories260K, f32): the remote run
# reproduces the local one exactly (log.jsonl losses, prompt.json, prompt.safetensors); a server killed mid-run stops the
# run resumably (exit 3, a message naming the endpoint) and `--resume` against the restarted server gives the
# uninterrupted result; two endpoints (--endpoint repeated) give the one-endpoint result, their calls in flight together
# (a 500 in one of them costs a retry); a wrong API key is refused with a clear message. Bounded in time (timeouts on every step).
# Run from the repository root with BUILD set (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
MODEL=../shared/assets/models/stories260K
tmp=$(mktemp -d)
pid=
pid1=
ppid=
cleanup() { for p in $pid $pid1 $ppid; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "remote.sh: FAIL: $*" >&2; exit 1; }
. tests/remote/lib.sh

# start a server (extra options in "$@"); sets pid and port. A given $port is reused (the restart test).
start() {
    local want=${port:-0}
    : > "$tmp/serve.err"
    "$BBT" serve --model $MODEL --port "$want" --threads 1 --dtype f32 --log "$tmp/access.log" "$@" 2> "$tmp/serve.err" &
    pid=$!
    for _ in $(seq 100); do
        port=$(grep -o '127.0.0.1:[0-9]\+' "$tmp/serve.err" | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && return 0
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    fail "the server did not start: $(cat "$tmp/serve.err")"
}
stop() { kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }

DATA=../shared/assets/tasks/sst2/16-13
RUN=(--budget 36 --popsize 6 --dim 50 --prompt-len 10 --dtype f32 --threads 1 --checkpoint-every 1 --dev-every 12
     --train $DATA/train.tsv --dev $DATA/dev.tsv)
same_run() { # the runs in $1 and $2 agree in every loss, the kept prompt and its file
    diff <(log_numbers "$1") <(log_numbers "$2") > "$tmp/diff" ||
        fail "$2: log.jsonl differs from $1: $(head -5 "$tmp/diff")"
    cmp -s "$1/prompt.json" "$2/prompt.json" || fail "$2: prompt.json differs from $1"
    cmp -s "$1/prompt.safetensors" "$2/prompt.safetensors" || fail "$2: prompt.safetensors differs from $1"
}

timeout 120 "$BBT" tune "${RUN[@]}" --out "$tmp/local" > /dev/null 2> "$tmp/local.err" || fail "local run: $(cat "$tmp/local.err")"

# 1. the same run through the native route
port=
start
url=http://127.0.0.1:$port
timeout 120 "$BBT" tune "${RUN[@]}" --endpoint $url --out "$tmp/remote" > "$tmp/remote.out" 2> "$tmp/remote.err" ||
    fail "remote run: $(cat "$tmp/remote.err")"
same_run "$tmp/local" "$tmp/remote"
grep -q "\"endpoint\":	\"$url\"" "$tmp/remote/config.json" || fail "config.json does not record the endpoint"
grep -q '"score_bytes_up_per_candidate"' "$tmp/remote/summary.json" || fail "summary.json has no remote costs"
up=$(grep -o '"score_bytes_up_per_candidate":[0-9]*' "$tmp/remote/log.jsonl" | tail -1 | cut -d: -f2)
[ "$up" -lt 1000 ] || fail "a candidate costs $up bytes to send at d = 50 (expected z as base64 f32, < 1000)"
timeout 60 "$BBT" eval --run "$tmp/remote" --split dev > "$tmp/eval_remote" || fail "bbt eval of the remote run"
timeout 60 "$BBT" eval --run "$tmp/local" --split dev > "$tmp/eval_local" || fail "bbt eval of the local run"
cmp -s "$tmp/eval_remote" "$tmp/eval_local" || fail "bbt eval: remote $(cat "$tmp/eval_remote") local $(cat "$tmp/eval_local")"
printf 'a great movie\nawful, boring\n' > "$tmp/in.txt"
timeout 60 "$BBT" predict --run "$tmp/local" --endpoint $url "$tmp/in.txt" > "$tmp/pred_remote" || fail "predict --endpoint"
timeout 60 "$BBT" predict --run "$tmp/local" "$tmp/in.txt" > "$tmp/pred_local" || fail "predict"
cmp -s "$tmp/pred_remote" "$tmp/pred_local" || fail "predict --endpoint: $(cat "$tmp/pred_remote") vs $(cat "$tmp/pred_local")"
stop

echo "remote.sh: native route ${SECONDS}s" >&2
# 2. two servers (--endpoint repeated; URL,URL is the same) share each generation: the same result
port=
start
url1=http://127.0.0.1:$port
pid1=$pid
port=
start
url2=http://127.0.0.1:$port
timeout 120 "$BBT" tune "${RUN[@]}" --endpoint "$url1" --endpoint "$url2" --out "$tmp/two" > /dev/null 2> "$tmp/two.err" ||
    fail "two endpoints: $(cat "$tmp/two.err")"
grep -qF '"endpoint":	"'"$url1,$url2"'"' "$tmp/two/config.json" || fail "config.json does not record both endpoints"
# each server now scores half the candidates in a batch of another shape: f32 matrix products of other shapes round
# differently (models/README), so the losses agree within 1e-5 (not bit for bit), and CMA-ES, which uses ranks only,
# takes the same steps: the same kept prompt
close_logs "$tmp/local" "$tmp/two"
timeout 120 "$BBT" tune "${RUN[@]}" --endpoint "$url1,$url2" --max-inflight 1 --out "$tmp/two1" > /dev/null \
    2> "$tmp/two1.err" || fail "two endpoints, one request at a time: $(cat "$tmp/two1.err")"
close_logs "$tmp/local" "$tmp/two1" # (parts are sized by measured speed: shapes, hence rounding, vary from run to run)
cmp -s "$tmp/local/prompt.safetensors" "$tmp/two1/prompt.safetensors" || fail "--max-inflight 1: another prompt"
cmp -s "$tmp/local/prompt.json" "$tmp/two/prompt.json" || fail "two endpoints: prompt.json differs from the local run"
cmp -s "$tmp/local/prompt.safetensors" "$tmp/two/prompt.safetensors" || fail "two endpoints: prompt.safetensors differs"
stop
pid=$pid1
pid1=
stop
port=

# 3. a wrong API key is refused by name; the right one from $BBT_API_KEY is taken
echo secret-key > "$tmp/key"
start --api-key-file "$tmp/key"
url=http://127.0.0.1:$port
rc=0
BBT_API_KEY=wrong timeout 60 "$BBT" tune "${RUN[@]}" --endpoint $url --out "$tmp/badkey" > /dev/null 2> "$tmp/badkey.err" || rc=$?
[ $rc != 0 ] || fail "a wrong API key was accepted"
grep -q "refused the API key" "$tmp/badkey.err" && grep -q "$url" "$tmp/badkey.err" ||
    fail "wrong key: the message does not say so: $(cat "$tmp/badkey.err")"

# wait (at most 15 s) until the run in $1, by the process $2, has logged two generations or has ended
wait_for_generations() {
    for _ in $(seq 300); do
        [ -f "$1/log.jsonl" ] && [ "$(wc -l < "$1/log.jsonl")" -ge 2 ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
}

# 4. the server dies in the middle of a run: exit 3 after the retries, resumable; the restarted server finishes it
BBT_API_KEY=secret-key timeout 120 "$BBT" tune "${RUN[@]}" --endpoint $url --retries 1 --timeout 10 \
    --out "$tmp/killed" > /dev/null 2> "$tmp/killed.err" &
tpid=$!
wait_for_generations "$tmp/killed" $tpid
stop
rc=0
wait $tpid || rc=$?
[ $rc = 3 ] || fail "server killed mid-run: exit $rc (expected 3): $(cat "$tmp/killed.err")"
grep -q "$url" "$tmp/killed.err" && grep -q -- "--resume" "$tmp/killed.err" ||
    fail "server killed: the message names neither the endpoint nor --resume: $(cat "$tmp/killed.err")"
[ -f "$tmp/killed/prompt.json" ] && fail "a run stopped by a dead server wrote prompt.json"
start --api-key-file "$tmp/key"   # same port: the URL in config.json
timeout 120 "$BBT" tune --resume "$tmp/killed" --api-key-file "$tmp/key" > /dev/null 2> "$tmp/resume.err" ||
    fail "--resume after the restart: $(cat "$tmp/resume.err")"
same_run "$tmp/local" "$tmp/killed"
stop

# 4b. a server restart inside the retries (killed, started again on its port): the run does not stop; the new server
# does not know the examples' handle (404), so the client uploads them again, and the run ends as the undisturbed one
start --api-key-file "$tmp/key"
BBT_API_KEY=secret-key timeout 180 "$BBT" tune "${RUN[@]}" --endpoint $url --retries 8 --timeout 10 \
    --out "$tmp/restarted" > /dev/null 2> "$tmp/restarted.err" &
tpid=$!
wait_for_generations "$tmp/restarted" $tpid
stop
start --api-key-file "$tmp/key"
rc=0
wait $tpid || rc=$?
[ $rc = 0 ] || fail "server restarted mid-run: exit $rc (expected the run to go on): $(cat "$tmp/restarted.err")"
same_run "$tmp/local" "$tmp/restarted"
grep -q '"retries":[[:space:]]*[1-9]' "$tmp/restarted/summary.json" ||
    fail "server restarted mid-run: summary.json counts no retry (was the server really restarted?)"
stop

echo "remote.sh: before faults ${SECONDS}s" >&2
# 5. a misbehaving server in front (tests/remote/faulty_proxy.py): transient faults cost retries, not the run; a bad
# answer stops the run resumably with a message quoting it, never a score in the log
if command -v python3 > /dev/null; then
    port=
    start
    url=http://127.0.0.1:$port
    proxy() { # start the proxy with the faults "$1"; sets purl
        [ -n "$ppid" ] && { kill $ppid 2>/dev/null || true; wait $ppid 2>/dev/null || true; }
        rm -f "$tmp/pport" "$tmp/pport.max"
        python3 tests/remote/faulty_proxy.py "$url" "$1" "$tmp/pport" & ppid=$!
        for _ in $(seq 200); do [ -f "$tmp/pport" ] && break; sleep 0.05; done
        purl=http://127.0.0.1:$(cat "$tmp/pport")
    }
    # one call: five attempts fail, the sixth gets through. The slow answer (8 s) is well past --timeout (5 s), and
    # every other timeout here is far above what a request takes on a loaded machine under ASan. "half" closes the
    # connection after the status line: libcurl calls that a 200 with no body, bbt a dropped answer.
    proxy "2=500,3=429,4=slow:8,5=drop,6=half"
    timeout 120 "$BBT" tune "${RUN[@]}" --endpoint "$purl" --timeout 5 --retries 5 --out "$tmp/flaky" > /dev/null \
        2> "$tmp/flaky.err" || fail "transient faults were not recovered: $(cat "$tmp/flaky.err")"
    same_run "$tmp/local" "$tmp/flaky"
    # 5, or 4 when libcurl itself resent the dropped call (a reused keep-alive connection closed before any answer)
    grep -Eq '"retries":[45][,}]' "$tmp/flaky/log.jsonl" || fail "the log does not count the 5 retries (4 if libcurl resent the dropped one)"
    # two endpoints (the proxy named twice): their calls are in flight together (the proxy holds each until two are),
    # and a 500 in one of them is retried alone: the local run's losses within 1e-5 and its prompt
    proxy "gather=2,3=500"
    timeout 120 "$BBT" tune "${RUN[@]}" --endpoint "$purl" --endpoint "$purl/" --out "$tmp/gather" > /dev/null \
        2> "$tmp/gather.err" || fail "two endpoints in flight: $(cat "$tmp/gather.err")"
    close_logs "$tmp/local" "$tmp/gather"
    cmp -s "$tmp/local/prompt.json" "$tmp/gather/prompt.json" || fail "two endpoints in flight: another prompt"
    [ "$(cat "$tmp/pport.max")" -ge 2 ] || fail "the two endpoints' calls were not in flight together"
    for f in trunc shape nan; do
        proxy "3=$f"
        rc=0
        timeout 120 "$BBT" tune "${RUN[@]}" --endpoint "$purl" --timeout 20 --retries 1 --out "$tmp/bad-$f" > /dev/null \
            2> "$tmp/bad-$f.err" || rc=$?
        [ $rc = 3 ] || fail "fault $f: exit $rc (expected 3): $(cat "$tmp/bad-$f.err")"
        grep -q "/bbt/v1/score" "$tmp/bad-$f.err" || fail "fault $f: the message does not name the call: $(cat "$tmp/bad-$f.err")"
        [ "$(wc -l < "$tmp/bad-$f/log.jsonl")" -le 2 ] || fail "fault $f: a generation after the bad answer was logged"
        [ $f = trunc ] || continue # (one resume is enough: the others stop the same way)
        proxy ""
        sed -i "s|\"endpoint\":\t\"[^\"]*\"|\"endpoint\":\t\"$purl\"|" "$tmp/bad-$f/config.json" # the proxy moved
        timeout 120 "$BBT" tune --resume "$tmp/bad-$f" > /dev/null 2> "$tmp/bad-$f.err2" ||
            fail "fault $f: --resume: $(cat "$tmp/bad-$f.err2")"
        same_run "$tmp/local" "$tmp/bad-$f"
    done
    proxy "3=down"
    rc=0
    timeout 60 "$BBT" tune "${RUN[@]}" --endpoint "$purl" --timeout 20 --retries 2 --out "$tmp/gone" > /dev/null \
        2> "$tmp/gone.err" || rc=$?
    [ $rc = 3 ] && grep -q "after 3 attempts" "$tmp/gone.err" || fail "a server gone for good: exit $rc: $(cat "$tmp/gone.err")"
    kill $ppid 2>/dev/null || true
    wait $ppid 2>/dev/null || true
    stop
fi
echo "remote.sh: ok (${SECONDS}s)"
