#!/usr/bin/env bash
# tests/remote/deep.sh — BBTv2 (`bbt tune --deep`) against `bbt serve` over the native route (loopback, stories260K,
# f32, 5 layers): the server measures σ̂_l (POST /bbt/v1/layer_std) and rebuilds every A_l, so the remote run is the
# local one bit for bit (deep.json, prompt.json, prompt.safetensors, every loss in log.jsonl), in add and cat mode;
# eval of the remote run is the local run's; two endpoints give losses within 1e-5 and the same prompt; a client killed
# with -9 and resumed gives the uninterrupted run; a candidate uploads N·d f32 values; bad deep requests get 400 (404 for
# a lost handle) with a message naming the field; vllm/sglang endpoints refuse --deep by name.
# Run from the repository root with BUILD set (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
MODEL=../shared/assets/models/stories260K
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "remote/deep.sh: FAIL: $*" >&2; exit 1; }
. tests/remote/lib.sh

# start a server; prints its port (the server's pid goes to pids)
start() {
    local err=$tmp/serve$#$RANDOM.err
    "$BBT" serve --model $MODEL --port 0 --threads 1 --dtype f32 --log "$tmp/access.log" 2> "$err" &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(grep -o '127.0.0.1:[0-9]\+' "$err" | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    fail "the server did not start: $(cat "$err")"
}

DATA=../shared/assets/tasks/sst2/16-13
RUN=(--deep --budget 40 --popsize 4 --dim 8 --prompt-len 4 --dtype f32 --threads 1 --checkpoint-every 1 --dev-every 20
     --train $DATA/train.tsv --dev $DATA/dev.tsv)
same_run() {
    for f in deep.json prompt.json prompt.safetensors; do
        cmp -s "$1/$f" "$2/$f" || fail "$2: $f differs from $1"
    done
    diff <(log_numbers "$1") <(log_numbers "$2") > "$tmp/diff" || fail "$2: log.jsonl differs from $1: $(head -4 "$tmp/diff")"
}

start
url=http://127.0.0.1:$port

echo "-- the remote BBTv2 run is the local one, add and cat mode"
for mode in add cat; do
    timeout 120 "$BBT" tune "${RUN[@]}" --prompt-mode $mode --out "$tmp/local-$mode" > /dev/null 2> "$tmp/err" ||
        fail "local $mode run: $(cat "$tmp/err")"
    timeout 120 "$BBT" tune "${RUN[@]}" --prompt-mode $mode --endpoint $url --out "$tmp/remote-$mode" > /dev/null \
        2> "$tmp/err" || fail "remote $mode run: $(cat "$tmp/err")"
    same_run "$tmp/local-$mode" "$tmp/remote-$mode"
done
grep -q "POST /bbt/v1/layer_std 200" "$tmp/access.log" || fail "σ̂_l was not measured by the server"
# a candidate's upload at d = 200, λ = 10: whole, z would be 5 blocks × 200 f32 in base64 (5,334 bytes); a generation
# moves one block, so each candidate sends that one (1,067 bytes) and the 4 held blocks go once per request
timeout 120 "$BBT" tune "${RUN[@]}" --dim 200 --popsize 10 --budget 20 --endpoint $url --out "$tmp/wide" > /dev/null \
    2> "$tmp/err" || fail "d = 200: $(cat "$tmp/err")"
up=$(grep -o '"score_bytes_up_per_candidate":[0-9]*' "$tmp/wide/log.jsonl" | tail -1 | cut -d: -f2)
[ "$up" -ge 1067 ] && [ "$up" -lt 2667 ] || fail "a deep candidate costs $up bytes to send at d = 200 (expected its moving block, 1,067, and a share of the held ones)"
timeout 60 "$BBT" eval --run "$tmp/remote-add" --split dev > "$tmp/eval_remote" || fail "bbt eval of the remote run"
timeout 60 "$BBT" eval --run "$tmp/local-add" --split dev > "$tmp/eval_local" || fail "bbt eval of the local run"
cmp -s "$tmp/eval_remote" "$tmp/eval_local" || fail "eval: remote $(cat "$tmp/eval_remote") local $(cat "$tmp/eval_local")"

echo "-- two endpoints"
url1=$url
start
url2=http://127.0.0.1:$port
timeout 120 "$BBT" tune "${RUN[@]}" --endpoint "$url1,$url2" --out "$tmp/two" > /dev/null 2> "$tmp/err" ||
    fail "two endpoints: $(cat "$tmp/err")"
close_logs "$tmp/local-add" "$tmp/two" # each server scores its part in a batch of another shape (see remote.sh)
for f in deep.json prompt.json prompt.safetensors; do
    cmp -s "$tmp/local-add/$f" "$tmp/two/$f" || fail "two endpoints: $f differs from the local run"
done

echo "-- kill -9 of the client, then --resume"
"$BBT" tune "${RUN[@]}" --endpoint $url --out "$tmp/killed" > /dev/null 2>&1 &
tpid=$!
for _ in $(seq 600); do
    [ -f "$tmp/killed/checkpoint.bin" ] && [ "$(wc -l 2>/dev/null < "$tmp/killed/log.jsonl" || echo 0)" -ge 4 ] && break
    sleep 0.02
done
kill -9 $tpid 2>/dev/null || true
wait $tpid 2>/dev/null || true
[ -f "$tmp/killed/summary.json" ] && echo "note: the run finished before the kill; resume then only re-finishes it"
timeout 120 "$BBT" tune --resume "$tmp/killed" > /dev/null 2> "$tmp/err" || fail "--resume: $(cat "$tmp/err")"
same_run "$tmp/local-add" "$tmp/killed"

echo "-- bad deep requests"
post() { # route body → the status, the body in $tmp/answer
    curl -s -o "$tmp/answer" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$url$1"
}
expect() { # status pattern route body
    local got
    got=$(post "$3" "$4")
    [ "$got" = "$1" ] || fail "$3 $4: status $got, expected $1: $(cat "$tmp/answer")"
    sed 's/\\"/"/g' "$tmp/answer" | grep -qF -- "$2" || fail "$3 $4: the message does not name $2: $(cat "$tmp/answer")"
}
[ "$(post /bbt/v1/examples '{"token_ids": {"sequences": [{"ids": [1, 20, 30, 40, 50, 60], "prompt_pos": 1,
      "read_pos": -1}], "labels": [[70], [80]]}, "prompt_len": 4, "prompt_mode": "add"}')" = 200 ] ||
    fail "upload: $(cat "$tmp/answer")"
