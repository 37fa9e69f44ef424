/* llama.h — the Llama-family engine's configuration and its weight sources (internal to models/).
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

typedef struct llama_cfg {
    int dim, ffn, layers, heads, kv_heads, head_dim, vocab, max_pos;
    float eps, rope_theta;
    int tied;           /* output head = token embeddings */
    int qkv_bias;       /* q/k/v projections have biases (Qwen2) */
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
    LR_HEAD              /* vocab × dim, only when not tied */
} llama_role;

typedef struct llama_source {
    void *ctx;
    /* Fill dst with the n floats of this role (of layer `layer` for per-layer roles). 0, or -1 with err. */
    int (*read)(void *ctx, llama_role role, int layer, float *dst, size_t n, char *err, size_t errlen);
} llama_source;

/* Check a configuration for sizes the engine can run; err names `where` (the file the sizes come from). */
int llama_cfg_check(const llama_cfg *c, const char *where, char *err, size_t errlen);

/* Build the engine from a source: m->opts says the compute type and threads. Fills m->info, ops, impl, embeddings.
 * arch is reported in lm_info ("llama", "mistral", "qwen2"). Returns an lm_status. */
int llama_create(lm *m, const llama_cfg *c, const llama_source *src, const char *arch);

#endif
