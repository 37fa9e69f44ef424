/* attention_mm.c — softmax attention through batched matrix products (oneDNN; AMX tiles for bf16 on CPUs that have
 * them).
 *
 * For heads of 32 dimensions or more, Q·Kᵀ and P·V are real matrix products and run far faster on the matrix units
 * than as vector loops (attention_isa.c keeps the vector kernel for small heads and for the fp32 reference path). Per
 * sequence, with g = query heads per key/value head:
 *     Qb[kv][g][i][d] = q, Kb[kv][t][d], Vb[kv][t][d]                in the compute type, dense
 *     S[kv][g][i][t]  = Qb · Kbᵀ                                     one batched product (Kb shared by the g heads)
 *     P               = masked softmax of each row of S · scale      (causal, label branches, sliding window)
 *     O[kv][g][i][d]  = P · Vb                                       one batched product, in the compute type
 * Queries go in blocks small enough that S stays within a few MB; a block only multiplies by the keys it can see.
 * The dense copies are needed: oneDNN 2.6's fast batched kernels take only batch-major dense matrices (strided views
 * of q|k|v fall back to its reference kernel, 1000× slower). When q, k and v arrive in the compute type with nothing
 * to rotate (BERT) a copy is a few vector moves per row and head; otherwise rows are rotated and converted on the way.
 * Sequences run in parallel, one per thread, with single-threaded products (or one at a time with every thread when
 * there are fewer sequences than threads).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/attention.h"
#include "models/isa.h"

enum { S_FLOATS = 1 << 20 }; /* scores per query block (4 MB) */

typedef struct buf {
    void *p;
    size_t cap;
} buf;

typedef struct mm_scratch {
    buf qb, kb, vb, p, s, o;   /* see the header comment; s is fp32 */
} mm_scratch;

static int grow(buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    void *q = realloc(b->p, need);
    if (!q)
        return -1;
    b->p = q;
    b->cap = need;
    return 0;
}

static void scratch_free(mm_scratch *w)
{
    free(w->qb.p), free(w->kb.p), free(w->vb.p), free(w->p.p), free(w->s.p), free(w->o.p);
}

/* One head's values from q|k|v to a dense matrix and back: a call to memcpy per 128 bytes costs as much as the copy,
 * so the usual head sizes get copies of a constant size, which the compiler turns into a few vector moves. */
static inline void copy_head(void *dst, const void *src, size_t bytes)
{
    if (bytes == 128)
        memcpy(dst, src, 128);
    else if (bytes == 256)
        memcpy(dst, src, 256);
    else
        memcpy(dst, src, bytes);
}

/* Head h (of head_dim values) of row r of q, k or v, rotated for the row's position (scaled), into dst as t. */
static void put_head(void *dst, act_type t, const void *src, size_t off, const attn_seq *sq, const attn_shape *sh,
                     int r, float scale)
{
    int hd = sh->head_dim;
    if (attn_plain_copy(sq, sh, t)) {
        copy_head(dst, (const char *)src + off * act_size(t), (size_t)hd * act_size(t));
        return;
    }
    float rot[hd], tmp[hd];
    rope_head(rot, qkv_floats(src, sq->in_t, off, hd, tmp), hd, sh->rope, sq->pos[r], scale);
    act_store(dst, t, rot, hd);
}

/* Keys (rotated) and values of every kv head into dense Kb, Vb; row by row, the way qkv lies in memory. */
static void pack_kv(const attn_seq *sq, const attn_shape *sh, act_type t, mm_scratch *w)
{
    int hd = sh->head_dim, n = sq->n;
    size_t es = act_size(t);
    float tmp[hd];
    for (int r = 0; r < n; r++)
        for (int kv = 0; kv < sh->n_kv; kv++) {
            size_t at = ((size_t)kv * n + r) * hd * es, ko, vo;
            const void *k = attn_kv_row(sq, r, 0, &ko), *v = attn_kv_row(sq, r, 1, &vo);
            put_head((char *)w->kb.p + at, t, k, ko + (size_t)kv * hd, sq, sh, r, 1.0f);
            vo += (size_t)kv * hd;
            if (sq->in_t == t)
                copy_head((char *)w->vb.p + at, (const char *)v + vo * es, (size_t)hd * es);
            else
                act_store((char *)w->vb.p + at, t, qkv_floats(v, sq->in_t, vo, hd, tmp), hd);
        }
}

