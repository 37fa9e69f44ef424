/* llama_impl.h — the causal decoder engine's state and the functions its files share (llama.c: loading;
 * llama_forward.c: the forward pass; llama_score.c: scoring, logits and generation). Internal to those files. */
#ifndef BBT_MODELS_LLAMA_IMPL_H
#define BBT_MODELS_LLAMA_IMPL_H

#include <stddef.h>

#include "models/attention.h"
#include "models/chunks.h"
#include "models/gemm.h"
#include "models/kernels.h"
#include "models/llama.h"

typedef struct llama_layer {
    float *attn_norm, *ffn_norm;
    float *attn_norm_b, *ffn_norm_b; /* LayerNorm biases, or NULL (RMSNorm) */
    gemm_weight wqkv;     /* dim → q | k | v */
    gemm_weight wo;       /* heads·head_dim → dim */
    gemm_weight w1, w3;   /* dim → ffn: gate, up (GELU feed-forward: w1 only) */
    gemm_weight w2;       /* ffn → dim */
} llama_layer;

/* Scratch for one forward pass over up to cap_rows rows, one per thread slot (chunks.h); ffn1 holds the gate's
 * output and ffn2 the gated product (SwiGLU), or ffn1 the GELU output (GPT-2). */
typedef chunk_ws llama_ws;

/* Generation state: one sequence's keys and values, so each new token costs one row. */
typedef struct kv_cache {
    int len, cap;         /* positions held, room */
    int *ids;             /* the tokens they belong to */
    float *kv;            /* layers × cap × 2·kv_dim: each position's k | v as the q|k|v product gave them */
} kv_cache;

typedef struct llama {
    llama_cfg c;
    act_type act;
    gemm_ctx *g;
    float *tok_emb;       /* vocab × dim fp32 */
    float *pos_emb;       /* max_pos × dim fp32 (POS_LEARNED), or NULL */
    llama_layer *layers;
    float *final_norm, *final_norm_b;
    gemm_weight head;     /* plain rows: vocab × dim */
    float *inv_freq;      /* head_dim/2 rotary frequencies */
    float *rope;          /* (cos, sin) per position and frequency, positions [0, rope_len) */
    int rope_len;
    llama_ws *ws;         /* one per thread slot */
    int n_ws;
    lm_attention attn;    /* attention implementation asked for (LM_ATTN_AUTO: chosen per sequence) */
    kv_cache cache;
    int pack_status;      /* while loading: the lm_status of a failed weight pack (a oneDNN or memory failure), or 0 */
} llama;

/* One sequence of a forward pass. Its attention rows ("index rows", as attn_seq numbers them) are r = 0 .. pre+n-1:
 * the first `pre` are rows it shares with other sequences and does not compute (their keys and values come from
 * elsewhere), the other n are its own rows row0 .. row0+n-1 of the batch. */
typedef struct fwd_seq {
    int row0, n;          /* its own rows */
    int out0, nout;       /* its needed rows: outs[out0 .. out0+nout) (index rows, ascending) */
    int idx0;             /* its index rows' entries in pos, kend and bstart: [idx0, idx0 + pre + n) */
    int pre;              /* rows before its own that it attends to */
    int pre_row0;         /* >= 0: they are rows pre_row0 .. of this batch (a shared prefix, itself a sequence of the
                             batch); -1: their keys and values come from the batch's kv_in */
    int id;               /* the batch sequence it scores; -1: a shared prefix */
} fwd_seq;

typedef struct fwd_batch {
    int rows, n_seqs, n_out;
    fwd_seq *seqs;
    int *pos, *kend, *bstart;   /* per index row (see fwd_seq, attn_seq) */
    int *outs;
    int *deep;                  /* per row: offset of its deep-prompt row within layer 0, or -1; NULL: none */
    float *x;
    /* generation: keys and values of the earlier rows (pre_row0 = -1) read from kv_in, those of every row of the
     * batch written to kv_out; layer l at + l·kv_layer floats, row r at + r·2·kv_dim (k | v); NULL: none */
    const float *kv_in;
    float *kv_out;
    size_t kv_layer;
} fwd_batch;


/* ---- across the llama files ---- */

/* llama_forward.c: rotary tables (init: the frequencies; reserve: the (cos, sin) rows of positions [0, n)), scratch,
 * the forward pass over a batch of sequences, and the output head. 0, or -1 with a message in w->err (or memory). */
int llama_rope_init(llama *L);
int llama_rope_reserve(llama *L, int n);
int llama_ws_reserve(const llama *L, llama_ws *w, int rows, int n_seqs, int n_out);
int llama_ws_logits(const llama *L, llama_ws *w);
int llama_forward(const llama *L, llama_ws *w, fwd_batch *b, const float *deep, size_t deep_layer_stride,
                  float *trace);
int llama_head_logits(const llama *L, llama_ws *w, int n, float *out);

/* llama_score.c: the engine's operations (lm_ops) on top of the forward pass. */
int llama_score(lm *m, const lm_batch *b, float *scores);
int llama_hidden(lm *m, const lm_batch *b, int s, float *out);
int llama_logits(lm *m, const int *ids, int n, float *out);
int llama_next_logits(lm *m, const int *ids, int n, float *out);

#endif
