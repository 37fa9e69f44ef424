/* lm_impl.h — what an engine implements to sit behind lm.h (internal to models/).
 *
 * lm.c owns the handle, the tokenizer, argument checking and the thread setting; an engine (llama.c for the Llama
 * family and, loaded by gpt2.c, GPT-2; bert.c for BERT and RoBERTa; a remote client) fills in lm_info and provides
 * the operations below. Batches reach an engine already
 * checked against lm_info (ids < vocab, positions, prompt indices, lengths ≤ max_pos), so an engine only checks what
 * is particular to it.
 */
#ifndef BBT_MODELS_LM_IMPL_H
#define BBT_MODELS_LM_IMPL_H

#include <stdarg.h>

#include "models/lm.h"
#include "models/tokenizer/tokenizer.h"

typedef struct lm_ops {
    const char *name;
    void (*close)(void *impl);
    /* lm_score, lm_logits: as in lm.h, arguments already checked */
    int (*score)(lm *m, const lm_batch *b, float *scores);
    int (*logits)(lm *m, const int *ids, int n, float *out);
    /* logits (vocab floats) of the token following ids[0..n-1]; used by lm_generate. NULL: the model does not
     * generate (a masked LM) */
    int (*next_logits)(lm *m, const int *ids, int n, float *out);
    /* lm_hidden_states, arguments checked; NULL: not available */
    int (*hidden)(lm *m, const lm_batch *b, int seq, float *out);
    /* remote backends (NULL for local engines): the model's tokenizer as a service (used when no local tokenizer
     * was opened), the projected route and the cost counters */
    int (*tokenize)(lm *m, const char *text, size_t len, int flags, int *ids, int cap);
    int (*detokenize)(lm *m, const int *ids, int n, char *buf, size_t cap);
    int (*score_projected)(lm *m, const lm_batch *examples, const lm_projection *p, const double *z, int count,
                           float *scores);
    int (*layer_std)(lm *m, const lm_batch *examples, int layers, double *std); /* lm_layer_std, checked */
    void (*remote_stats)(const lm *m, lm_remote_stats *out);
} lm_ops;

struct lm {
    lm_info info;
    char *path;
    char err[1024];
    const lm_ops *ops;
    void *impl;
    const float *embeddings;  /* vocab × hidden fp32, owned by the engine (NULL: not available) */
    tokenizer *tok;
    lm_options opts;          /* as given, with threads resolved */
    long long rows_computed;  /* by the last lm_score, as the engine reports it (lm_rows_computed) */
};

/* Set the handle's message (printf-style) and return code. */
int lm_fail(lm *m, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Scratch slots an engine keeps: one per OpenMP thread number a call may run on. */
int lm_thread_slots(const lm *m);

/* The row a sequence is read at (resolves read_pos = -1; the batch has been checked). */
int lm_read_pos(const lm *m, const lm_seq *q);

/* Engine openers: fill m->info (except path, threads, dtype, tokenizer), m->ops, m->impl, m->embeddings. */
struct hf_model;
int llama_open_hf(lm *m, struct hf_model *hf);
int llama_open_llama2c(lm *m, const char *file);
int gpt2_open_hf(lm *m, struct hf_model *hf);
int bert_open_hf(lm *m, struct hf_model *hf);
/* A remote endpoint (models/remote/): url is m->path; m->opts holds the remote options. */
int remote_open(lm *m, const char *url);

/* 1 if `file` looks like a llama2.c checkpoint (legacy header whose sizes match the file, or the "ak42" v1 header). */
int llama2c_probe(const char *file);

#endif
