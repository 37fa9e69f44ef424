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
for f in special_f32 special_bf16 special_f16 large_f32 large_bf16 large_f16; do
    ours=$("$PY" tests/common/make_goldens.py --load "$tmp/ours/$f.pt") || { echo "FAIL: torch.load refused our $f.pt"; exit 1; }
    theirs=$("$PY" tests/common/make_goldens.py --load "$tmp/torch/$f.pt")
    [ "$ours" = "$theirs" ] || { echo "FAIL: $f.pt loads to another tensor than PyTorch's: ${ours:0:200} vs ${theirs:0:200}"; exit 1; }
    cmp -s "$tmp/ours/$f.pt" "$tmp/torch/$f.pt" || echo "note: $f.pt: torch $("$PY" -c 'import torch; print(torch.__version__)') writes other bytes (the tensor is the same)"
done
echo "test_torchsave_torch.sh: ok (6 files load with weights_only=True to PyTorch's own tensors)"
