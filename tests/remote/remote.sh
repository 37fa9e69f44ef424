#!/usr/bin/env bash
# tests/remote/remote.sh — `bbt tune --endpoint` against `bbt serve` (loopback, stories260K, f32): the remote run
# reproduces the local one exactly (log.jsonl losses, prompt.json, prompt.safetensors); a server killed mid-run stops the
# run resumably (exit 3, a message naming the endpoint) and `--resume` against the restarted server gives the
# uninterrupted result; a wrong API key is refused with a clear message. Bounded in time (timeouts on every step).
# Run from the repository root with BUILD set (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
MODEL=../shared/assets/models/stories260K
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "remote.sh: FAIL: $*" >&2; exit 1; }

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

RUN=(--budget 48 --popsize 6 --dim 50 --prompt-len 10 --dtype f32 --threads 1 --checkpoint-every 1 --dev-every 12)
same_run() { # the runs in $1 and $2 agree in every loss, the kept prompt and its file
    diff <(sed 's/"elapsed_s":[0-9.]*//; s/,"remote":{[^}]*}//' "$1/log.jsonl") \
         <(sed 's/"elapsed_s":[0-9.]*//; s/,"remote":{[^}]*}//' "$2/log.jsonl") > "$tmp/diff" ||
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
stop

# 2. a wrong API key is refused by name; the right one from $BBT_API_KEY is taken
echo secret-key > "$tmp/key"
start --api-key-file "$tmp/key"
url=http://127.0.0.1:$port
rc=0
BBT_API_KEY=wrong timeout 60 "$BBT" tune "${RUN[@]}" --endpoint $url --out "$tmp/badkey" > /dev/null 2> "$tmp/badkey.err" || rc=$?
[ $rc != 0 ] || fail "a wrong API key was accepted"
grep -q "refused the API key" "$tmp/badkey.err" && grep -q "$url" "$tmp/badkey.err" ||
    fail "wrong key: the message does not say so: $(cat "$tmp/badkey.err")"

# 3. the server dies in the middle of a run: exit 3 after the retries, resumable; the restarted server finishes it
BBT_API_KEY=secret-key timeout 120 "$BBT" tune "${RUN[@]}" --endpoint $url --retries 1 --timeout 10 \
    --out "$tmp/killed" > /dev/null 2> "$tmp/killed.err" &
tpid=$!
for _ in $(seq 300); do
    [ -f "$tmp/killed/log.jsonl" ] && [ "$(wc -l < "$tmp/killed/log.jsonl")" -ge 3 ] && break
    kill -0 $tpid 2>/dev/null || break
    sleep 0.05
done
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
echo "remote.sh: ok"
