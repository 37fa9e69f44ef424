#!/usr/bin/python3
"""Write the torch.save golden files that tests/serve/test_torchzip.c reads (Debian's python3-torch).

Usage: make_goldens.py OUTDIR [INFO_JSON]
INFO_JSON: the answer of bbt serve's GET /bbt/v1/info?rows=1,403,407,261 on stories260K; with it, the embedding rows
of BOS "Once upon a" are saved as once_upon_a_f32.pt (the prompt_embeds of tests/serve/openai.sh).
Every tensor is golden_values(rows, cols) (below; the C test computes the same numbers) converted to the dtype, saved
the way a vLLM client saves prompt_embeds: torch.save(tensor, buffer).
"""
import base64
import json
import sys

import torch


def golden_values(rows, cols):
    """Values the C test recomputes: exact in float32, not all exact in bfloat16/float16, some subnormal in float16."""
    t = torch.empty(rows, cols, dtype=torch.float32)
    for i in range(rows):
        for j in range(cols):
            t[i, j] = ((i * 7 + j * 3) % 17 - 8) / 8.0 + j / 1024.0 + (1e-6 if j % 5 == 0 else 0.0)
    return t


def embed_rows(out, info_path):
    info = json.load(open(info_path))
    raw = base64.b64decode(info["rows_f32_b64"])
    rows = torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(len(info["row_ids"]), info["hidden_size"])
    torch.save(rows.clone(), f"{out}/once_upon_a_f32.pt")


def main(out):
    v = golden_values(5, 12)
    torch.save(v, f"{out}/f32_5x12.pt")
    torch.save(v.to(torch.bfloat16), f"{out}/bf16_5x12.pt")
    torch.save(v.to(torch.float16), f"{out}/f16_5x12.pt")
    torch.save(v.unsqueeze(0), f"{out}/f32_1x5x12.pt")
    torch.save(v.t(), f"{out}/bad_transposed.pt")        # not contiguous: refused
    torch.save(v.to(torch.float64), f"{out}/bad_f64.pt")  # dtype not accepted: refused
    torch.save(torch.zeros(2, 3, 4), f"{out}/bad_3d.pt")  # 3-D with dim 0 != 1: refused
    torch.save(v[1:3], f"{out}/f32_view_rows1to3.pt")     # a view: storage offset 12, storage of 60


if __name__ == "__main__":
    main(sys.argv[1])
    if len(sys.argv) > 2:
        embed_rows(sys.argv[1], sys.argv[2])
