/* model_writer.h — random-weight Llama models written in both checkpoint formats from one set of numbers.
 *
 * Used by experiments/bench/make_model (benchmark models of a given shape) and by the engine's tests (the same weights
 * loaded from a Hugging Face directory and from a llama2.c file must score identically). Weights are kept in the
 * llama2.c convention ([out][in] rows, q/k rows in interleaved rotary order); the Hugging Face writer applies the
 * per-head permutation that Hugging Face's conversion script applies to q_proj and k_proj.
 */
#ifndef BBT_EXPERIMENTS_MODEL_WRITER_H
#define BBT_EXPERIMENTS_MODEL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "models/safetensors.h"

typedef struct mw_shape {
    int dim, ffn, layers, heads, kv_heads, vocab, max_pos;
    int tied;
    int qkv_bias;       /* q/k/v projection biases: written as a Qwen2ForCausalLM (Hugging Face layout only) */
    int window;         /* > 0: sliding-window attention, written as a MistralForCausalLM (Hugging Face layout only) */
} mw_shape;

typedef struct mw_model {
    mw_shape s;
    float *emb, *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w2, *w3, *final_norm, *head;
    float *bq, *bk, *bv;  /* per layer, with qkv_bias */
} mw_model;

/* Random weights: matrices uniform with std 1/sqrt(fan-in) (so activations stay O(1)), the embedding with std 0.5,
 * norms 1 ± 0.1. Deterministic in seed. Returns 0 or -1 (memory). */
int mw_random(mw_model *m, const mw_shape *s, uint64_t seed);
void mw_free(mw_model *m);

/* llama2.c legacy checkpoint (as run.c reads it); fails for shapes the format cannot hold (biases, windows). */
int mw_write_llama2c(const mw_model *m, const char *path, char *err, size_t errlen);

/* Hugging Face layout in dir (created if needed): config.json + model.safetensors, or `shards` > 1 files
 * model-0000i-of-0000n.safetensors + model.safetensors.index.json. dtype: ST_F32, ST_F16 or ST_BF16. */
int mw_write_hf(const mw_model *m, const char *dir, st_dtype dtype, int shards, char *err, size_t errlen);

#endif
