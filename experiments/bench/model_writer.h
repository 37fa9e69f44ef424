/* model_writer.h — random-weight models for benchmarks and tests: Llama models written in both checkpoint formats
 * from one set of numbers, and BERT, RoBERTa and GPT-2 models in the Hugging Face layout.
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

/* ---- BERT, RoBERTa, GPT-2 ---- */

typedef enum mw_arch { MW_BERT, MW_ROBERTA, MW_GPT2 } mw_arch;

typedef struct mw_xshape {
    mw_arch arch;
    int dim, ffn, layers, heads, vocab;
    int max_pos;        /* the longest sequence the model takes (RoBERTa's table gets pad + 1 rows more, as
                           Hugging Face's 514 rows for 512 tokens) */
    int types;          /* token types (BERT 2, RoBERTa 1; GPT-2 none) */
    int untied;         /* write the output matrix (the MLM decoder; GPT-2's lm_head) and tie_word_embeddings false */
} mw_xshape;

/* Write a random-weight model in the Hugging Face layout into dir (created if needed): config.json and
 * model.safetensors with the tensor names and shapes Hugging Face's BertForMaskedLM, RobertaForMaskedLM or
 * GPT2LMHeadModel save (GPT-2's projections as Conv1D [in][out] weights). Matrices have std 1/sqrt(fan-in), the word
 * embeddings std 0.5, the other embeddings 0.1, biases 0.1, LayerNorm weights 1 ± 0.1; deterministic in seed. dtype:
 * ST_F32, ST_F16 or ST_BF16. Returns 0 or -1 with err. */
int mw_write_xformer(const mw_xshape *s, uint64_t seed, const char *dir, st_dtype dtype, char *err, size_t errlen);

#endif
