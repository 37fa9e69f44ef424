/* gpt2.c — GPT-2 checkpoints in the Hugging Face layout (GPT2LMHeadModel) as a weight source of the decoder engine.
 *
 * GPT-2 (Radford et al. 2019) is a pre-norm decoder: learned absolute position embeddings added to the token
 * embeddings, LayerNorm (with bias) before attention and before the feed-forward, one fused q|k|v projection, a
 * feed-forward of two projections with an activation between them (the tanh approximation of GELU in GPT-2 itself;
 * any of Hugging Face's common ones here: ReLU, exact GELU, SiLU, quick GELU), biases on every projection, a final
 * LayerNorm and an output head tied to the token embeddings (or its own lm_head.weight when tie_word_embeddings is
 * false). llama.c runs it with the switches of llama.h.
 *
 * Hugging Face keeps GPT-2's projections as Conv1D weights, [in][out]; they are transposed here into the [out][in] rows
 * the engine reads. Tensor names come with or without the "transformer." prefix (GPT2LMHeadModel or GPT2Model saved);
 * the causal-mask buffers some files carry (h.N.attn.bias of shape 1×1×n×n) are not weights and are not read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/hf.h"
#include "models/llama.h"

typedef struct gpt2_src {
    hf_model *hf;
    const llama_cfg *c;
    const char *prefix;    /* "transformer." or "" */
    /* the last q|k|v tensor read (c_attn weight or bias), so each of q, k and v does not read it again */
    char cached[160];
    float *cache;
} gpt2_src;

/* The named tensor in fp32, read once while the same one is asked for again (q, k and v come from one tensor). */
static const float *cached(gpt2_src *s, const char *name, int ndim, const int64_t *shape, char *err, size_t errlen)
{
    if (!strcmp(s->cached, name))
        return s->cache;
    size_t n = (size_t)(shape[0] * (ndim == 2 ? shape[1] : 1));
    free(s->cache);
    s->cached[0] = 0;
    if (!(s->cache = malloc(n * sizeof(float)))) {
        snprintf(err, errlen, "out of memory reading %s", name);
        return NULL;
    }
    if (hf_read(s->hf, name, ndim, shape, s->cache, err, errlen))
        return NULL;
    snprintf(s->cached, sizeof s->cached, "%s", name);
    return s->cache;
}

static int gpt2_read(void *ctx, llama_role role, int layer, float *dst, size_t n, char *err, size_t errlen)
{
    gpt2_src *s = ctx;
    const llama_cfg *c = s->c;
    int64_t D = c->dim, F = c->ffn, V = c->vocab, P = c->max_pos;
    char name[160];
    const char *part = NULL, *global = NULL;
    int64_t rows = 0, cols = 1, in = 0, out = 0, r0 = 0; /* what is wanted: rows × cols; Conv1D weights: in × out */
    switch (role) {
    case LR_EMBED: global = "wte.weight", rows = V, cols = D; break;
    case LR_POS_EMBED: global = "wpe.weight", rows = P, cols = D; break;
    case LR_FINAL_NORM: global = "ln_f.weight", rows = D; break;
    case LR_FINAL_NORM_B: global = "ln_f.bias", rows = D; break;
    case LR_HEAD: global = "lm_head.weight", rows = V, cols = D; break;
    case LR_ATTN_NORM: part = "ln_1.weight", rows = D; break;
    case LR_ATTN_NORM_B: part = "ln_1.bias", rows = D; break;
    case LR_FFN_NORM: part = "ln_2.weight", rows = D; break;
    case LR_FFN_NORM_B: part = "ln_2.bias", rows = D; break;
    case LR_WQ: case LR_WK: case LR_WV:
        part = "attn.c_attn.weight", rows = D, cols = D, in = D, out = 3 * D, r0 = (role - LR_WQ) * D;
        break;
    case LR_BQ: case LR_BK: case LR_BV:
        part = "attn.c_attn.bias", rows = D, out = 3 * D, r0 = (role - LR_BQ) * D;
        break;
    case LR_WO: part = "attn.c_proj.weight", rows = D, cols = D, in = D, out = D; break;
    case LR_BO: part = "attn.c_proj.bias", rows = D; break;
    case LR_W1: part = "mlp.c_fc.weight", rows = F, cols = D, in = D, out = F; break;
    case LR_B1: part = "mlp.c_fc.bias", rows = F; break;
    case LR_W2: part = "mlp.c_proj.weight", rows = D, cols = F, in = F, out = D; break;
    case LR_B2: part = "mlp.c_proj.bias", rows = D; break;
    case LR_W3:
        snprintf(err, errlen, "internal: GPT-2 has no gated feed-forward");
        return -1;
    }
    if (part)
        snprintf(name, sizeof name, "%sh.%d.%s", s->prefix, layer, part);
    else if (role == LR_HEAD) /* the head sits beside the transformer, never inside it */
        snprintf(name, sizeof name, "%s", global);
    else
        snprintf(name, sizeof name, "%s%s", s->prefix, global);
    if ((size_t)(rows * cols) != n) {
        snprintf(err, errlen, "internal: %s read with a wrong size", name);
        return -1;
    }
    if (in) { /* a Conv1D weight, [in][out]: rows r0 .. r0+rows of its transpose */
        const float *t = cached(s, name, 2, (int64_t[2]){in, out}, err, errlen);
        if (!t)
            return -1;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < in; i++)
                dst[r * in + i] = t[i * out + r0 + r];
        return 0;
    }
    if (out) { /* a slice of the q|k|v bias */
        const float *t = cached(s, name, 1, (int64_t[1]){out}, err, errlen);
        if (!t)
            return -1;
        memcpy(dst, t + r0, (size_t)rows * sizeof(float));
        return 0;
    }
    return hf_read(s->hf, name, cols > 1 ? 2 : 1, (int64_t[2]){rows, cols}, dst, err, errlen);
}

