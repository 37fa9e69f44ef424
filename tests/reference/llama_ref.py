#!/usr/bin/python3
"""Independent float64 reference of the Llama architecture, for the engine's golden tests.

Written from the architecture's definition (Touvron et al. 2023; Karpathy's llama2.c checkpoint layout), not from the
engine's code: RMSNorm, rotary position embedding on interleaved pairs, grouped-query causal attention, SwiGLU
feed-forward, final RMSNorm, output head (tied to the embedding when the header says so). Everything in float64.

It reads a llama2.c checkpoint (legacy layout) with numpy and writes golden values:
  - logits at chosen positions of a few fixed token sequences;
  - scores of the score API: soft prompts inserted ("cat") or added ("add") at given positions, label words of one or
    several tokens scored by the sum of their log-probabilities given the prefix (and the first token only), with the
    prompts themselves in the file so the C test feeds the same numbers;
  - the same with deep prompts (BBTv2): one more L-row prompt per layer, added to that layer's input at the prompt
    rows (layer 0's input is the embedding output), and the hidden states (every layer's input, and the last layer's
    output before the final norm) of a few sequences under them.

Usage: /usr/bin/python3 tests/reference/llama_ref.py ../shared/assets/models/stories260K/stories260K.bin \
           > tests/reference/llama_stories260K_golden.txt
       /usr/bin/python3 tests/reference/llama_ref.py --hf DIR > GOLDEN
The second form reads a Hugging Face directory (config.json + model.safetensors, parsed with numpy) and computes in
Hugging Face's own conventions, independently of the llama2.c layout: q_proj/k_proj rows as stored, rotary embedding
by rotate_half (pairs (j, j + d/2)), optional q/k/v biases (Qwen2) and a sliding attention window (Mistral: query i
sees keys i - window < j <= i). tests/models/test_hf_golden.c writes the same models with the C model writer.
"""
import json
import struct
import sys

import numpy as np