/* One block of query rows qrows[i0 .. i0+mb). */
static int attend_block(gemm_ctx *g, const attn_seq *sq, const attn_shape *sh, act_type t, mm_scratch *w, int i0,
                        int mb, char *err, size_t errlen)
{
    const isa_kernels *isa = isa_kernels_pick();
    int hd = sh->head_dim, kvh = sh->n_kv, group = sh->n_heads / kvh, n = sq->n;
    size_t es = act_size(t);
    int keys = 0; /* keys any row of the block can see: [0, keys) */
    for (int i = 0; i < mb; i++) {
        int lo, kend, bs, top;
        attn_row_ranges(sq, sh, sq->qrows[i0 + i], &lo, &kend, &bs, &top);
        keys = top > keys ? top : keys;
    }
    int plain = attn_plain_copy(sq, sh, t);
    for (int i = 0; i < mb; i++) {
        int r = sq->qrows[i0 + i];
        for (int h = 0; h < sh->n_heads; h++)
            put_head((char *)w->qb.p + ((size_t)h * mb + i) * hd * es, t, sq->q,
                     (size_t)(r - sq->pre) * sq->ldq + h * hd, sq, sh, r, plain ? 1.0f : sh->scale);
    }
    int rc = gemm_batched(g, kvh, group, mb, hd, keys, w->qb.p, w->kb.p, 1, hd, (long)n * hd, w->s.p, err, errlen);
    if (rc)
        return rc;
    for (int h = 0; h < sh->n_heads; h++)
        for (int i = 0; i < mb; i++) {
            int lo, kend, bs, top, r = sq->qrows[i0 + i];
            attn_row_ranges(sq, sh, r, &lo, &kend, &bs, &top);
            size_t row = (size_t)h * mb + i;
            isa->softmax((float *)w->s.p + row * keys, keys, lo, kend, bs <= r ? bs : 0, bs <= r ? r + 1 : 0,
                        plain ? sh->scale : 1.0f, (char *)w->p.p + row * keys * es, t);
        }
    gemm_view p = {w->p.p, (long)group * mb * keys, (long)mb * keys, keys, 1};
    gemm_view v = {w->vb.p, (long)n * hd, (long)n * hd, hd, 1};
    gemm_view o = {w->o.p, (long)group * mb * hd, (long)mb * hd, hd, 1};
    if ((rc = gemm_batched_view(g, kvh, group, mb, keys, hd, &p, &v, &o, 1, err, errlen)))
        return rc;
    float tmp[hd];
    for (int i = 0; i < mb; i++)
        for (int h = 0; h < sh->n_heads; h++) {
            const char *src = (const char *)w->o.p + ((size_t)h * mb + i) * hd * es;
            char *dst = (char *)sq->out + ((size_t)(i0 + i) * sq->ldo + (size_t)h * hd) * act_size(sq->t);
            if (sq->t == t)
                copy_head(dst, src, (size_t)hd * es);
            else
                act_store(dst, sq->t, qkv_floats(src, t, 0, hd, tmp), hd);
        }
    return 0;
}

static int attend_seq(gemm_ctx *g, const attn_seq *sq, const attn_shape *sh, act_type t, mm_scratch *w, char *err,
                      size_t errlen)
{
    int hd = sh->head_dim, n = sq->n;
    int block = S_FLOATS / (sh->n_heads * n);
    block = block < 1 ? 1 : block > sq->nq ? sq->nq : block;
    size_t es = act_size(t);
    size_t q = (size_t)sh->n_heads * block * hd, kv = (size_t)sh->n_kv * n * hd, sc = (size_t)sh->n_heads * block * n;
    if (grow(&w->qb, q * es) || grow(&w->o, q * es) || grow(&w->kb, kv * es) || grow(&w->vb, kv * es) ||
        grow(&w->s, sc * sizeof(float)) || grow(&w->p, sc * es)) {
        snprintf(err, errlen, "out of memory in attention (%d rows)", n);
        return GEMM_ENOMEM;
    }
    pack_kv(sq, sh, t, w);
    int rc = 0;
    for (int i0 = 0; i0 < sq->nq && !rc; i0 += block)
        rc = attend_block(g, sq, sh, t, w, i0, sq->nq - i0 < block ? sq->nq - i0 : block, err, errlen);
    return rc;
}

int attention_mm(gemm_ctx *g, const attn_seq *seqs, int n_seqs, const attn_shape *sh, char *err, size_t errlen)
{
    act_type t = gemm_ctx_type(g);
    int failed = 0, backend = 0, rc = 0;
    if (n_seqs < omp_get_max_threads()) { /* one sequence at a time, every thread inside each product */
        mm_scratch w = {0};
        for (int s = 0; s < n_seqs && !rc; s++)
            rc = attend_seq(g, &seqs[s], sh, t, &w, err, errlen);
        scratch_free(&w);
        return rc;
    }
#pragma omp parallel reduction(| : failed, backend)
    {
        mm_scratch w = {0};
        char my_err[256] = "";
#pragma omp for schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++) {
            int my_rc = failed ? 0 : attend_seq(g, &seqs[s], sh, t, &w, my_err, sizeof my_err);
            failed |= my_rc != 0;
            backend |= my_rc == GEMM_EBACKEND;
        }
        if (failed) {
#pragma omp critical(attention_mm_err)
            snprintf(err, errlen, "%s", my_err);
        }
        scratch_free(&w);
    }
    return !failed ? 0 : backend ? GEMM_EBACKEND : GEMM_ENOMEM;
}