handle=$(grep -o '"handle":"[^"]*"' "$tmp/answer" | cut -d'"' -f4)
z2=$(/usr/bin/python3 -c 'import base64, struct; print(base64.b64encode(struct.pack("<16f", *[0.1] * 16)).decode())')
znan=$(/usr/bin/python3 -c 'import base64, struct; print(base64.b64encode(struct.pack("<16f", *([0.1] * 15 + [float("nan")]))).decode())')
proj() { echo "{\"seed\": 1, \"distribution\": \"normal\", \"d\": 8, \"prompt_len\": 4, \"mode\": \"add\", $1}"; }
score() { echo "{\"handle\": \"$handle\", \"projection\": $(proj "$1"), \"z_b64\": \"$2\", \"z_dtype\": \"f32\", \"count\": 1}"; }
expect 200 '"scores"' /bbt/v1/score "$(score '"layers": 2, "layer_std": [0.5]' "$z2")"
expect 400 '"layers"' /bbt/v1/score "$(score '"layers": 6, "layer_std": [1, 1, 1, 1, 1]' "$z2")"
expect 400 '"layers"' /bbt/v1/score "$(score '"layers": 0' "$z2")"
expect 400 '"layer_std" must be an array of 1' /bbt/v1/score "$(score '"layers": 2, "layer_std": [0.5, 0.5]' "$z2")"
expect 400 '"layer_std" must be an array of 1' /bbt/v1/score "$(score '"layers": 2' "$z2")"
expect 400 '"layer_std"[0]' /bbt/v1/score "$(score '"layers": 2, "layer_std": [-1]' "$z2")"
expect 400 'z_b64' /bbt/v1/score "$(score '"layers": 2, "layer_std": [0.5]' "$znan")"
expect 400 'z_b64' /bbt/v1/score "$(score '"layers": 3, "layer_std": [0.5, 0.5]' "$z2")" # 16 values for 3 × 8
z1=$(/usr/bin/python3 -c 'import base64, struct; print(base64.b64encode(struct.pack("<8f", *[0.2] * 8)).decode())')
shared() { echo "{\"handle\": \"$handle\", \"projection\": $(proj '"layers": 2, "layer_std": [0.5]'), \"z_shared_b64\": \"$z2\", $1, \"z_b64\": \"$z1\", \"count\": 1}"; }
expect 200 '"scores"' /bbt/v1/score "$(shared '"z_layers": [1]')"
expect 400 '"z_layers" must be strictly increasing' /bbt/v1/score "$(shared '"z_layers": [1, 0]')"
expect 400 'z_layers' /bbt/v1/score "$(shared '"z_layers": [2]')"
expect 400 '"z_layers"' /bbt/v1/score "$(shared '"unused": 0')"
expect 200 '"layer_std":[' /bbt/v1/layer_std "{\"handles\": [\"$handle\"], \"layers\": 5}"
expect 400 '"layers"' /bbt/v1/layer_std "{\"handles\": [\"$handle\"], \"layers\": 6}"
expect 400 '"handles"' /bbt/v1/layer_std '{"layers": 5}'
expect 404 '"handles"[0]' /bbt/v1/layer_std '{"handles": ["ex-gone"], "layers": 5}'
expect 400 'prompt_b64' /bbt/v1/layer_std "{\"handles\": [\"$handle\"], \"layers\": 5, \"prompt_b64\": \"$z2\"}"

echo "-- engines that take input embeddings refuse --deep by name"
for kind in vllm sglang; do
    rc=0
    "$BBT" tune --deep --endpoint $url --endpoint-kind $kind --embeddings $MODEL --out "$tmp/x-$kind" \
        > /dev/null 2> "$tmp/err" || rc=$?
    [ $rc = 1 ] && grep -q -- "--deep with --endpoint-kind $kind" "$tmp/err" ||
        fail "--deep --endpoint-kind $kind: exit $rc: $(cat "$tmp/err")"
done
echo "remote/deep.sh: all passed (${SECONDS}s)"
