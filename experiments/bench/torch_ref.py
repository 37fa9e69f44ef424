#!/usr/bin/python3
"""PyTorch reference timing for the engine: the same safetensors model, the same batch, fp32 and bf16.

Loads a Hugging Face layout directory (config.json + model.safetensors or shards; F32, F16 or BF16 tensors) by parsing
safetensors with numpy (no other packages), builds the architecture in plain PyTorch as Hugging Face defines it, and
times a scoring batch shaped like `bbt bench`: B sequences of T rows, each a first token, an L-row soft prompt, then
text tokens.
  - Llama (RMSNorm, rotate_half rotary embedding, grouped-query attention, SwiGLU): causal attention; the output head
    applied to the last row only (what a scoring loop needs).
  - BERT / RoBERTa masked LMs (post-norm encoder, exact-erf GELU, the prompt rows inserted after the embedding
    LayerNorm): bidirectional attention as matmul, softmax, matmul (torch 1.13 has no fused CPU attention),
    the MLM head (dense, GELU, LayerNorm, decoder over the whole vocabulary) at the last row (the mask) only.
Every layer runs on every row, as a PyTorch model does. Prints one JSON line {"torch_f32_s":…, "torch_bf16_s":…} with
the median of --reps timed runs after a warm-up, per dtype (and the fastest run, "torch_f32_min_s", …).

Usage: /usr/bin/python3 experiments/bench/torch_ref.py --model DIR [--batch 32 --seq 128 --prompt-tokens 50
           --threads 2 --reps 5 --dtypes f32,bf16]
"""
import argparse
import json
import os
import statistics
import struct
import time

import numpy as np
import torch

F = torch.nn.functional


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        buf = raw[base + b:base + en]
        if e["dtype"] == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif e["dtype"] == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: dtype %s" % (name, e["dtype"]))
        out[name] = a.reshape(e["shape"]).copy()
    return out


