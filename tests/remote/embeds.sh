#!/usr/bin/env bash
# tests/remote/embeds.sh — the kinds that send input embeddings, against `bbt serve` (loopback, stories260K, f32):
# `--endpoint-kind vllm --wire f32` (bbt serve speaks vLLM's /v1/completions with prompt_embeds) and
# `--endpoint-kind sglang` (tests/remote/fake_sglang.py turns SGLang's /generate into that route, checking the request
# as SGLang reads it) reproduce the local run: every log.jsonl number within 1e-5 relative and the same prompt.json.
# The label words are several tokens each here, so the first run exercises the extension of sequences by label tokens;
# the others score first tokens only (--first-token-only: a tenth of the sequences). Two vllm endpoints (--endpoint
# repeated) share the sequences with the same result; a generation's requests are in flight together (seen by
# faulty_proxy.py), and a 500, a 429 and a dropped connection among them cost retries only; --max-inflight 1 sends one
# at a time; the default bf16 wire runs and records its upload; SGLang falls back to top_logprobs_num when
# token_ids_logprob is ignored; a server that never returns the label ids stops the run resumably
# (exit 3, a message naming the fallbacks tried), and --resume finishes it with the undisturbed result; so does a
# service gone while the untuned prompt is scored (before the run's first checkpoint).
# A small set (8 training, 8 dev examples) and budget keep it short under ASan. Run from the repository root with BUILD.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
MODEL=../shared/assets/models/stories260K
if ! command -v python3 > /dev/null; then
    echo "embeds.sh: SKIP: no python3 for the fake SGLang server and the faulty proxy"
    exit 0
fi
tmp=$(mktemp -d)
pid=
ppid=
cleanup() { for p in $pid $ppid; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "embeds.sh: FAIL: $*" >&2; exit 1; }
. tests/remote/lib.sh

DATA=../shared/assets/tasks/sst2/16-13
for split in train dev; do # four examples of each class
    awk -F'\t' 'NR == 1 || ($2 == 0 && n0++ < 4) || ($2 == 1 && n1++ < 4)' $DATA/$split.tsv > "$tmp/$split.tsv"
done
RUN=(--budget 8 --popsize 4 --dim 20 --prompt-len 5 --dtype f32 --threads 1 --checkpoint-every 1 --dev-every 4
     --train "$tmp/train.tsv" --dev "$tmp/dev.tsv")
# the runs agree within 1e-5 in every log.jsonl number (lib.sh), and the kept prompt is the same
close_run() {
    close_logs "$1" "$2"
    cmp -s "$1/prompt.json" "$2/prompt.json" || fail "$2: prompt.json differs from $1"
}

FIRST=("${RUN[@]}" --first-token-only) # (the run with whole label words sends ten times the sequences)
timeout 60 "$BBT" tune "${RUN[@]}" --out "$tmp/local" > /dev/null 2> "$tmp/local.err" || fail "local run: $(cat "$tmp/local.err")"
timeout 60 "$BBT" tune "${FIRST[@]}" --out "$tmp/localf" > /dev/null 2> "$tmp/localf.err" || fail "local run: $(cat "$tmp/localf.err")"

