#!/usr/bin/python3
"""Goldens for GPT-2-architecture models beyond GPT-2 itself, from the independent float64 PyTorch GPT-2 of
encoder_ref.py (activation_function from the config, an untied lm_head):

  gpt2_ref.py craftgpt MODEL_DIR > tests/reference/gpt2_craftgpt_golden.txt
      CraftGPT-5M (../shared/assets/models/craftgpt-5M: ReLU MLP, untied head, context 64), on chat-format sentences
      tokenized by the independent tokenizer reference (tok_wordpiece_ref.py): scores of label words under cat and add
      prompts (log-probabilities, first token only, raw logits, deep prompts), every layer's hidden states of one
      short sequence (cat and deep prompts), whole-vocabulary logits at every position of it. Same file format as
      encoder_ref.py, read by tests/models/test_encoder_golden.c.
  gpt2_ref.py activations MODEL_DIR > tests/reference/gpt2_activations_golden.txt
      A small random GPT-2 written by the C model writer (make_model --arch gpt2 --dim 32 --ffn 80 --layers 2 --heads 4
      --vocab 61 --max-pos 48 --seed 23), whole-vocabulary logits of one sequence under each activation of
      encoder_ref.ACTIVATIONS: 'act NAME N IDS... V LOGITS...'.
"""
import json
import os
import sys

import numpy as np
import torch

from encoder_ref import ACTIVATIONS, GPT2, fmt, read_tensors, write_inputs
from tok_wordpiece_ref import WordPieceTokenizer

CHATS = [
    "[inst] a gorgeous, witty, seductive movie. [/inst] i feel",
    "[inst] the plot is nothing but boilerplate cliches from start to finish. [/inst] it was",
    "[inst] what is the capital of france? [/inst]",
    "[inst] hello! [/inst] hi, how can i help you today?",
    "[inst] a sad, sometimes funny story about a family and its dog. [/inst] this story is",
    "[inst] hi! [/inst] hello",
]
LABEL_WORDS = ["sad", "happy", "great", "terrible film"]  # the Prepend normalizer gives "_sad" etc.


def craftgpt(d, cfg, t, out):
    tok = WordPieceTokenizer(os.path.join(d, "tokenizer.json"))
    model = GPT2(cfg, t)
    rng = np.random.default_rng(20261205)
    ids = [tok.encode(c) for c in CHATS]
    none = lambda n: [0] * n
    seqs = [
        dict(ids=ids[0], types=none(len(ids[0])), prompt=0, mode="cat", pos=1, read=-1),     # after [inst]
        dict(ids=ids[1], types=none(len(ids[1])), prompt=1, mode="cat", pos=0, read=-1),     # before everything
        dict(ids=ids[2], types=none(len(ids[2])), prompt=0, mode="add", pos=1, read=-1),
        dict(ids=ids[3], types=none(len(ids[3])), prompt=1, mode="none", pos=0, read=7),     # read mid-sequence
        dict(ids=ids[4], types=none(len(ids[4])), prompt=0, mode="cat", pos=3, read=-1),
        dict(ids=ids[5], types=none(len(ids[5])), prompt=1, mode="cat", pos=1, read=-1),
    ]
    labels = [tok.encode(w) for w in LABEL_WORDS]
    assert all(len(lab) <= 4 for lab in labels) and len(labels[3]) == 2
    # prompts of about this model's embedding size (std 0.064)
    prompts, deep = write_inputs(out, rng, model.layers, 4, model.H, labels, seqs, scale=0.15)
    for first_only, raw, use_deep in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)):
        vals = model.scores(seqs, prompts, deep if use_deep else None, labels, first_only, raw)
        out.write("batch %d %d %d %d %s scores %s\n" % (first_only, raw, use_deep, len(seqs),
                                                        " ".join(map(str, range(len(seqs)))), fmt(vals)))
    hs = model.hidden(seqs[5], prompts, deep)
    out.write("hidden 5 1 %d %d %d %s\n" % (hs.shape[0], hs.shape[1], model.H, fmt(hs)))
    rows, _ = model.input_rows(ids[5], "none", 0, prompts[0][:0])
    z = model.final(model.run(rows, [], None)[-1])
    out.write("logits %d %s %d %s\n" % (len(ids[5]), " ".join(map(str, ids[5])), cfg["vocab_size"], fmt(z)))


def activations(cfg, t, out):
    ids = [3, 17, 42, 5, 60, 0, 33, 21, 8, 50, 11, 29]
    for name in ACTIVATIONS:
        model = GPT2(dict(cfg, activation_function=name), t)
        rows, _ = model.input_rows(ids, "none", 0, torch.zeros(0, model.H))
        z = model.final(model.run(rows, [], None)[-1])
        out.write("act %s %d %s %d %s\n" % (name, len(ids), " ".join(map(str, ids)), cfg["vocab_size"], fmt(z)))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("craftgpt", "activations"):
        raise SystemExit(__doc__)
    d = sys.argv[2]
    cfg = json.load(open(os.path.join(d, "config.json")))
    t = read_tensors(os.path.join(d, "model.safetensors"))
    out = sys.stdout
    out.write("# golden values from tests/reference/gpt2_ref.py %s (PyTorch, float64)\n" % sys.argv[1])
    torch.set_default_dtype(torch.float64)
    with torch.no_grad():
        if sys.argv[1] == "craftgpt":
            out.write("model gpt2\n")
            craftgpt(d, cfg, t, out)
        else:
            activations(cfg, t, out)


if __name__ == "__main__":
    main()
