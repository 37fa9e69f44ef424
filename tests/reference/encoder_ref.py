#!/usr/bin/python3
"""Independent float64 PyTorch reference of BERT, RoBERTa (masked LMs) and GPT-2, for the engine's golden tests.

Written from the published architectures (Devlin et al. 2019, BERT; Liu et al. 2019, RoBERTa; Radford et al. 2019,
GPT-2) and the tensor layout Hugging Face saves them in, not from the engine's code:
  - BERT/RoBERTa: embeddings = LayerNorm(word + position + token type); RoBERTa numbers positions from padding_idx + 1
    (Hugging Face's create_position_ids_from_input_ids: padding tokens get padding_idx, the others count on); post-norm
    encoder layers (self-attention with a padding mask, residual, LayerNorm; GELU feed-forward with the exact erf,
    residual, LayerNorm); MLM head = LayerNorm(gelu(dense(h))) then the decoder (tied to the word embeddings unless
    the file has its own) plus a bias. Batches run PADDED to one length with an attention mask, as a PyTorch user
    would run them, so the engine's unpadded sequences are checked against padded ones.
  - GPT-2: token + learned position embeddings, pre-norm blocks (LayerNorm, causal self-attention with Conv1D
    [in][out] weights, residual; LayerNorm, MLP with the config's activation_function (GPT-2's own: the tanh
    approximation of GELU; the others of ACTIVATIONS below, written from their formulas), residual), final LayerNorm,
    head tied to the token embeddings unless tie_word_embeddings is false (then lm_head.weight). A label of several
    tokens is run as its own continuation of the prefix.
Soft prompts follow the engine's documented contract (models/lm.h): a masked LM takes an added prompt after the
embedding LayerNorm at rows pos..pos+L-1, or inserted rows (no position or type embedding; the tokens keep their
positions; the attention mask extended by ones); a causal LM takes the prompt rows in place of token embeddings
(inserted rows take positions like tokens). Deep prompts are added to the same rows at the input of every layer.

Usage: /usr/bin/python3 tests/reference/encoder_ref.py MODEL_DIR > GOLDEN
The golden file holds the inputs (sequences, prompts, labels) and the outputs (scores per batch, every layer's hidden
states of some sequences, whole-vocabulary logits of one sequence); tests/models/test_encoder_golden.c reads it, writes
the same model with the C model writer and compares. Words are whitespace-separated; '#' starts a comment line.
"""
import json
import struct
import sys

import numpy as np
import torch

from llama_ref import read_safetensors

torch.set_default_dtype(torch.float64)
F = torch.nn.functional


def read_tensors(path):
    """The F32 tensors of a safetensors file as float64 torch tensors (the numpy reader of llama_ref.py)."""
    return {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(path).items()}


