/* kernels.h — the element-wise passes and the attention of the transformer engines.
 *
 * Everything that is not a big matrix product: normalisation, rotary positions, softmax attention,
 * and the fp32 ⇄ bf16/fp16 conversions. Each pass goes over rows in parallel (OpenMP: the same thread pool oneDNN uses)
 * and fuses what can be fused so that every row is read and written once. Activations that feed a matrix product are
 * written in the compute type (`act`: fp32 or bf16); the residual stream stays fp32.
 */
#ifndef BBT_MODELS_KERNELS_H
#define BBT_MODELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum act_type { ACT_F32 = 0, ACT_BF16 = 1 } act_type;

static inline size_t act_size(act_type t) { return t == ACT_BF16 ? 2 : 4; }

/* fp32 → bf16, round to nearest even; NaN stays NaN. Branch-free, so loops over it vectorise. */
static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)(nan ? ((u >> 16) | 0x40u) : r);
}

static inline float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half → fp32, subnormals, infinities and NaN included. */
static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else { /* subnormal: normalise the mantissa */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}


/* exp(x) for x in [-87, 88]: x = k·ln2 + r with |r| ≤ ln2/2, exp(r) by a degree-6 Taylor polynomial (relative error
 * ≈ 1.2e-7, below fp32 rounding of the result), 2^k put straight into the exponent bits. k is rounded to nearest by
 * adding 1.5·2^23 (so its integer value sits in the low mantissa bits): no floorf call, no branch, so loops over it
 * vectorise. Inputs below -87 return ≈ 2^-126 rather than 0, which no caller can tell apart from 0. */
static inline float exp_poly(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504f + 12582912.0f;
    float k = t - 12582912.0f;
    int32_t ki;
    memcpy(&ki, &t, 4);
    ki -= 0x4b400000;
    float r = x - k * 0.693145752f - k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f + r * (8.3333338e-3f
              + r * 1.3888889e-3f)))));
    int32_t bits = (ki + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

/* Store n floats as the activation type at dst (element offset 0). */
void act_store(void *dst, act_type t, const float *src, int n);

/* The same, inline, for short rows in hot loops (a call per head of 8 floats costs more than the work). */
static inline void act_store_short(void *dst, act_type t, const float *src, int n)
{
    if (t == ACT_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *d = dst;
    for (int i = 0; i < n; i++)
        d[i] = f32_to_bf16(src[i]);
}

/* Rows [0, m) of x (stride ldx floats): y[r] = x[r] / rms(x[r]) * w, written as `t` with stride ldy elements. */
void rmsnorm_rows(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int m, int n, float eps);

/* LayerNorm of rows [0, m) of x (stride ldx floats): v = (x − mean) / sqrt(var + eps) · w + b, with the population
 * variance. v goes to y as `t` (stride ldy elements; y may be NULL) and, when xo is not NULL, as fp32 to xo (stride ldx;
 * xo may be x: a post-norm model's residual stream is normalised in place while its copy for the next product is
 * written in the compute type, in one pass). */
void layernorm_rows(void *y, act_type t, int ldy, float *xo, const float *x, int ldx, const float *w, const float *b,
                    int m, int n, float eps);

/* Rotary position embedding on interleaved pairs (2j, 2j+1) of each head, in place.
 * For each row r: the first n_heads heads of head_dim floats start at x + r*ldx + off. cs holds, per position p,
 * head_dim/2 (cos, sin) pairs: cs[(p * head_dim/2 + j) * 2 + {0,1}]. Optional bias (n_heads*head_dim floats) is added
 * before rotating (Qwen2's q/k biases). */
void rope_rows(float *x, int ldx, int off, int m, const int *pos, int n_heads, int head_dim, const float *cs,
               const float *bias);

/* Add bias[n] to columns [off, off+n) of every row. */
void add_bias_rows(float *x, int ldx, int off, int m, const float *bias, int n);

/* Causal softmax attention for one sequence, all query heads, in parallel over (query head, query block).
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

/* Runs every (sequence, kv head) task of a batch in parallel; scratch is allocated inside. Returns 0 or -1 (memory). */
/* (attention.c: one task, built per instruction set, and its scratch space) */
typedef struct attn_scratch attn_scratch;
attn_scratch *attn_scratch_new(int n, int head_dim, int group);
void attn_scratch_free(attn_scratch *w);
#define KERNELS_FOR_ISA(isa)                                                                                        \
    void attn_task_##isa(const attn_seq *sq, const attn_shape *sh, int kvh, void *scratch);                          \
    void rmsnorm_block_##isa(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int r0, int r1,  \
                             int n, float eps);                                                                      \
    void layernorm_block_##isa(void *y, act_type t, int ldy, float *xo, const float *x, int ldx, const float *w,     \
                               const float *b, int r0, int r1, int n, float eps);                                    \
    void rope_block_##isa(float *x, int ldx, int r0, int r1, const int *pos, int n_heads, int head_dim,              \
                          const float *cs, const float *bias);
/* One row of masked softmax of the scores times scale: p[j] = exp(scale·(s[j] − max)) / Σ over the visible keys
 * [a0, a1) ∪ [b0, b1), 0 for the other keys j < n; written as t. s is overwritten. */
#define SOFTMAX_FOR_ISA(isa)                                                                                         \
    void softmax_row_##isa(float *s, int n, int a0, int a1, int b0, int b1, float scale, void *p, act_type t);
SOFTMAX_FOR_ISA(avx512)
SOFTMAX_FOR_ISA(avx2)
SOFTMAX_FOR_ISA(base)
void softmax_row(float *s, int n, int a0, int a1, int b0, int b1, float scale, void *p, act_type t);

KERNELS_FOR_ISA(avx512)
KERNELS_FOR_ISA(avx2)
KERNELS_FOR_ISA(base)

int attention_batch(const attn_seq *seqs, int n_seqs, const attn_shape *shape);

/* log(sum(exp(x))) over n floats. */
float logsumexp(const float *x, int n);

/* Dot product of two fp32 vectors. */
float dot_f32(const float *a, const float *b, int n);

#endif