def load_model_dir(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    index = os.path.join(d, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(os.path.join(d, "model.safetensors")):
        tensors = read_safetensors(os.path.join(d, "model.safetensors"))
    else:
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            tensors.update(read_safetensors(os.path.join(d, shard)))
    return cfg, tensors


class Llama(torch.nn.Module):
    def __init__(self, cfg, t):
        super().__init__()
        self.H = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv = cfg.get("num_key_value_heads", self.heads)
        self.hd = cfg.get("head_dim", self.H // self.heads)
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.layers = cfg["num_hidden_layers"]
        P = lambda name: torch.nn.Parameter(torch.from_numpy(t[name]), requires_grad=False)
        self.emb = P("model.embed_tokens.weight")
        self.norm = P("model.norm.weight")
        self.head = self.emb if cfg.get("tie_word_embeddings", False) else P("lm_head.weight")
        self.w = torch.nn.ParameterList()
        for l in range(self.layers):
            pre = "model.layers.%d." % l
            for part in ("input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                         "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                         "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"):
                self.w.append(P(pre + part))

    def rms(self, x, g):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(v + self.eps)).to(x.dtype) * g

    def rotary(self, T, dtype):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        ang = torch.cat([ang, ang], dim=-1)
        return ang.cos().to(dtype), ang.sin().to(dtype)

    @staticmethod
    def rotate_half(x):
        a, b = x.chunk(2, dim=-1)
        return torch.cat([-b, a], dim=-1)

    def forward(self, x):
        """x: [B, T, H] input rows; returns the last row's logits [B, vocab]."""
        B, T, _ = x.shape
        cos, sin = self.rotary(T, x.dtype)
        mask = torch.full((T, T), float("-inf"), dtype=x.dtype).triu(1)
        rep = self.heads // self.kv
        for l in range(self.layers):
            g1, wq, wk, wv, wo, g2, w1, w3, w2 = self.w[9 * l:9 * l + 9]
            h = self.rms(x, g1)
            q = (h @ wq.T).view(B, T, self.heads, self.hd).transpose(1, 2)
            k = (h @ wk.T).view(B, T, self.kv, self.hd).transpose(1, 2)
            v = (h @ wv.T).view(B, T, self.kv, self.hd).transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            if rep > 1:
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            s = (q @ k.transpose(-1, -2)) / (self.hd ** 0.5) + mask
            a = torch.softmax(s.float(), dim=-1).to(x.dtype) @ v
            x = x + a.transpose(1, 2).reshape(B, T, self.heads * self.hd) @ wo.T
            h = self.rms(x, g2)
            x = x + (torch.nn.functional.silu(h @ w1.T) * (h @ w3.T)) @ w2.T
        return self.rms(x[:, -1], self.norm) @ self.head.T


class MaskedLM(torch.nn.Module):
    """BertForMaskedLM / RobertaForMaskedLM; forward takes the embedding output rows (prompt already inserted)."""

    def __init__(self, cfg, t):
        super().__init__()
        self.roberta = cfg.get("model_type") == "roberta"
        p = "roberta." if self.roberta else "bert."
        self.H = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        P = lambda name: torch.nn.Parameter(torch.from_numpy(t[name]), requires_grad=False)
        self.emb = P(p + "embeddings.word_embeddings.weight")
        self.pos = P(p + "embeddings.position_embeddings.weight")
        self.typ = P(p + "embeddings.token_type_embeddings.weight")
        self.eln = torch.nn.ParameterList([P(p + "embeddings.LayerNorm.weight"), P(p + "embeddings.LayerNorm.bias")])
        self.w = torch.nn.ParameterList()
        for l in range(self.layers):
            pre = "%sencoder.layer.%d." % (p, l)
            for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                         "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                         "output.LayerNorm"):
                self.w.append(P(pre + part + ".weight"))
                self.w.append(P(pre + part + ".bias"))
        h = "lm_head." if self.roberta else "cls.predictions."
        tr = "lm_head." if self.roberta else "cls.predictions.transform."
        ln = tr + ("layer_norm" if self.roberta else "LayerNorm")
        self.head = torch.nn.ParameterList([P(tr + "dense.weight"), P(tr + "dense.bias"), P(ln + ".weight"),
                                            P(ln + ".bias"), P(h + "bias")])

    def embed(self, ids):
        n = ids.shape[0]
        pos = torch.arange(n) + (2 if self.roberta else 0)
        e = self.emb[ids] + self.pos[pos] + self.typ[0]
        return F.layer_norm(e, (self.H,), self.eln[0], self.eln[1], self.eps)

    def forward(self, x):
        """x: [B, T, H] embedding output; returns the MLM logits of the last row [B, vocab]."""
        B, T, H = x.shape
        d = H // self.heads
        split = lambda y: y.view(B, T, self.heads, d).transpose(1, 2)
        for l in range(self.layers):
            wq, bq, wk, bk, wv, bv, wo, bo, g1, b1, wi, bi, wd, bd, g2, b2 = self.w[16 * l:16 * l + 16]
            q, k, v = split(F.linear(x, wq, bq)), split(F.linear(x, wk, bk)), split(F.linear(x, wv, bv))
            a = torch.softmax((q @ k.transpose(-1, -2)) / d ** 0.5, dim=-1) @ v
            x = F.layer_norm(x + F.linear(a.transpose(1, 2).reshape(B, T, H), wo, bo), (H,), g1, b1, self.eps)
            x = F.layer_norm(x + F.linear(F.gelu(F.linear(x, wi, bi)), wd, bd), (H,), g2, b2, self.eps)
        wt, bt, g, b, bias = self.head
        z = F.layer_norm(F.gelu(F.linear(x[:, -1], wt, bt)), (H,), g, b, self.eps)
        return z @ self.emb.T + bias


def batch_rows(model, B, T, L):
    """Inputs as bbt bench builds them: BOS, L prompt rows (embedding rows), then pseudo-random tokens."""
    V = model.emb.shape[0]
    s, text = 12345, []
    for _ in range(T - L - 1):
        s = (s * 6364136223846793005 + 1442695040888963407) & (2 ** 64 - 1)
        text.append((s >> 33) % V)
    masked = isinstance(model, MaskedLM)
    ids = torch.tensor([0 if masked else 1] + text)
    flat = model.emb.detach().reshape(-1)
    prompt = flat[(torch.arange(L * model.H) * 7919) % flat.numel()].view(L, model.H)
    e = model.embed(ids).detach() if masked else model.emb.detach()[ids]  # a masked LM: prompt after the LayerNorm
    row = torch.cat([e[:1], prompt, e[1:]])
    return row.unsqueeze(0).expand(B, T, model.H).contiguous()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dtypes", default="f32,bf16")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg, tensors = load_model_dir(a.model)
    masked = cfg.get("model_type") in ("bert", "roberta")
    model = (MaskedLM if masked else Llama)(cfg, tensors).eval()
    out = {}
    for name in a.dtypes.split(","):
        dt = torch.float32 if name == "f32" else torch.bfloat16
        m = model.to(dt)
        x = batch_rows(m, a.batch, a.seq, a.prompt_tokens).to(dt)
        times = []
        with torch.inference_mode():
            m(x)  # warm-up
            for _ in range(a.reps):
                t0 = time.perf_counter()
                m(x)
                times.append(time.perf_counter() - t0)
        out["torch_%s_s" % name] = round(statistics.median(times), 6)
        out["torch_%s_min_s" % name] = round(min(times), 6)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