class MaskedLM:
    """BertForMaskedLM / RobertaForMaskedLM."""

    def __init__(self, cfg, t):
        self.roberta = cfg["model_type"] == "roberta"
        p = "roberta." if self.roberta else "bert."
        self.t, self.p = t, p
        self.H, self.heads = cfg["hidden_size"], cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        self.pad = cfg["pad_token_id"]
        self.vocab = cfg["vocab_size"]
        self.word = t[p + "embeddings.word_embeddings.weight"]
        head = "lm_head." if self.roberta else "cls.predictions."
        dec = t.get(head + "decoder.weight")
        self.decoder = self.word if dec is None or cfg.get("tie_word_embeddings", True) else dec
        self.dec_bias = t[head + "bias"]
        tr = "lm_head." if self.roberta else "cls.predictions.transform."
        self.head_dense = (t[tr + "dense.weight"], t[tr + "dense.bias"])
        ln = tr + ("layer_norm" if self.roberta else "LayerNorm")
        self.head_ln = (t[ln + ".weight"], t[ln + ".bias"])

    def positions(self, ids):
        if not self.roberta:
            return torch.arange(ids.shape[-1]).expand_as(ids)
        mask = (ids != self.pad).long()
        return torch.cumsum(mask, dim=-1) * mask + self.pad

    def embed(self, ids, types):
        t, p = self.t, self.p
        e = (t[p + "embeddings.word_embeddings.weight"][ids] + t[p + "embeddings.position_embeddings.weight"][
            self.positions(ids)] + t[p + "embeddings.token_type_embeddings.weight"][types])
        return F.layer_norm(e, (self.H,), t[p + "embeddings.LayerNorm.weight"], t[p + "embeddings.LayerNorm.bias"],
                            self.eps)

    def layer(self, x, keep, l):
        """x: [B, T, H]; keep: [B, T] 1 for rows that may be attended to."""
        t = self.t
        g = lambda k: t["%sencoder.layer.%d.%s" % (self.p, l, k)]
        B, T, H = x.shape
        d = H // self.heads
        split = lambda y: y.view(B, T, self.heads, d).transpose(1, 2)
        q = split(F.linear(x, g("attention.self.query.weight"), g("attention.self.query.bias")))
        k = split(F.linear(x, g("attention.self.key.weight"), g("attention.self.key.bias")))
        v = split(F.linear(x, g("attention.self.value.weight"), g("attention.self.value.bias")))
        s = q @ k.transpose(-1, -2) / d ** 0.5
        s = s.masked_fill(keep[:, None, None, :] == 0, float("-inf"))
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
        a = F.linear(a, g("attention.output.dense.weight"), g("attention.output.dense.bias"))
        x = F.layer_norm(x + a, (H,), g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias"),
                         self.eps)
        h = F.gelu(F.linear(x, g("intermediate.dense.weight"), g("intermediate.dense.bias")))  # exact erf GELU
        h = F.linear(h, g("output.dense.weight"), g("output.dense.bias"))
        return F.layer_norm(x + h, (H,), g("output.LayerNorm.weight"), g("output.LayerNorm.bias"), self.eps)

    def head(self, h):
        z = F.gelu(F.linear(h, *self.head_dense))
        z = F.layer_norm(z, (self.H,), *self.head_ln, self.eps)
        return z @ self.decoder.T + self.dec_bias

    def run(self, seqs, prompts, deep):
        """seqs: list of dicts (ids, types, mode, pos, prompt). Runs them as one padded batch. Returns per sequence
        the hidden states [layers + 1, rows, H] of its real rows and the map from token index to row."""
        rows = [len(s["ids"]) + (len(prompts[0]) if s["mode"] == "cat" else 0) for s in seqs]
        T, L = max(rows), len(prompts[0])
        B = len(seqs)
        x = torch.zeros(B, T, self.H)
        keep = torch.zeros(B, T)
        prompt_rows, token_row = [], []
        for b, s in enumerate(seqs):
            n = len(s["ids"])
            ids = torch.tensor(s["ids"] + [self.pad] * (T - n))  # padded as a tokenizer pads
            types = torch.tensor(s["types"] + [0] * (T - n))
            e = self.embed(ids[None], types[None])[0][:n]
            p = prompts[s["prompt"]]
            if s["mode"] == "cat":
                e = torch.cat([e[:s["pos"]], p, e[s["pos"]:]])
                pr = list(range(s["pos"], s["pos"] + L))
                tr = [i if i < s["pos"] else i + L for i in range(n)]
            else:
                if s["mode"] == "add":
                    e = e.clone()
                    e[s["pos"]:s["pos"] + L] += p
                pr = list(range(s["pos"], s["pos"] + L)) if s["mode"] == "add" else []
                tr = list(range(n))
            x[b, :rows[b]] = e
            keep[b, :rows[b]] = 1
            prompt_rows.append(pr)
            token_row.append(tr)
        states = []
        for l in range(self.layers):
            if deep is not None:
                x = x.clone()
                for b, s in enumerate(seqs):
                    for j, r in enumerate(prompt_rows[b]):
                        x[b, r] += deep[s["prompt"]][l][j]
            states.append(x)
            x = self.layer(x, keep, l)
        states.append(x)
        hs = torch.stack(states, dim=1)  # [B, layers + 1, T, H]
        return [hs[b, :, :rows[b]] for b in range(B)], token_row

    def scores(self, seqs, prompts, deep, labels):
        hs, token_row = self.run(seqs, prompts, deep)
        out = []
        for b, s in enumerate(seqs):
            z = self.head(hs[b][-1][token_row[b][s["read"]]])
            out += [float(z[lab[0]]) for lab in labels]
        return out

    def logits(self, ids):
        s = {"ids": ids, "types": [0] * len(ids), "mode": "none", "pos": 0, "prompt": 0}
        hs, _ = self.run([s], [torch.zeros(1, self.H)], None)
        return self.head(hs[0][-1])


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh((2.0 / np.pi) ** 0.5 * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / 2.0 ** 0.5))