def load_llama2c(path):
    raw = open(path, "rb").read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // heads
    data = np.frombuffer(raw, dtype="<f4", offset=28).astype(np.float64)
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        t = data[at:at + n].reshape(shape)
        at += n
        return t

    w = {}
    w["emb"] = take(vocab, dim)
    w["attn_norm"] = take(layers, dim)
    w["wq"] = take(layers, heads * hd, dim)
    w["wk"] = take(layers, kv_heads * hd, dim)
    w["wv"] = take(layers, kv_heads * hd, dim)
    w["wo"] = take(layers, dim, heads * hd)
    w["ffn_norm"] = take(layers, dim)
    w["w1"] = take(layers, hidden, dim)
    w["w2"] = take(layers, dim, hidden)
    w["w3"] = take(layers, hidden, dim)
    w["final_norm"] = take(dim)
    take(seq_len, hd // 2)
    take(seq_len, hd // 2)
    w["head"] = w["emb"] if shared else take(vocab, dim)
    assert at == data.size, "checkpoint size does not match its header"
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, hd=hd, eps=1e-5,
               theta=10000.0)
    return cfg, w


def rmsnorm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rotate(x, pos, theta):
    """Rotary embedding: pairs (2j, 2j+1) of each head turn by pos * theta^(-2j/d). x: [T, heads, d]."""
    d = x.shape[-1]
    freq = theta ** (-np.arange(0, d, 2) / d)              # [d/2]
    ang = np.asarray(pos, dtype=np.float64)[:, None] * freq  # [T, d/2]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def forward(cfg, w, x, mask, rope=None, deep=None, trace=None):
    """x: [T, dim] input rows; mask[i, j] True where row i may attend to row j. Returns logits [T, vocab].
    rope(x, pos, theta) rotates q and k ([T, heads, d]); q/k/v biases are used when w has them (Qwen2).
    deep = (rows, prompts [layers, len(rows), dim]): added to rows of layer l's input before layer l.
    trace: a list that receives every layer's input and the last layer's output."""
    rope = rope or rotate
    T = x.shape[0]
    H, KV, d = cfg["heads"], cfg["kv_heads"], cfg["hd"]
    pos = np.arange(T)
    for l in range(cfg["layers"]):
        if deep is not None:
            x = x.copy()
            x[deep[0]] += deep[1][l]
        if trace is not None:
            trace.append(x.copy())
        h = rmsnorm(x, w["attn_norm"][l], cfg["eps"])
        q, k, v = h @ w["wq"][l].T, h @ w["wk"][l].T, h @ w["wv"][l].T
        if "bq" in w:
            q, k, v = q + w["bq"][l], k + w["bk"][l], v + w["bv"][l]
        q = rope(q.reshape(T, H, d), pos, cfg["theta"])
        k = rope(k.reshape(T, KV, d), pos, cfg["theta"])
        v = v.reshape(T, KV, d)
        att = np.empty((T, H, d))
        for head in range(H):
            kv = head // (H // KV)
            s = q[:, head, :] @ k[:, kv, :].T / np.sqrt(d)
            s = np.where(mask, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            att[:, head, :] = s @ v[:, kv, :]
        x = x + att.reshape(T, H * d) @ w["wo"][l].T
        h = rmsnorm(x, w["ffn_norm"][l], cfg["eps"])
        g, u = h @ w["w1"][l].T, h @ w["w3"][l].T
        x = x + (g / (1.0 + np.exp(-g)) * u) @ w["w2"][l].T
    if trace is not None:
        trace.append(x.copy())
    return rmsnorm(x, w["final_norm"], cfg["eps"]) @ w["head"].T


def causal_logits(cfg, w, rows, deep=None, trace=None):
    T = rows.shape[0]
    return forward(cfg, w, rows, np.tril(np.ones((T, T), dtype=bool)), deep=deep, trace=trace)


def log_softmax(z):
    m = z.max()
    return z - (m + np.log(np.exp(z - m).sum()))


def seq_rows(w, ids, mode, pos, prompt):
    """Input rows of a sequence: token embeddings, with the prompt inserted before token `pos` or added from it."""
    e = w["emb"][np.asarray(ids)]
    if mode == "cat":
        return np.concatenate([e[:pos], prompt, e[pos:]])
    if mode == "add":
        e = e.copy()
        e[pos:pos + len(prompt)] += prompt
    return e


def deep_rows(mode, pos, k, deep):
    """The (rows, per-layer prompts) of a sequence's deep prompt: its k prompt rows from row pos on (None: none)."""
    if deep is None or mode == "none" or k == 0:
        return None
    return (np.arange(pos, pos + k), deep[:, :k, :])


def score(cfg, w, ids, mode, pos, read, prompt, label, first_only, raw, deep=None):
    """Sum over the label's tokens of log p(token | prefix, earlier label tokens); the prefix is ids[0..read].
    Each label is run as its own continuation of the prefix (the straightforward way). deep: [layers, L, dim]."""
    prefix = ids[:read + 1]
    if mode == "cat" and pos > read:
        mode = "none"
    if mode == "add":
        prompt = prompt[:max(0, min(len(prompt), read + 1 - pos))]
    toks = label[:1] if first_only else label
    rows = np.concatenate([seq_rows(w, prefix, mode, pos, prompt), w["emb"][np.asarray(toks[:-1], dtype=int)]])
    lg = causal_logits(cfg, w, rows, deep_rows(mode, pos, len(prompt), deep))
    start = rows.shape[0] - len(toks)
    total = 0.0
    for i, t in enumerate(toks):
        z = lg[start + i]
        total += z[t] if raw else log_softmax(z)[t]
    return total


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", "the reference reads F32 tensors"
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + en], dtype="<f4").astype(np.float64).reshape(e["shape"])
    return out


