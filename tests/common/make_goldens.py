#!/usr/bin/python3
"""Write the torch.save goldens of common/torchsave.c's writer with real PyTorch (Debian's python3-torch 1.13).

Usage: make_goldens.py OUTDIR          write the goldens (tests/common/goldens/ holds the committed ones)
       make_goldens.py --load FILE...  torch.load(FILE, weights_only=True) each file and print its dtype, shape and
                                       elements' bit patterns, one line per file (test_torchsave_torch.sh compares)
The C test (tests/common/test_torchsave.c) computes the same tensors and must write these files byte for byte.
"""
import sys

import torch

# rounding ties (bf16 and f16), f16 subnormals, values past f16's range, signed zero, infinities, NaN
SPECIAL = [1.0, 1.00390625, 1.01171875, -1.00390625, 3.0e-8, 2.98023223876953125e-8, 1.0e-7,
           -6.0e-5, 65504.0, 65519.0, 65520.0, 1.0e6, -0.0, 0.0,
           float("inf"), float("-inf"), float("nan"), 0.1, -0.2, 3.14159265, 1.0e-40]


def special():
    return torch.tensor(SPECIAL, dtype=torch.float32).reshape(3, 7)


def large(rows=257, cols=256):
    """257 x 256: a row count and a column count past one byte, an element count past two (other pickle integers)."""
    v = [((i * 131 + j * 71) % 1000 - 500) / 37.0 for i in range(rows) for j in range(cols)]
    return torch.tensor(v, dtype=torch.float32).reshape(rows, cols)


def save(t, path):
    """torch.save into a file object, as a vLLM client saves into a buffer (a path would name the archive after it)."""
    with open(path, "wb") as f:
        torch.save(t, f)


def write(out):
    s = special()
    save(s, f"{out}/special_f32.pt")
    save(s.to(torch.bfloat16), f"{out}/special_bf16.pt")
    save(s.to(torch.float16), f"{out}/special_f16.pt")
    save(large().to(torch.float16), f"{out}/large_f16.pt")


def bits(t):
    """The elements' bit patterns (NaN payloads included), as hex words."""
    width = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}[t.dtype]
    mask = 0xffffffff if width == torch.int32 else 0xffff
    return " ".join("%x" % (int(x) & mask) for x in t.contiguous().view(width).flatten().tolist())


def load(files):
    for f in files:
        t = torch.load(f, weights_only=True)
        print(f"{str(t.dtype).replace('torch.', '')} {list(t.shape)} {bits(t)}")


if __name__ == "__main__":
    if sys.argv[1] == "--load":
        load(sys.argv[2:])
    else:
        write(sys.argv[1])