# Hugging Face's activation names (transformers' ACT2FN) and the functions they stand for.
ACTIVATIONS = {
    "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "gelu_fast": gelu_tanh,
    "gelu": gelu_erf, "gelu_python": gelu_erf,
    "relu": lambda x: torch.clamp(x, min=0.0),
    "silu": lambda x: x / (1.0 + torch.exp(-x)), "swish": lambda x: x / (1.0 + torch.exp(-x)),
    "quick_gelu": lambda x: x / (1.0 + torch.exp(-1.702 * x)),
}


class GPT2:
    def __init__(self, cfg, t):
        self.act = ACTIVATIONS[cfg.get("activation_function", "gelu_new")]
        self.t = t
        self.H, self.heads, self.layers = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.wte, self.wpe = t["transformer.wte.weight"], t["transformer.wpe.weight"]
        self.lm_head = self.wte if cfg.get("tie_word_embeddings", True) else t["lm_head.weight"]

    def block(self, x, l):
        g = lambda k: self.t["transformer.h.%d.%s" % (l, k)]
        T, H = x.shape
        d = H // self.heads
        conv1d = lambda y, name: y @ g(name + ".weight") + g(name + ".bias")  # Conv1D: [in][out]
        h = F.layer_norm(x, (H,), g("ln_1.weight"), g("ln_1.bias"), self.eps)
        q, k, v = conv1d(h, "attn.c_attn").split(H, dim=-1)
        q, k, v = (y.view(T, self.heads, d).transpose(0, 1) for y in (q, k, v))
        s = q @ k.transpose(-1, -2) / d ** 0.5
        s = s.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
        a = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(T, H)
        x = x + conv1d(a, "attn.c_proj")
        h = F.layer_norm(x, (H,), g("ln_2.weight"), g("ln_2.bias"), self.eps)
        h = self.act(conv1d(h, "mlp.c_fc"))
        return x + conv1d(h, "mlp.c_proj")

    def run(self, rows, prompt_rows, deep_layers):
        """rows: [T, H] input rows (token embeddings or prompt rows); returns hidden states [layers + 1, T, H]."""
        x = rows + self.wpe[torch.arange(rows.shape[0])]
        states = []
        for l in range(self.layers):
            if deep_layers is not None:
                x = x.clone()
                for j, r in enumerate(prompt_rows):
                    x[r] += deep_layers[l][j]
            states.append(x)
            x = self.block(x, l)
        states.append(x)
        return torch.stack(states)

    def final(self, h):
        return F.layer_norm(h, (self.H,), self.t["transformer.ln_f.weight"], self.t["transformer.ln_f.bias"],
                            self.eps) @ self.lm_head.T

    def input_rows(self, ids, mode, pos, prompt):
        """The rows of ids with the prompt inserted before token pos (cat) or added from it (add); and its rows."""
        e = self.wte[torch.tensor(ids, dtype=torch.long)]
        L = len(prompt)
        if mode == "cat" and pos <= len(ids):
            return torch.cat([e[:pos], prompt, e[pos:]]), list(range(pos, pos + L))
        if mode == "add":
            e = e.clone()
            m = max(0, min(L, len(ids) - pos))
            e[pos:pos + m] += prompt[:m]
            return e, list(range(pos, pos + m))
        return e, []

    def score(self, s, prompts, deep, label, first_only, raw):
        read = s["read"] if s["read"] >= 0 else len(s["ids"]) - 1
        prefix = s["ids"][:read + 1]
        toks = label[:1] if first_only else label
        mode = "none" if s["mode"] == "cat" and s["pos"] > read else s["mode"]
        rows, pr = self.input_rows(prefix, mode, s["pos"], prompts[s["prompt"]])
        rows = torch.cat([rows, self.wte[torch.tensor(toks[:-1], dtype=torch.long)]])
        hs = self.run(rows, pr, None if deep is None else deep[s["prompt"]])
        z = self.final(hs[-1])
        start = rows.shape[0] - len(toks)
        total = 0.0
        for i, tok in enumerate(toks):
            total += float(z[start + i][tok] if raw else torch.log_softmax(z[start + i], dim=-1)[tok])
        return total

    def scores(self, seqs, prompts, deep, labels, first_only, raw):
        return [self.score(s, prompts, deep, lab, first_only, raw) for s in seqs for lab in labels]

    def hidden(self, s, prompts, deep):
        rows, pr = self.input_rows(s["ids"], s["mode"], s["pos"], prompts[s["prompt"]])
        return self.run(rows, pr, None if deep is None else deep[s["prompt"]])