def load_hf(d):
    c = json.load(open(d + "/config.json"))
    t = read_safetensors(d + "/model.safetensors")
    H, heads = c["hidden_size"], c["num_attention_heads"]
    cfg = dict(dim=H, layers=c["num_hidden_layers"], heads=heads, kv_heads=c.get("num_key_value_heads", heads),
               hd=c.get("head_dim", H // heads), vocab=c["vocab_size"], eps=c.get("rms_norm_eps", 1e-6),
               theta=c.get("rope_theta", 10000.0), window=c.get("sliding_window") or 0)
    if c.get("model_type") == "qwen2" and not c.get("use_sliding_window", False):
        cfg["window"] = 0
    L = "model.layers.%d."
    get = lambda k, l: t[(L % l) + k]
    w = {"emb": t["model.embed_tokens.weight"], "final_norm": t["model.norm.weight"]}
    w["head"] = w["emb"] if c.get("tie_word_embeddings", False) else t["lm_head.weight"]
    for key, part in [("attn_norm", "input_layernorm.weight"), ("wq", "self_attn.q_proj.weight"),
                      ("wk", "self_attn.k_proj.weight"), ("wv", "self_attn.v_proj.weight"),
                      ("wo", "self_attn.o_proj.weight"), ("ffn_norm", "post_attention_layernorm.weight"),
                      ("w1", "mlp.gate_proj.weight"), ("w3", "mlp.up_proj.weight"), ("w2", "mlp.down_proj.weight"),
                      ("bq", "self_attn.q_proj.bias"), ("bk", "self_attn.k_proj.bias"), ("bv", "self_attn.v_proj.bias")]:
        if (L % 0) + part in t:
            w[key] = np.stack([get(part, l) for l in range(cfg["layers"])])
    return cfg, w


def rotate_half_rope(x, pos, theta):
    """Hugging Face's form: x * cos + rotate_half(x) * sin, frequencies repeated over the two halves."""
    d = x.shape[-1]
    inv = theta ** (-np.arange(0, d, 2) / d)
    ang = np.asarray(pos, dtype=np.float64)[:, None] * inv
    ang = np.concatenate([ang, ang], axis=-1)[:, None, :]
    half = d // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * np.cos(ang) + rot * np.sin(ang)


def hf_mask(T, window):
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    m = j <= i
    if window:
        m &= j > i - window
    return m


def main_hf(d):
    cfg, w = load_hf(d)
    run = lambda rows: forward(cfg, w, rows, hf_mask(rows.shape[0], cfg["window"]), rotate_half_rope)
    out = sys.stdout
    out.write("# golden values from tests/reference/llama_ref.py --hf (float64), Hugging Face conventions\n")
    rng = np.random.default_rng(7)
    ids = [1] + list(rng.integers(3, cfg["vocab"], size=23))
    lg = run(w["emb"][np.asarray(ids)])
    out.write("logits %d %s\n" % (len(ids), " ".join(map(str, ids))))
    for p in range(len(ids)):
        out.write("pos %d %d %s\n" % (p, cfg["vocab"], fmt(lg[p])))
    L = 3
    prompts = rng.normal(0.0, 0.5, size=(1, L, cfg["dim"]))
    labels = [[5], [7, 11], [13, 17, 19]]
    out.write("prompts 1 %d %d %s\n" % (L, cfg["dim"], fmt(prompts)))
    for lab in labels:
        out.write("label %d %s\n" % (len(lab), " ".join(map(str, lab))))
    for mode, pos, read in (("cat", 1, -1), ("add", 2, 15), ("none", 0, -1)):
        r = len(ids) - 1 if read < 0 else read
        prefix = ids[:r + 1]
        vals = []
        for lab in labels:
            rows = seq_rows(w, prefix, mode, pos, prompts[0][:max(0, min(L, r + 1 - pos))] if mode == "add"
                            else prompts[0])
            rows = np.concatenate([rows, w["emb"][np.asarray(lab[:-1], dtype=int)]])
            z = run(rows)
            start = rows.shape[0] - len(lab)
            vals.append(sum(log_softmax(z[start + i])[t] for i, t in enumerate(lab)))
        out.write("seq %s %d %d %s\n" % (mode, pos, read, fmt(vals)))


def fmt(v):
    return " ".join("%.9e" % x for x in np.ravel(v))


def main():
    cfg, w = load_llama2c(sys.argv[1])
    rng = np.random.default_rng(20261129)
    out = sys.stdout
    out.write("# golden values from tests/reference/llama_ref.py (float64) for %s\n" % sys.argv[1].split("/")[-1])
    out.write("# logits CASE N ids...  then lines: pos P V values\n")
    cases = {
        "once": [1, 403, 407, 261, 378],
        "single": [1],
        "long": [1] + list(rng.integers(3, cfg["vocab"], size=47)),
    }
    for name, ids in cases.items():
        lg = causal_logits(cfg, w, w["emb"][np.asarray(ids)])
        out.write("logits %s %d %s\n" % (name, len(ids), " ".join(map(str, ids))))
        positions = range(len(ids)) if len(ids) <= 8 else [0, 1, 17, 30, len(ids) - 1]
        for p in positions:
            out.write("pos %d %d %s\n" % (p, cfg["vocab"], fmt(lg[p])))

    # score API: 2 prompts of L rows; labels of 1, 2 and 3 tokens
    L = 4
    prompts = rng.normal(0.0, np.std(w["emb"]), size=(2, L, cfg["dim"]))
    labels = [[363], [291, 437], [379, 268, 304]]
    seqs = [  # ids, mode, prompt_pos, read_pos (-1 = last), prompt index
        ([1] + list(rng.integers(3, cfg["vocab"], size=10)), "cat", 1, -1, 0),
        ([1] + list(rng.integers(3, cfg["vocab"], size=12)), "add", 1, 8, 1),
        ([1] + list(rng.integers(3, cfg["vocab"], size=7)), "none", 0, -1, 0),
        ([1] + list(rng.integers(3, cfg["vocab"], size=9)), "cat", 6, 4, 1),   # prompt after the read position
        ([1] + list(rng.integers(3, cfg["vocab"], size=9)), "cat", 10, -1, 0),  # prompt at the very end
    ]
    out.write("prompts %d %d %d %s\n" % (2, L, cfg["dim"], fmt(prompts)))
    out.write("labels %d\n" % len(labels))
    for lab in labels:
        out.write("label %d %s\n" % (len(lab), " ".join(map(str, lab))))
    for ids, mode, pos, read, p in seqs:
        r = len(ids) - 1 if read < 0 else read
        vals = []
        for first_only, raw in ((0, 0), (1, 0), (0, 1)):
            vals += [score(cfg, w, ids, mode, pos, r, prompts[p], lab, first_only, raw) for lab in labels]
        out.write("seq %s %d %d %d %d %s | %s\n" % (mode, pos, read, p, len(ids), " ".join(map(str, ids)), fmt(vals)))

    # deep prompts (BBTv2): the same sequences with a prompt per layer as well; drawn after everything above, so that
    # the lines above do not change
    deep = rng.normal(0.0, 0.5, size=(2, cfg["layers"], L, cfg["dim"]))
    out.write("deep %d %d %d %d %s\n" % (2, cfg["layers"], L, cfg["dim"], fmt(deep)))
    for i, (ids, mode, pos, read, p) in enumerate(seqs):
        r = len(ids) - 1 if read < 0 else read
        vals = []
        for first_only, raw in ((0, 0), (1, 0), (0, 1)):
            vals += [score(cfg, w, ids, mode, pos, r, prompts[p], lab, first_only, raw, deep[p]) for lab in labels]
        out.write("dseq %d | %s\n" % (i, fmt(vals)))
    for i in (0, 1):  # every layer's input and the last output, all rows of the whole sequence
        ids, mode, pos, read, p = seqs[i]
        trace = []
        causal_logits(cfg, w, seq_rows(w, ids, mode, pos, prompts[p]), deep_rows(mode, pos, L, deep[p]), trace)
        hs = np.stack(trace)
        out.write("dhidden %d %d %d %d %s\n" % (i, hs.shape[0], hs.shape[1], hs.shape[2], fmt(hs)))


if __name__ == "__main__":
    if sys.argv[1] == "--hf":
        main_hf(sys.argv[2])
    else:
        main()