/* Hugging Face's names (transformers' ACT2FN) of the activations the engine runs. gelu_new, gelu_pytorch_tanh and
 * gelu_fast are one function, GELU's tanh approximation, written three ways; gelu and gelu_python the exact erf form;
 * silu and swish x·sigmoid(x); quick_gelu x·sigmoid(1.702x). */
static const struct {
    const char *name;
    ffn_kind kind;
} ACTIVATIONS[] = {
    {"gelu_new", FFN_GELU_TANH}, {"gelu_pytorch_tanh", FFN_GELU_TANH}, {"gelu_fast", FFN_GELU_TANH},
    {"gelu", FFN_GELU_ERF},      {"gelu_python", FFN_GELU_ERF},        {"relu", FFN_RELU},
    {"silu", FFN_SILU},          {"swish", FFN_SILU},                  {"quick_gelu", FFN_QUICK_GELU},
};
#define ACTIVATION_NAMES "gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, gelu_python, relu, silu, swish and quick_gelu"

static int ffn_of_activation(const char *name, ffn_kind *kind)
{
    for (size_t i = 0; i < sizeof ACTIVATIONS / sizeof ACTIVATIONS[0]; i++)
        if (!strcmp(name, ACTIVATIONS[i].name)) {
            *kind = ACTIVATIONS[i].kind;
            return 0;
        }
    return -1;
}

int gpt2_open_hf(lm *m, hf_model *hf)
{
    llama_cfg c = {0};
    char err[512];
    double eps;
    int inner, scale, by_layer, n_ctx;
    if (hf_int(hf, "n_embd", &c.dim, err, sizeof err) || hf_int(hf, "n_layer", &c.layers, err, sizeof err) ||
        hf_int(hf, "n_head", &c.heads, err, sizeof err) || hf_int(hf, "vocab_size", &c.vocab, err, sizeof err) ||
        hf_int_or(hf, "n_ctx", 1024, &n_ctx, err, sizeof err) ||
        hf_int_or(hf, "n_positions", n_ctx, &c.max_pos, err, sizeof err) ||
        hf_int_or(hf, "n_inner", 4 * c.dim, &inner, err, sizeof err) ||
        hf_float_or(hf, "layer_norm_epsilon", 1e-5, &eps, err, sizeof err) ||
        hf_bool_or(hf, "tie_word_embeddings", 1, &c.tied, err, sizeof err) ||
        hf_bool_or(hf, "scale_attn_weights", 1, &scale, err, sizeof err) ||
        hf_bool_or(hf, "scale_attn_by_inverse_layer_idx", 0, &by_layer, err, sizeof err) ||
        hf_int_or(hf, "bos_token_id", 50256, &c.bos, err, sizeof err) ||
        hf_int_or(hf, "eos_token_id", 50256, &c.eos, err, sizeof err))
        return lm_fail(m, LM_EFORMAT, "%s", err);
    const char *act = hf_string_or(hf, "activation_function", "gelu_new");
    if (ffn_of_activation(act, &c.ffn_act))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: activation_function '%s' is not supported (%s are)", hf->config_path,
                       act, ACTIVATION_NAMES);
    if (!scale || by_layer)
        return lm_fail(m, LM_EUNSUPPORTED, "%s: %s is not supported", hf->config_path,
                       !scale ? "scale_attn_weights = false" : "scale_attn_by_inverse_layer_idx");
    c.ffn = inner;
    c.kv_heads = c.heads;
    c.head_dim = c.heads > 0 ? c.dim / c.heads : 0;
    c.eps = (float)eps;
    c.rope_theta = 10000.0f; /* unused: positions are learned */
    c.qkv_bias = c.bias = 1;
    c.norm = NORM_LAYER;
    c.positions = POS_LEARNED;
    c.pad = -1;
    if (c.heads > 0 && c.dim % c.heads)
        return lm_fail(m, LM_EFORMAT, "%s: n_embd %d is not a multiple of n_head %d", hf->config_path, c.dim,
                       c.heads);
    if (llama_cfg_check(&c, hf->config_path, err, sizeof err))
        return lm_fail(m, LM_EFORMAT, "%s", err);
    gpt2_src s = {hf, &c, hf_has(hf, "transformer.wte.weight") ? "transformer." : "", "", NULL};
    if (!c.tied && !hf_has(hf, "lm_head.weight"))
        return lm_fail(m, LM_EFORMAT, "%s: tie_word_embeddings is false but the weights have no lm_head.weight",
                       hf->dir);
    llama_source src = {&s, gpt2_read};
    int rc = llama_create(m, &c, &src, "gpt2");
    free(s.cache);
    return rc;
}