def fmt(v):
    return " ".join("%.8e" % x for x in np.ravel(np.asarray(v, dtype=np.float64)))


def write_seq(out, s):
    out.write("seq %d %s types %d %s prompt %d %s %d %d\n" % (
        len(s["ids"]), " ".join(map(str, s["ids"])), len(s["types"]) if any(s["types"]) else 0,
        " ".join(map(str, s["types"])) if any(s["types"]) else "", s["prompt"], s["mode"], s["pos"], s["read"]))


def write_inputs(out, rng, layers, L, H, labels, seqs, scale=1.0):
    """Two random prompts of L rows and their deep prompts (standard deviations 0.5 and 0.3, times scale), then the
    labels and the sequences, into the golden file."""
    prompts = torch.tensor(rng.normal(0.0, 0.5, size=(2, L, H)))
    deep = torch.tensor(rng.normal(0.0, 0.3, size=(2, layers, L, H)))
    if scale != 1.0:
        prompts, deep = prompts * scale, deep * scale
    out.write("prompts 2 %d %d %s\n" % (L, H, fmt(prompts)))
    out.write("deep 2 %d %d %d %s\n" % (layers, L, H, fmt(deep)))
    out.write("labels %d\n" % len(labels))
    for lab in labels:
        out.write("label %d %s\n" % (len(lab), " ".join(map(str, lab))))
    for s in seqs:
        write_seq(out, s)
    return prompts, deep


