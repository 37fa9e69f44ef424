#!/usr/bin/env bash
# tests/serve/serve.sh — `bbt serve` as a command: --help, the loopback rule, the key file, a clean exit 0 on SIGTERM
# and SIGINT while requests are in flight (each answered or refused, none left hanging), a masked LM refused on the
# completion route. Loopback only, bounded in time.
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
fail() { echo "serve.sh: FAIL: $*" >&2; exit 1; }

"$BBT" serve --help | grep -q -- "--max-body-mb" || fail "--help lacks the limits"
if "$BBT" serve --model $MODEL --host 0.0.0.0 2> "$tmp/err"; then fail "a non-loopback host without a key was accepted"; fi
grep -q "API key" "$tmp/err" || fail "the loopback refusal does not say why: $(cat "$tmp/err")"
printf '\n' > "$tmp/empty_key"
if "$BBT" serve --model $MODEL --api-key-file "$tmp/empty_key" 2> "$tmp/err"; then fail "an empty key file was accepted"; fi

# start, wait for the port line, send requests, stop with a signal while some are in flight
start() {
    "$BBT" serve --model $MODEL --port 0 --threads 1 --log "$tmp/access.log" "$@" 2> "$tmp/serve.err" &
    pid=$!
    for _ in $(seq 100); do
        port=$(grep -o '127.0.0.1:[0-9]\+' "$tmp/serve.err" | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    fail "the server did not start: $(cat "$tmp/serve.err")"
}

for sig in TERM INT; do
    start
    body='{"prompt": "Once upon a time there was", "max_tokens": 1, "logprobs": 5, "echo": true, "temperature": 0}'
    for i in $(seq 8); do
        curl -s --noproxy '*' -m 20 -o "$tmp/out$i" -w '%{http_code}\n' -X POST "http://127.0.0.1:$port/v1/completions" \
            -H 'Content-Type: application/json' -d "$body" > "$tmp/code$i" 2>/dev/null &
    done
    sleep 0.2
    kill -$sig $pid
    rc=0
    timeout 30 tail --pid=$pid -f /dev/null || fail "SIG$sig: the server did not exit within 30 s"
    wait $pid || rc=$?
    pid=
    [ $rc = 0 ] || fail "SIG$sig: exit status $rc (expected 0)"
    wait
    for i in $(seq 8); do # answered (200) or refused at the door (000: connection closed), never a hang
        code=$(cat "$tmp/code$i")
        case $code in 200|000) ;; *) fail "SIG$sig: request $i got $code";; esac
    done
    grep -q "finishing the requests in flight" "$tmp/serve.err" || fail "SIG$sig: no shutdown message"
done
# a body without Content-Length (chunked) is cut off at --max-body-mb while it streams in
start --max-body-mb 1
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > "$tmp/big"
code=$(curl -s --noproxy '*' -m 30 -o "$tmp/big_out" -w '%{http_code}' -X POST "http://127.0.0.1:$port/bbt/v1/score" \
       -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary @"$tmp/big" || true)
[ "$code" = 413 ] && grep -q "max-body-mb" "$tmp/big_out" || fail "a 2 MiB chunked body got $code: $(head -c 300 "$tmp/big_out")"
kill -TERM $pid
wait $pid || fail "exit status $? after SIGTERM"
pid=

# a masked LM has no next token: the completion route refuses it with a 400 that says so (the native route serves it)
"$BUILD/make_model" --arch bert --out "$tmp/bert" --dim 32 --ffn 64 --layers 2 --heads 4 --vocab 260 --max-pos 128 \
    > /dev/null || fail "make_model could not write a BERT"
cp tests/models/data/bert/* "$tmp/bert/"
MODEL=$tmp/bert start
code=$(curl -s --noproxy '*' -m 30 -o "$tmp/bert_out" -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/completions" \
       -H 'Content-Type: application/json' -d '{"prompt": "a fine film", "max_tokens": 1, "logprobs": 1}' || true)
[ "$code" = 400 ] && grep -q "masked LM" "$tmp/bert_out" ||
    fail "a completion on a masked LM got $code: $(head -c 300 "$tmp/bert_out")"
kill -TERM $pid
wait $pid || fail "exit status $? after SIGTERM (masked LM)"
pid=

lines=$(grep -c ' POST /v1/completions ' "$tmp/access.log" || true)
[ "$lines" -ge 1 ] || fail "the access log has no request lines"
grep -qE '^[0-9T:-]+Z POST /v1/completions 200 in=[0-9]+ out=[0-9]+ [0-9.]+ms$' "$tmp/access.log" ||
    fail "access log lines lack time, method, route, status, bytes or ms: $(head -2 "$tmp/access.log")"
echo "serve.sh: all checks passed"
