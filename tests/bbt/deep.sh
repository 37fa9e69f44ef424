#!/usr/bin/env bash
# End-to-end checks of BBTv2 (`bbt tune --deep`), run from the repository root with BUILD set (make test does this):
#   - the same command and seed give the same run directory, bit for bit in z, deep.json and prompt.safetensors;
#   - kill -9 in the middle, then --resume, gives the same run as an uninterrupted one;
#   - config.json and summary.json say bbtv2, the log goes round the layers, prompt.safetensors has a tensor per layer;
#   - eval and predict use the deep prompt (eval's dev metric is the summary's);
#   - Llama (llama2.c and Hugging Face), GPT-2, BERT and RoBERTa run in add and cat mode;
#   - bad combinations get a clear error and the documented exit code.
set -euo pipefail
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
work=$(mktemp -d /tmp/bbt-deep-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "deep.sh: FAIL: $*" >&2; exit 1; }

# stories260K has 5 layers: a round is 5 generations of 4
small=(--deep --budget 60 --popsize 4 --dim 8 --prompt-len 4 --dev-every 20 --checkpoint-every 2 --threads 1)

strip_timings() {
    sed -E 's/"elapsed_s":[0-9.e+-]+//; s/"(wall_s|forward_s|other_s|evals_per_s)":[[:space:]]*[0-9.e+-]+,?//' "$1"
}
same_run() {
    for f in config.json deep.json prompt.json prompt.safetensors; do
        cmp -s "$1/$f" "$2/$f" || fail "$f differs between $1 and $2"
    done
    for f in log.jsonl summary.json; do
        diff <(strip_timings "$1/$f") <(strip_timings "$2/$f") >/dev/null || fail "$f differs (beyond timings) between $1 and $2"
    done
}

echo "-- the same seed gives the same BBTv2 run"
"$BBT" tune "${small[@]}" --out "$work/a" >/dev/null
"$BBT" tune "${small[@]}" --out "$work/b" >/dev/null
same_run "$work/a" "$work/b"

echo "-- what the run directory says"
grep -qE '"method":[[:space:]]*"bbtv2"' "$work/a/config.json" || fail "config.json does not say bbtv2"
grep -qE '"deep_layers":[[:space:]]*5,' "$work/a/config.json" || fail "config.json: deep_layers not resolved to 5"
grep -qE '"sigma0":[[:space:]]*0.2,' "$work/a/config.json" || fail "--deep did not default sigma0 to 0.2"
grep -qE '"alpha":[[:space:]]*0.2,' "$work/a/config.json" || fail "--deep did not default alpha to 0.2"
grep -qE '"method":[[:space:]]*"bbtv2"' "$work/a/summary.json" || fail "summary.json does not say bbtv2"
grep -qE '"evals":[[:space:]]*60,' "$work/a/summary.json" || fail "the budget is not every evaluation: $(cat "$work/a/summary.json")"
layers=$(grep -oE '"layer":[0-9]+' "$work/a/log.jsonl" | cut -d: -f2 | tr '\n' ' ')
[ "$layers" = "0 1 2 3 4 0 1 2 3 4 0 1 2 3 4 " ] || fail "the log does not go round the layers: $layers"
/usr/bin/python3 - "$work/a" <<'PY' || fail "prompt.json / prompt.safetensors do not carry the deep prompt"
import json, struct, sys
d = sys.argv[1]
p = json.load(open(d + "/prompt.json"))
assert p["method"] == "bbtv2" and p["deep_layers"] == 5 and len(p["z"]) == 40 and len(p["layer_std"]) == 5, p
raw = open(d + "/prompt.safetensors", "rb").read()
h = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
names = sorted(k for k in h if k != "__metadata__")
assert names == ["layer.1", "layer.2", "layer.3", "layer.4", "prompt"], names
assert all(h[k]["shape"] == [4, 64] for k in names), h
PY