def masked_cases(model, rng, out):
    V, H, L = model.vocab, model.H, 4
    special = {model.pad, 0, 1, 2, 3}
    tok = lambda n: [int(x) for x in rng.integers(4, V, size=n)]
    types = lambda n, at: [0] * at + [1] * (n - at) if not model.roberta else [0] * n
    seqs = [
        dict(ids=[2] + tok(13), types=types(14, 8), prompt=0, mode="none", pos=0, read=5),     # token types
        dict(ids=[2] + tok(17), types=types(18, 18), prompt=1, mode="add", pos=1, read=12),    # add after the first
        dict(ids=[2] + tok(9), types=types(10, 6), prompt=0, mode="cat", pos=1, read=8),       # cat after the first
        dict(ids=[2] + tok(19), types=types(20, 20), prompt=1, mode="cat", pos=7, read=3),     # cat mid, mask before it
        dict(ids=tok(6), types=types(6, 6), prompt=0, mode="none", pos=0, read=0),             # mask first
        dict(ids=[2] + tok(15), types=types(16, 3), prompt=1, mode="add", pos=9, read=15),     # mask last, add at 9
    ]
    if model.roberta:  # a padding id inside a sequence: RoBERTa gives it the padding position
        seqs[5]["ids"][4] = model.pad
    assert not special & set(seqs[1]["ids"][1:])
    labels = [[7], [11, 5], [13]]
    prompts, deep = write_inputs(out, rng, model.layers, L, H, labels, seqs)
    for name, idx, use_deep in (("all", range(6), 0), ("deep", [1, 2, 3], 1), ("one", [4], 0)):
        sel = [seqs[i] for i in idx]
        vals = model.scores(sel, prompts, deep if use_deep else None, labels)
        out.write("# batch %s: padded to one length in the reference\n" % name)
        out.write("batch 0 0 %d %d %s scores %s\n" % (use_deep, len(sel), " ".join(map(str, idx)), fmt(vals)))
    for i, use_deep in ((1, 0), (3, 0), (5, 1)):
        hs, _ = model.run([seqs[i]], prompts, deep if use_deep else None)
        out.write("hidden %d %d %d %d %d %s\n" % (i, use_deep, hs[0].shape[0], hs[0].shape[1], H, fmt(hs[0])))
    ids = [2] + tok(11)
    out.write("logits %d %s %d %s\n" % (len(ids), " ".join(map(str, ids)), V, fmt(model.logits(ids))))


def gpt2_cases(model, rng, out, V):
    H, L = model.H, 3
    tok = lambda n: [int(x) for x in rng.integers(0, V - 1, size=n)]
    none = lambda n: [0] * n
    seqs = [
        dict(ids=tok(16), types=none(16), prompt=0, mode="none", pos=0, read=-1),
        dict(ids=tok(20), types=none(20), prompt=1, mode="cat", pos=1, read=14),   # tokens after read ignored
        dict(ids=tok(12), types=none(12), prompt=0, mode="add", pos=2, read=-1),
        dict(ids=tok(18), types=none(18), prompt=1, mode="cat", pos=12, read=10),  # the prompt after the read row
        dict(ids=tok(9), types=none(9), prompt=0, mode="add", pos=5, read=6),      # add rows past the read row
    ]
    labels = [[5], [7, 11], [13, 17, 19]]
    prompts, deep = write_inputs(out, rng, model.layers, L, H, labels, seqs)
    for first_only, raw, use_deep in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)):
        vals = model.scores(seqs, prompts, deep if use_deep else None, labels, first_only, raw)
        out.write("batch %d %d %d %d %s scores %s\n" % (first_only, raw, use_deep, len(seqs),
                                                        " ".join(map(str, range(len(seqs)))), fmt(vals)))
    for i, use_deep in ((1, 0), (3, 1), (4, 1)):
        hs = model.hidden(seqs[i], prompts, deep if use_deep else None)
        out.write("hidden %d %d %d %d %d %s\n" % (i, use_deep, hs.shape[0], hs.shape[1], H, fmt(hs)))
    ids = tok(10)
    rows, _ = model.input_rows(ids, "none", 0, prompts[0][:0])
    z = model.final(model.run(rows, [], None)[-1])
    out.write("logits %d %s %d %s\n" % (len(ids), " ".join(map(str, ids)), V, fmt(z)))


def main():
    d = sys.argv[1]
    cfg = json.load(open(d + "/config.json"))
    t = read_tensors(d + "/model.safetensors")
    out = sys.stdout
    arch = cfg["model_type"]
    out.write("# golden values from tests/reference/encoder_ref.py (PyTorch, float64) for a random %s\n" % arch)
    out.write("model %s\n" % arch)
    rng = np.random.default_rng(20261201)
    with torch.no_grad():
        if arch == "gpt2":
            gpt2_cases(GPT2(cfg, t), rng, out, cfg["vocab_size"])
        else:
            masked_cases(MaskedLM(cfg, t), rng, out)


if __name__ == "__main__":
    main()
