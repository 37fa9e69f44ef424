#!/usr/bin/env bash
# tests/serve/openai.sh — a client nobody here wrote: the official OpenAI Node client (npm "openai", pinned by
# tests/serve/openai/package-lock.json, installed with npm ci) calls completions.create against `bbt serve` (started with
# an API key, on loopback): echo + logprobs, token-id prompts, prompt_embeds as an extra body field (rows saved by
# PyTorch), and a wrong key. Skips with a message when node or npm is missing or the registry cannot be reached.
# Run from the repository root with BUILD set (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DIR=tests/serve/openai
MODEL=../shared/assets/models/stories260K
skip() { echo "openai.sh: SKIP: $*"; exit 0; }
fail() { echo "openai.sh: FAIL: $*" >&2; exit 1; }

command -v node >/dev/null || skip "node is not installed (Debian: nodejs npm)"
if [ ! -f $DIR/node_modules/openai/package.json ]; then
    command -v npm >/dev/null || skip "npm is not installed, so the openai package cannot be installed"
    echo "openai.sh: installing the openai client (npm ci in $DIR)"
    (cd $DIR && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || skip "npm ci in $DIR failed (is the npm registry reachable?)"
fi

tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
key=test-$RANDOM-$RANDOM
printf '%s\n' "$key" > "$tmp/key"
"$BUILD/bbt" serve --model $MODEL --port 0 --threads 1 --dtype f32 --api-key-file "$tmp/key" --log - 2> "$tmp/err" &
pid=$!
port=
for _ in $(seq 100); do
    port=$(grep -o '127.0.0.1:[0-9]\+' "$tmp/err" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "the server did not start: $(cat "$tmp/err")"
timeout 120 node $DIR/client.js "$port" "$key" tests/serve/goldens/once_upon_a_f32.pt || fail "the openai client's checks failed"
kill -TERM $pid
wait $pid || fail "the server did not exit 0 on SIGTERM"
pid=
echo "openai.sh: all checks passed"