echo "-- kill -9 in the middle, then --resume"
"$BBT" tune "${small[@]}" --out "$work/k" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ -f "$work/k/checkpoint.bin" ] && [ "$(wc -l 2>/dev/null <"$work/k/log.jsonl" || echo 0)" -ge 6 ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ -f "$work/k/summary.json" ] && echo "note: the run finished before the kill; resume then only re-finishes it"
"$BBT" tune --resume "$work/k" >/dev/null
same_run "$work/a" "$work/k"

echo "-- eval and predict use the deep prompt"
"$BBT" eval --run "$work/a" --split dev >"$work/eval.json"
/usr/bin/python3 - "$work/eval.json" "$work/a/summary.json" <<'PY' || fail "eval's dev accuracy is not the summary's"
import json, sys
e, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert e["acc"] == s["dev_acc"], (e, s)
PY
printf 'a gorgeous , witty , seductive movie .\n' | "$BBT" predict --run "$work/a" | grep -qE '^(bad|great)$' ||
    fail "predict on a deep run"
"$BBT" tune "${small[@]}" --deep-layers 2 --sigma0 0.5 --budget 8 --out "$work/two" >/dev/null
grep -qE '"layers":[[:space:]]*2,' "$work/two/deep.json" || fail "--deep-layers 2: $(cat "$work/two/deep.json")"
grep -qE '"sigma0":[[:space:]]*0.5,' "$work/two/config.json" || fail "--sigma0 given with --deep was not kept"

echo "-- every architecture, add and cat mode"
mk() {
    "$BUILD/make_model" --arch "$1" --out "$work/$1" --dim 32 --ffn 64 --layers 2 --heads 4 --vocab "$2" --max-pos 128 >/dev/null
    cp tests/models/data/"$1"/* "$work/$1/"
}
mk roberta 420
mk bert 260
mk gpt2 407
"$BUILD/make_model" --out "$work/llama" --dim 32 --ffn 64 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --max-pos 128 >/dev/null
cp ../shared/assets/models/stories260K/tok512.bin "$work/llama/"
for arch in roberta bert gpt2 llama; do
    for mode in add cat; do
        "$BBT" tune --model "$work/$arch" --prompt-mode "$mode" --deep --budget 4 --popsize 2 --dim 4 --prompt-len 3 \
            --threads 1 --dtype f32 --out "$work/run-$arch-$mode" >/dev/null || fail "$arch in $mode mode"
        grep -qE '"layers":[[:space:]]*2,' "$work/run-$arch-$mode/deep.json" || fail "$arch $mode: deep.json"
        [ "$mode" = add ] || "$BBT" eval --run "$work/run-$arch-$mode" --split dev >/dev/null ||
            fail "eval of $arch in $mode mode"
    done
done

echo "-- bad combinations"
expect() {
    local code=$1 pattern=$2; shift 2
    local rc=0
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code: $(cat "$work/err")"
    grep -qE -- "$pattern" "$work/err" || fail "$*: stderr lacks /$pattern/: $(cat "$work/err")"
}
expect 1 'deep-layers 3 is for BBTv2: give --deep' "$BBT" tune --deep-layers 3 --out "$work/x1"
expect 1 '--deep with --endpoint-kind vllm' "$BBT" tune --deep --endpoint http://127.0.0.1:9 --endpoint-kind vllm \
    --embeddings ../shared/assets/models/stories260K --out "$work/x2"   # (bbt serve's route: tests/remote/deep.sh)
expect 1 '--deep with --baseline' "$BBT" tune --deep --baseline manual --out "$work/x4"
expect 2 'deep-layers 9: the model .* has 5 layers' "$BBT" tune --deep --deep-layers 9 --out "$work/x3"
expect 1 'cannot be given with it' "$BBT" tune --resume "$work/a" --deep
expect 2 'http://127.0.0.1:9: GET /bbt/v1/info failed' "$BBT" eval --run "$work/a" --endpoint http://127.0.0.1:9
rm "$work/a/deep.json"
expect 2 'deep.json' "$BBT" eval --run "$work/a" --split dev
echo "deep.sh: all passed"
