#!/usr/bin/env bash
# tests/common/test_torchsave_torch.sh — common/torchsave.c's files load in real PyTorch: torch.load(..., weights_only=True)
# gives the identical tensor (dtype, shape, every element's bits) that PyTorch itself saves, for f32, bf16 and f16.
# Runs when Debian's python3-torch is installed; otherwise skips with a message (the committed goldens, which
# test_torchsave compares byte for byte, always run). Run from the repository root with BUILD set.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "test_torchsave_torch.sh: SKIP: PyTorch is not installed (apt-get install python3-torch)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/ours" "$tmp/torch"
"$BUILD/tests/torchsave_write" "$tmp/ours"
"$PY" - "$tmp/torch" <<'PY'
import sys
sys.path.insert(0, "tests/common")
import torch
from make_goldens import large, save, write
write(sys.argv[1])
save(large(), f"{sys.argv[1]}/large_f32.pt")
save(large().to(torch.bfloat16), f"{sys.argv[1]}/large_bf16.pt")
PY
# one Python per side (importing torch takes seconds): a line per file, in the same order
names=(special_f32 special_bf16 special_f16 large_f32 large_bf16 large_f16)
files() { for f in "${names[@]}"; do echo "$tmp/$1/$f.pt"; done; }
ours_text=$(files ours | xargs "$PY" tests/common/make_goldens.py --load) ||
    { echo "FAIL: torch.load refused one of our files"; exit 1; }
mapfile -t ours <<<"$ours_text"
mapfile -t theirs < <(files torch | xargs "$PY" tests/common/make_goldens.py --load)
for i in "${!names[@]}"; do
    f=${names[$i]}
    [ "${ours[$i]}" = "${theirs[$i]}" ] || { echo "FAIL: $f.pt loads to another tensor than PyTorch's: ${ours[$i]:0:200} vs ${theirs[$i]:0:200}"; exit 1; }
    cmp -s "$tmp/ours/$f.pt" "$tmp/torch/$f.pt" || echo "note: $f.pt: this torch writes other bytes (the tensor is the same)"
done
echo "test_torchsave_torch.sh: ok (6 files load with weights_only=True to PyTorch's own tensors)"
