/* attention.h — softmax attention of the transformer engines, one module with two paths.
 *
 * Both paths take the same description of the sequences (attn_seq, attn_shape below) and give the same results within
 * rounding:
 *   - the vector kernel (attention_vec; attention_isa.c, built per instruction set and picked at run time, isa.h):
 *     per (sequence, kv head) task, queries in blocks of 16 lanes; for small heads and the fp32 path;
 *   - the matrix-product path (attention_mm; attention_mm.c): Q·Kᵀ and P·V as batched oneDNN products, for heads of
 *     32+ dimensions in bf16, where the matrix units pay off.
 * attention_run (attention.c) chooses between them. Both use the one dispatch mechanism of isa.h (the masked softmax
 * row of the matrix path is a per-ISA function too, softmax_row in attention_isa.c).
 */
#ifndef BBT_MODELS_ATTENTION_H
#define BBT_MODELS_ATTENTION_H

#include <stddef.h>

#include "models/gemm.h"
#include "models/kernels.h"
#include "models/lm.h"

/* One sequence of causal softmax attention, all query heads.
 *
 * The sequence's rows are r = 0 .. n-1 (keys and values for all of them); query row r attends to the rows
 * [0, kend[r]) and [bstart[r], r] (the second range empty when bstart[r] > r). That covers plain causal attention
 * (kend[r] = r + 1, bstart[r] = r + 1) and label continuations branching off a shared prefix.
 * Only the query rows listed in qrows[0 .. nq-1] are computed; their outputs go to out + i*ldo (i = index in qrows),
 * head h at columns h*head_dim, as `t`. Query head h reads kv head h / (n_heads / n_kv).
 * The first `pre` rows are earlier rows the sequence attends to but does not compute (a prefix it shares with other
 * sequences, or a generation cache): never queried, their keys and values come from pk and pv, row r's head h at
 * pk + r*ldp + h*head_dim (likewise pv). The sequence's own rows r = pre .. n-1 hold q, k and v: row r's head h at
 * q + (r − pre)*ldq + h*head_dim, k + (r − pre)*ldk + …, v + (r − pre)*ldv + …. pre = 0: every row is its own.
 * scale multiplies q·k. */
typedef struct attn_seq {
    int n;
    const void *q, *k, *v;   /* stored as in_t (element offsets below count values of that type) */
    int ldq, ldk, ldv;
    int pre;
    const void *pk, *pv;     /* the earlier rows' keys and values, as in_t; only read when pre > 0 */
    int ldp;
    const int *kend, *bstart;
    const int *pos;          /* positions of the rows (rotary embedding, sliding window) */
    const int *qrows;
    int nq;
    void *out;
    int ldo;
    act_type t;
    act_type in_t;           /* how q, k and v are stored: fp32 (the default), or the compute type when the q|k|v
                                product writes it (matrix-product attention then reads them in place) */
} attn_seq;

/* n values at element offset off of q, k or v stored as t, as fp32: a pointer into them when they are fp32, else
 * converted into tmp. */
static inline const float *qkv_floats(const void *base, act_type t, size_t off, int n, float *tmp)
{
    if (t == ACT_F32)
        return (const float *)base + off;
    const uint16_t *h = (const uint16_t *)base + off;
    for (int i = 0; i < n; i++)
        tmp[i] = bf16_to_f32(h[i]);
    return tmp;
}

/* Where row r's keys (value = 0) or values (value = 1) start: the base pointer, and the element offset into it. */
static inline const void *attn_kv_row(const attn_seq *sq, int r, int value, size_t *off)
{
    if (r < sq->pre) {
        *off = (size_t)r * sq->ldp;
        return value ? sq->pv : sq->pk;
    }
    *off = (size_t)(r - sq->pre) * (value ? sq->ldv : sq->ldk);
    return value ? sq->v : sq->k;
}

typedef struct attn_shape {
    int n_heads, n_kv, head_dim;
    float scale;
    int window;              /* sliding window (keys within `window` positions of the query); 0 = none */
    const float *rope;       /* (cos, sin) table as for rope_rows: q and k are rotated as they are read (by the rows'
                                positions); NULL = q and k arrive rotated */
} attn_shape;

/* q, k and v can be used as they are (already in the compute type t, nothing to rotate): the matrix path copies them
 * with plain moves and puts the scale into the softmax. */
static inline int attn_plain_copy(const attn_seq *sq, const attn_shape *sh, act_type t)
{
    return sq->in_t == t && !sh->rope;
}

/* Copy one head's n = head_dim floats of a q or k row, rotated for position pos when cs (the rope_rows table) is
 * given, and multiplied by scale. */
static inline void rope_head(float *dst, const float *src, int head_dim, const float *cs, int pos, float scale)
{
    if (!cs) {
        for (int d = 0; d < head_dim; d++)
            dst[d] = src[d] * scale;
        return;
    }
    const float *c = cs + (size_t)pos * head_dim;
    for (int j = 0; j < head_dim / 2; j++) {
        float a = src[2 * j], b = src[2 * j + 1], co = c[2 * j], si = c[2 * j + 1];
        dst[2 * j] = (a * co - b * si) * scale;
        dst[2 * j + 1] = (a * si + b * co) * scale;
    }
}

/* The keys query row r of a sequence sees: [*lo, *kend) ∪ [*bs, r] (the second empty when *bs > r), the sliding
 * window applied; *top is one past the last visible key. */
static inline void attn_row_ranges(const attn_seq *sq, const attn_shape *sh, int r, int *lo, int *kend, int *bs,
                                   int *top)
{
    *lo = 0;
    *kend = sq->kend[r];
    *bs = sq->bstart[r];
    if (sh->window > 0) {
        /* rows [0, kend) sit at positions pos[0] + j; a branch's rows at consecutive positions too */
        int first = sq->pos[r] - sh->window + 1;
        *lo = first - sq->pos[0] > 0 ? first - sq->pos[0] : 0;
        if (*bs <= r && first - sq->pos[*bs] > 0)
            *bs += first - sq->pos[*bs];
    }
    *top = *bs <= r ? r + 1 : *kend;
}

/* The vector kernel: every (sequence, kv head) task of a batch in parallel; scratch is allocated inside.
 * Returns 0 or -1 (out of memory). */
int attention_vec(const attn_seq *seqs, int n_seqs, const attn_shape *sh);

/* Attention for every sequence of a batch through matrix products in g's compute type. Returns 0, or a gemm_status
 * (GEMM_ENOMEM, GEMM_EBACKEND) with a message in err. */
int attention_mm(gemm_ctx *g, const attn_seq *seqs, int n_seqs, const attn_shape *sh, char *err, size_t errlen);

/* Attention for every sequence of a batch by the implementation asked for (lm_options.attention). LM_ATTN_AUTO gives
 * the matrix units the sequences where they pay off (bf16, heads of 32+ dimensions, MATMUL_MIN_KEYS+ rows: the
 * products cost O(n²·d) at matrix speed, the vector kernel the same at vector speed plus less overhead per row) and the
 * vector kernel the rest. Returns 0, or a gemm_status (GEMM_ENOMEM, GEMM_EBACKEND) with a message in err. */
int attention_run(gemm_ctx *g, lm_attention how, const attn_seq *seqs, int n_seqs, const attn_shape *sh, char *err,
                  size_t errlen);

#endif
