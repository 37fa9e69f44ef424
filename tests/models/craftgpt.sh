#!/usr/bin/env bash
# craftgpt.sh — the second real model, CraftGPT-5M (../shared/assets/models/craftgpt-5M: GPT-2 layout, ReLU MLP, untied
# head, context 64, a WordPiece tokenizer.json with chat tokens), through the commands: bbt info, tokenize, generate, a
# short bbt tune with its chat-form task file (experiments/tasks/craftgpt/), and build/template_scores (the template
# chooser's scorer). Logits and tokenization are checked against the references in test_encoder_golden.c and
# test_craftgpt_tok.c; this checks that every command loads the model and that the pieces fit together.
# Run from the repository root with BUILD set (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BBT=$BUILD/bbt
M=../shared/assets/models/craftgpt-5M
T=../shared/assets/tasks/sst2/16-13
TASK=experiments/tasks/craftgpt/sst2.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "craftgpt.sh: FAIL: $*" >&2
    exit 1
}

# info: the architecture as SOURCES.md describes it
"$BBT" info --model $M > "$tmp/info.json"
/usr/bin/python3 - "$tmp/info.json" <<'PY' || fail "bbt info: $(cat "$tmp/info.json")"
import json, sys
i = json.load(open(sys.argv[1]))
want = dict(arch="gpt2", kind="causal", hidden=240, layers=6, heads=5, head_dim=48, ffn=960, vocab=1920, max_pos=64,
            tied_head=False, tokenizer="wordpiece")
assert all(i[k] == v for k, v in want.items()), i
assert i["special"]["bos"] == 0 and i["special"]["unk"] == 10, i["special"]
PY

# tokenize: the chat format ([inst] = 0, [/inst] = 1 absorb the spaces around them)
got=$(echo "[inst] I love it! [/inst] it was" | "$BBT" tokenize --tokenizer $M)
[ "$got" = "0 6 194 8 3 1 8 174" ] || fail "tokenize gave '$got'"

# generate: a greedy reply that is text, and the same text twice
g1=$("$BBT" generate --model $M --prompt "[inst] hello, how are you? [/inst]" --max-tokens 12 --threads 2)
g2=$("$BBT" generate --model $M --prompt "[inst] hello, how are you? [/inst]" --max-tokens 12 --threads 2)
[ -n "$g1" ] && [ "$g1" = "$g2" ] || fail "generate: '$g1' / '$g2'"

# template_scores: one label set given twice scores twice the same; --count-only counts what scoring counts
/usr/bin/python3 - "$TASK" "$tmp/twice.json" "$tmp/bad.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
json.dump([t["label_words"]] * 2, open(sys.argv[2], "w"))
json.dump([t["label_words"], t["label_words"] + ["extra"]], open(sys.argv[3], "w"))
PY
$BUILD/template_scores --model $M --task-file $TASK --label-sets-file "$tmp/twice.json" --prompt-len 8 --threads 2 \
    $T/train.tsv > "$tmp/scores.jsonl"
$BUILD/template_scores --model $M --task-file $TASK --prompt-len 8 --count-only --threads 2 $T/train.tsv \
    > "$tmp/counts.jsonl"
/usr/bin/python3 - "$tmp/scores.jsonl" "$tmp/counts.jsonl" <<'PY' || fail "template_scores: $(cat "$tmp"/*.jsonl)"
import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
c = json.loads(open(sys.argv[2]).read())
assert a["set"] == 0 and b["set"] == 1 and a["n"] == 32, (a, b)
assert {k: v for k, v in a.items() if k != "set"} == {k: v for k, v in b.items() if k != "set"}, (a, b)
assert 0.0 <= a["acc"] <= 1.0 and a["ce"] > 0 and a["max_tokens"] <= 64, a
assert a["truncated_L"] >= a["truncated"] > 0, a  # SST-2 on a 64-token context: some are shortened, more with L = 8
assert (c["n"], c["truncated"], c["truncated_L"]) == (a["n"], a["truncated"], a["truncated_L"]), (a, c)
PY
if $BUILD/template_scores --model $M --task-file $TASK --label-sets-file "$tmp/bad.json" $T/train.tsv 2> "$tmp/err"; then
    fail "a set of 3 label words accepted for 2 classes"
fi
grep -q "set 1 is not an array of 2 label words" "$tmp/err" || fail "label-sets message: $(cat "$tmp/err")"

# a short bbt tune in cat mode with 8 prompt rows, and eval of its run
"$BBT" tune --model $M --task-file $TASK --train $T/train.tsv --dev $T/dev.tsv --test $T/dev.tsv --prompt-mode cat \
    --prompt-len 8 --dim 10 --popsize 6 --budget 12 --dev-every 6 --threads 2 --out "$tmp/run" > /dev/null
"$BBT" eval --run "$tmp/run" --split dev --threads 2 > "$tmp/eval.json"
/usr/bin/python3 - "$tmp/run/summary.json" "$tmp/eval.json" <<'PY' || fail "tune/eval: $(cat "$tmp/run/summary.json")"
import json, sys
s, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert s["evals"] >= 12 and 0.0 <= s["test_acc"] <= 1.0, s
assert abs(e["acc"] - s["dev_acc"]) < 1e-9, (s, e)
PY
echo "craftgpt.sh: all checks passed"
