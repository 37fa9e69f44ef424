/* llama.h — the causal decoder engine's configuration and its weight sources (internal to models/).
 *
 * The engine runs pre-norm decoder-only transformers: the Llama family (RMSNorm, rotary positions, SwiGLU, no biases
 * but Qwen2's q/k/v biases) and GPT-2 (LayerNorm with bias, learned absolute positions, a GELU feed-forward and
 * biases on every projection); the switches below say which parts a model has.
 *
 * A checkpoint format (llama2.c, Hugging Face) is a `llama_source`: it hands over each weight as fp32 rows in the
 * llama2.c convention ([out][in] matrices; q and k rows ordered for rotary pairs (2j, 2j+1) of each head). The engine
 * converts and packs them one layer at a time, so loading never holds more than one layer in fp32 besides the
 * embedding table.
 */
#ifndef BBT_MODELS_LLAMA_H
#define BBT_MODELS_LLAMA_H

#include <stddef.h>

#include "models/lm_impl.h"

typedef enum rope_scaling { ROPE_PLAIN = 0, ROPE_LINEAR = 1, ROPE_LLAMA3 = 2 } rope_scaling;
typedef enum norm_kind { NORM_RMS = 0, NORM_LAYER = 1 } norm_kind;      /* RMSNorm (weight); LayerNorm (weight, bias) */
/* The feed-forward's hidden layer: silu(x·W1ᵀ) ⊙ x·W3ᵀ (gated, Llama); or act(x·W1ᵀ + b1) with one activation
 * (GPT-2 and its relatives): GELU by its tanh approximation or its exact erf form, ReLU, SiLU, or x·sigmoid(1.702x). */
typedef enum ffn_kind {
    FFN_SWIGLU = 0, FFN_GELU_TANH = 1, FFN_GELU_ERF = 2, FFN_RELU = 3, FFN_SILU = 4, FFN_QUICK_GELU = 5
} ffn_kind;
typedef enum pos_kind { POS_ROPE = 0, POS_LEARNED = 1 } pos_kind;      /* rotary; a learned table added at the input */

typedef struct llama_cfg {
    int dim, ffn, layers, heads, kv_heads, head_dim, vocab, max_pos;
    float eps, rope_theta;
    int tied;           /* output head = token embeddings */
    int qkv_bias;       /* q/k/v projections have biases (Qwen2, GPT-2) */
    int bias;           /* the output and feed-forward projections have biases too (GPT-2) */
    norm_kind norm;
    ffn_kind ffn_act;
    pos_kind positions;
    int window;         /* sliding-window attention span (Mistral); 0 = full */
    rope_scaling scaling;
    float scale_factor, low_freq_factor, high_freq_factor;
    int orig_max_pos;
    int bos, eos, pad;  /* -1 when unknown */
} llama_cfg;

typedef enum llama_role {
    LR_EMBED,            /* vocab × dim */
    LR_ATTN_NORM,        /* dim */
    LR_WQ, LR_WK, LR_WV, /* (heads|kv_heads)·head_dim × dim */
    LR_BQ, LR_BK, LR_BV, /* (heads|kv_heads)·head_dim, only with qkv_bias */
    LR_WO,               /* dim × heads·head_dim */
    LR_FFN_NORM,         /* dim */
    LR_W1, LR_W3,        /* gate and up: ffn × dim */
    LR_W2,               /* down: dim × ffn */
    LR_FINAL_NORM,       /* dim */
    LR_HEAD,             /* vocab × dim, only when not tied */
    /* only with the switches that call for them: */
    LR_POS_EMBED,        /* max_pos × dim (POS_LEARNED) */
    LR_ATTN_NORM_B, LR_FFN_NORM_B, LR_FINAL_NORM_B, /* dim (NORM_LAYER) */
    LR_BO,               /* dim (bias) */
    LR_B1,               /* ffn (bias) */
    LR_B2                /* dim (bias) */
} llama_role;

typedef struct llama_source {
    void *ctx;
    /* Fill dst with the n floats of this role (of layer `layer` for per-layer roles). 0, or -1 with err. */
    int (*read)(void *ctx, llama_role role, int layer, float *dst, size_t n, char *err, size_t errlen);
} llama_source;

/* Check a configuration for sizes the engine can run; err names `where` (the file the sizes come from). */
int llama_cfg_check(const llama_cfg *c, const char *where, char *err, size_t errlen);

/* Build the engine from a source: m->opts says the compute type and threads. Fills m->info, ops, impl, embeddings.
 * arch is reported in lm_info ("llama", "mistral", "qwen2", "gpt2"). Returns an lm_status. */
int llama_create(lm *m, const llama_cfg *c, const llama_source *src, const char *arch);

#endif