start() { # a server logging to $tmp/access$1.log; sets port and adds its pid to pid
    "$BBT" serve --model $MODEL --port 0 --threads 1 --dtype f32 --max-batch 1024 --log "$tmp/access$1.log" \
        2> "$tmp/serve$1.err" &
    pid="$pid $!"
    port=
    for _ in $(seq 100); do
        port=$(grep -o '127.0.0.1:[0-9]\+' "$tmp/serve$1.err" | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    fail "the server did not start: $(cat "$tmp/serve$1.err")"
}
start ""
url=http://127.0.0.1:$port

# 1. vLLM's route, f32 tensors: the local run
timeout 120 "$BBT" tune "${RUN[@]}" --endpoint $url --endpoint-kind vllm --embeddings $MODEL --wire f32 \
    --out "$tmp/vllm" > "$tmp/vllm.out" 2> "$tmp/vllm.err" || fail "vllm run: $(cat "$tmp/vllm.err")"
close_run "$tmp/local" "$tmp/vllm"
for k in '"endpoint_kind":	"vllm"' '"wire":	"f32"' '"embeddings":	"'$MODEL'"'; do
    grep -qF "$k" "$tmp/vllm/config.json" || fail "config.json does not record $k"
done
grep -q 'POST /v1/completions 200' "$tmp/access.log" || fail "no vLLM completions call reached the server"
rc=0
timeout 60 "$BBT" tune "${RUN[@]}" --endpoint $url --endpoint-kind vllm --embeddings $MODEL --endpoint-model nope \
    --out "$tmp/nope" > /dev/null 2> "$tmp/nope.err" || rc=$?
[ $rc = 2 ] && grep -q "does not list --endpoint-model nope" "$tmp/nope.err" ||
    fail "an unknown --endpoint-model: exit $rc: $(cat "$tmp/nope.err")"

# 1b. two servers (--endpoint repeated) share each generation's sequences: the same result (each sequence is scored
# on its own); config.json records the list, which --resume reconnects to
start 2
url2=http://127.0.0.1:$port
timeout 120 "$BBT" tune "${FIRST[@]}" --endpoint "$url" --endpoint "$url2" --endpoint-kind vllm --embeddings $MODEL \
    --wire f32 --out "$tmp/two" > /dev/null 2> "$tmp/two.err" || fail "two vllm endpoints: $(cat "$tmp/two.err")"
close_run "$tmp/localf" "$tmp/two"
grep -q 'POST /v1/completions 200' "$tmp/access2.log" || fail "the second endpoint scored nothing"
grep -qF '"endpoint":	"'"$url,$url2"'"' "$tmp/two/config.json" || fail "config.json does not record both endpoints"

# 1c. a generation's requests in flight together (--request-seqs 8: four requests of the 32 sequences), through
# tests/remote/faulty_proxy.py, which holds each until two are in flight at once and counts the most it saw; a 500,
# a 429 with Retry-After and a dropped connection among them are retried, that request alone: the same result
proxy() { # the proxy in front of $url with the faults "$1"; sets purl
    [ -n "$ppid" ] && { kill $ppid 2>/dev/null || true; wait $ppid 2>/dev/null || true; }
    rm -f "$tmp/pport" "$tmp/pport.max"
    python3 tests/remote/faulty_proxy.py "$url" "$1" "$tmp/pport" & ppid=$!
    for _ in $(seq 200); do [ -f "$tmp/pport" ] && break; sleep 0.05; done
    purl=http://127.0.0.1:$(cat "$tmp/pport")
}
VLLM=(--endpoint-kind vllm --embeddings $MODEL --wire f32 --request-seqs 8)
proxy "gather=2,2=500,4=429,6=drop"
timeout 120 "$BBT" tune "${FIRST[@]}" "${VLLM[@]}" --endpoint "$purl" --retries 2 --out "$tmp/inflight" > /dev/null \
    2> "$tmp/inflight.err" || fail "requests in flight together: $(cat "$tmp/inflight.err")"
close_run "$tmp/localf" "$tmp/inflight"
[ "$(cat "$tmp/pport.max")" -ge 2 ] || fail "the requests of a generation were not in flight together"
# 3 retries, or 2 when the dropped call was on a reused keep-alive connection: libcurl itself resends a request whose
# reused connection closes before any answer, unseen by the client (the result is checked equal above either way)
grep -Eq '"retries":[23][,}]' "$tmp/inflight/log.jsonl" || fail "the log does not count the 3 retries (2 if libcurl resent the dropped one)"
# --max-inflight 1: one request at a time, over both endpoints (the proxy named twice), the same result
proxy ""
timeout 120 "$BBT" tune "${FIRST[@]}" "${VLLM[@]}" --endpoint "$purl" --endpoint "$purl/" --max-inflight 1 \
    --out "$tmp/one" > /dev/null 2> "$tmp/one.err" || fail "--max-inflight 1: $(cat "$tmp/one.err")"
close_run "$tmp/localf" "$tmp/one"
[ "$(cat "$tmp/pport.max")" = 1 ] || fail "--max-inflight 1: $(cat "$tmp/pport.max") requests were in flight at once"
kill $ppid; wait $ppid 2>/dev/null || true; ppid=

# 2. the default bf16 wire: runs, half the tensor bytes (scores differ from f32 by bf16's rounding of the rows)
timeout 120 "$BBT" tune "${FIRST[@]}" --endpoint $url --endpoint-kind vllm --embeddings $MODEL --out "$tmp/bf16" \
    > /dev/null 2> "$tmp/bf16.err" || fail "vllm bf16 run: $(cat "$tmp/bf16.err")"
up() { grep -o '"score_bytes_up_per_candidate":[0-9]*' "$1/log.jsonl" | tail -1 | cut -d: -f2; }
f32=$(up "$tmp/two") bf16=$(up "$tmp/bf16")
[ "$bf16" -lt $((f32 * 7 / 10)) ] || fail "bf16 tensors cost $bf16 bytes per candidate, f32 $f32 (expected ~half)"

# 3. SGLang's /generate through the fake server: the local run
rm -f "$tmp/sport"
python3 tests/remote/fake_sglang.py $url "$tmp/sport" & ppid=$!
for _ in $(seq 200); do [ -f "$tmp/sport" ] && break; sleep 0.05; done
surl=http://127.0.0.1:$(cat "$tmp/sport")
timeout 120 "$BBT" tune "${FIRST[@]}" --endpoint "$surl" --endpoint-kind sglang --embeddings $MODEL --out "$tmp/sglang" \
    --request-seqs 12 > /dev/null 2> "$tmp/sglang.err" || fail "sglang run: $(cat "$tmp/sglang.err")"
close_run "$tmp/localf" "$tmp/sglang"
kill $ppid; wait $ppid 2>/dev/null || true; ppid=
# 3b. an SGLang that ignores token_ids_logprob: the client asks again with top_logprobs_num, the same result; one that
# answers the label ids neither way stops the run resumably, naming both ways
sglang() { # the fake with FAULT $1; sets surl
    rm -f "$tmp/sport"
    python3 tests/remote/fake_sglang.py $url "$tmp/sport" "$1" & ppid=$!
    for _ in $(seq 200); do [ -f "$tmp/sport" ] && break; sleep 0.05; done
    surl=http://127.0.0.1:$(cat "$tmp/sport")
}
sglang old
timeout 120 "$BBT" tune "${FIRST[@]}" --endpoint "$surl" --endpoint-kind sglang --embeddings $MODEL --out "$tmp/sold" \
    > /dev/null 2> "$tmp/sold.err" || fail "sglang without token_ids_logprob: $(cat "$tmp/sold.err")"
close_run "$tmp/localf" "$tmp/sold"
kill $ppid; wait $ppid 2>/dev/null || true; ppid=
sglang none
rc=0
timeout 120 "$BBT" tune "${FIRST[@]}" --endpoint "$surl" --endpoint-kind sglang --embeddings $MODEL --out "$tmp/snone" \
    > /dev/null 2> "$tmp/snone.err" || rc=$?
[ $rc = 3 ] && grep -q "asked with token_ids_logprob, label id" "$tmp/snone.err" &&
    grep -q "asked with token_ids_logprob and top_logprobs_num 20, label id" "$tmp/snone.err" ||
    fail "sglang answering no label id: exit $rc (expected 3, both ways named): $(cat "$tmp/snone.err")"
[ ! -s "$tmp/snone/log.jsonl" ] || fail "sglang answering no label id: a score was logged"
kill $ppid; wait $ppid 2>/dev/null || true; ppid=

# 4. a server that stops returning the label ids (an old vLLM ignoring logprob_token_ids, started without
# processed log-probs): after the fallbacks, exit 3 naming them, no bad score logged; --resume finishes the run
rm -f "$tmp/pport"
python3 tests/remote/faulty_proxy.py $url "3=noid" "$tmp/pport" & ppid=$!
for _ in $(seq 200); do [ -f "$tmp/pport" ] && break; sleep 0.05; done
purl=http://127.0.0.1:$(cat "$tmp/pport")
rc=0
timeout 120 "$BBT" tune "${FIRST[@]}" --endpoint "$purl" --endpoint-kind vllm --embeddings $MODEL --wire f32 \
    --out "$tmp/noid" > /dev/null 2> "$tmp/noid.err" || rc=$?
[ $rc = 3 ] || fail "label ids missing: exit $rc (expected 3): $(cat "$tmp/noid.err")"
grep -q "logprob_token_ids" "$tmp/noid.err" && grep -q "did not come back" "$tmp/noid.err" ||
    fail "label ids missing: the message does not say so: $(cat "$tmp/noid.err")"
[ "$(wc -l < "$tmp/noid/log.jsonl")" -le 1 ] || fail "label ids missing: a generation after the bad answer was logged"
sed -i "s|\"endpoint\":\t\"[^\"]*\"|\"endpoint\":\t\"$url\"|" "$tmp/noid/config.json" # straight to the server now
timeout 120 "$BBT" tune --resume "$tmp/noid" > /dev/null 2> "$tmp/noid.err2" || fail "--resume: $(cat "$tmp/noid.err2")"
close_run "$tmp/localf" "$tmp/noid"
kill $ppid; wait $ppid 2>/dev/null || true; ppid=

# 5. the service goes away while the untuned prompt is scored (before the first checkpoint): exit 3, resumable
rm -f "$tmp/pport"
python3 tests/remote/faulty_proxy.py $url "1=down" "$tmp/pport" & ppid=$!
for _ in $(seq 200); do [ -f "$tmp/pport" ] && break; sleep 0.05; done
purl=http://127.0.0.1:$(cat "$tmp/pport")
rc=0
timeout 60 "$BBT" tune "${FIRST[@]}" --endpoint "$purl" --endpoint-kind vllm --embeddings $MODEL --wire f32 \
    --retries 1 --out "$tmp/early" > /dev/null 2> "$tmp/early.err" || rc=$?
[ $rc = 3 ] && grep -q -- "--resume $tmp/early" "$tmp/early.err" ||
    fail "a service gone during the untuned scoring: exit $rc (expected 3, resumable): $(cat "$tmp/early.err")"
sed -i "s|\"endpoint\":\t\"[^\"]*\"|\"endpoint\":\t\"$url\"|" "$tmp/early/config.json"
timeout 120 "$BBT" tune --resume "$tmp/early" > /dev/null 2> "$tmp/early.err2" || fail "--resume: $(cat "$tmp/early.err2")"
close_run "$tmp/localf" "$tmp/early"
echo "embeds.sh: ok (${SECONDS}s; upload per candidate, first tokens only: f32 $f32 B, bf16 $bf16 B)"
