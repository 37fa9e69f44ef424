/* attention_isa.c — the vector attention kernel and the masked softmax row of attention.h, built once per
 * instruction set like kernels_isa.c (vec16.h, isa.h).
 *
 * Work unit: one (sequence, kv head). Its keys and values are copied once into contiguous rows; then, for each query
 * head of the group, blocks of QB query rows are processed together with the query index in the vector lanes:
 *     S[j][i] = q_i · k_j · scale          for the keys j any query of the block may see (keys in the outer loop)
 *     P[j][i] = exp(S[j][i] − max_j S[·][i]) where key j is visible to query i, else exactly 0
 *     O[d][i] = Σ_j P[j][i] v_j[d] / Σ_j P[j][i]
 * Every step is a loop over the QB lanes, so the max, exp and sums vectorise without horizontal reductions, and small
 * head sizes (8 in stories260K) waste nothing. A query's result depends only on its own lane: batching never changes
 * it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/attention.h"
#include "models/isa.h"
#include "models/vec16.h"

/* Masked softmax of one row of scores (attention through matrix products). */
void ISA_NAME(softmax_row)(float *s, int n, int a0, int a1, int b0, int b1, float scale, void *p, act_type t)
{
    const vi lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    vf mxv = vsplat(-INFINITY), sum = {0};
    for (int j = 0; j < n; j += QB) { /* 16 keys at a time; lanes past n or hidden keep -inf */
        vi jv = lane + j;
        vi vis = ((jv >= a0) & (jv < a1)) | ((jv >= b0) & (jv < b1));
        vf v = vload_n(s + j, n - j < QB ? n - j : QB);
        mxv = vselect(vis & (v > mxv), v, mxv);
    }
    float mx = -INFINITY;
    for (int l = 0; l < QB; l++)
        mx = mxv[l] > mx ? mxv[l] : mx;
    for (int j = 0; j < n; j += QB) {
        int k = n - j < QB ? n - j : QB;
        vi jv = lane + j;
        vi vis = (((jv >= a0) & (jv < a1)) | ((jv >= b0) & (jv < b1))) & (jv < n);
        vf x = (vload_n(s + j, k) - mx) * scale;
        vf e = vselect(vis, t == ACT_BF16 ? vexp_bf16(x) : vexp(x), (vf){0});
        sum += e;
        if (k == QB)
            vstore(s + j, e);
        else
            for (int l = 0; l < k; l++)
                s[j + l] = e[l];
    }
    float total = 0.0f;
    for (int l = 0; l < QB; l++)
        total += sum[l];
    float inv = total > 0.0f ? 1.0f / total : 0.0f;
    size_t es = act_size(t);
    for (int j = 0; j < n; j += QB) {
        int k = n - j < QB ? n - j : QB;
        vstore_act((char *)p + (size_t)j * es, t, vload_n(s + j, k) * inv, k);
    }
}

/* ---- attention ---- */

struct attn_scratch {
    float *k, *v;        /* n × head_dim, this kv head's keys and values */
    float *q;            /* group × n × head_dim: the group's queries, rotated and scaled */
    vf *s;               /* n: scores, then probabilities, of the block's lanes */
    vf *qt, *o;          /* head_dim each */
    int cap_n, cap_hd;
};

/* Head dimensions go in chunks of DC, with DC accumulators held in registers; K, V and Qt are zero-padded to a
 * multiple of DC (the padding adds zeros to the sums). */
enum { DC = 8 };

static inline int padded(int hd) { return (hd + DC - 1) / DC * DC; }

void ISA_NAME(attn_scratch_free)(attn_scratch *w)
{
    if (!w)
        return;
    free(w->q), free(w->k), free(w->v), free(w->s), free(w->qt), free(w->o);
    free(w);
}

attn_scratch *ISA_NAME(attn_scratch_new)(int n, int head_dim, int group)
{
    attn_scratch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    int hdp = padded(head_dim);
    w->q = malloc((size_t)group * n * hdp * sizeof(float) + 1);
    w->k = malloc((size_t)n * hdp * sizeof(float) + 1);
    w->v = malloc((size_t)n * hdp * sizeof(float) + 1);
    w->s = aligned_alloc(sizeof(vf), ((size_t)n + 1) * sizeof(vf));
    w->qt = aligned_alloc(sizeof(vf), (size_t)hdp * sizeof(vf));
    w->o = aligned_alloc(sizeof(vf), (size_t)hdp * sizeof(vf));
    if (!w->q || !w->k || !w->v || !w->s || !w->qt || !w->o) {
        ISA_NAME(attn_scratch_free)(w);
        return NULL;
    }
    w->cap_n = n;
    w->cap_hd = head_dim;
    return w;
}

/* Which keys the lanes' queries see: [lo, kend) ∪ [bs, r] per lane (see attn_seq). Lanes past nb repeat lane 0
 * (their results are dropped). Keys in [full0, full1) are seen by every lane and need no mask. */
typedef struct lanes {
    vi lo, kend, bs, r;
    int jmin, jmax;      /* union of the visible keys: [jmin, jmax) */
    int full0, full1;
} lanes;

static void lane_ranges(const attn_seq *sq, const attn_shape *sh, const int *rows, int nb, lanes *ln)
{
    ln->jmin = sq->n;
    ln->jmax = 0;
    ln->full0 = 0;
    ln->full1 = sq->n;
    for (int i = 0; i < QB; i++) {
        int r = rows[i < nb ? i : 0], lo, kend, bs, top;
        attn_row_ranges(sq, sh, r, &lo, &kend, &bs, &top);
        ln->lo[i] = lo;
        ln->kend[i] = kend;
        ln->bs[i] = bs;
        ln->r[i] = r;
        ln->jmin = lo < ln->jmin ? lo : ln->jmin;
        ln->jmax = top > ln->jmax ? top : ln->jmax;
        ln->full0 = lo > ln->full0 ? lo : ln->full0;
        ln->full1 = kend < ln->full1 ? kend : ln->full1;
    }
    if (ln->jmin > ln->jmax)
        ln->jmin = ln->jmax;
    if (ln->full0 > ln->full1)
        ln->full0 = ln->full1 = ln->jmin;
}

/* S[j] = Σ_d K[j][d] · Qt[d] for the block's keys (K rows of hdp floats). */
static inline void block_scores(vf *s, const float *k, const vf *qt, int hdp, int j0, int j1)
{
    for (int d0 = 0; d0 < hdp; d0 += DC) {
        vf q[DC];
        for (int c = 0; c < DC; c++)
            q[c] = qt[d0 + c];
        for (int j = j0; j < j1; j++) {
            const float *kj = k + (size_t)j * hdp + d0;
            vf acc = d0 ? s[j] : (vf){0};
            for (int c = 0; c < DC; c++)
                acc += kj[c] * q[c];
            s[j] = acc;
        }
    }
}

static inline vi visible(const lanes *ln, int j)
{
    vi jv = (vi){0} + j;
    return (jv >= ln->lo) & ((jv < ln->kend) | ((jv >= ln->bs) & (jv <= ln->r)));
}

/* Softmax numerators in place (exactly 0 where a key is hidden from a lane); returns each lane's total. Keys every
 * lane sees skip the mask. */
static inline vf block_softmax(vf *s, const lanes *ln)
{
    vf mx = vsplat(-INFINITY), sum = {0};
    for (int j = ln->full0; j < ln->full1; j++)
        mx = vselect(s[j] > mx, s[j], mx);
    for (int j = ln->jmin; j < ln->jmax; j++) {
        if (j == ln->full0)
            j = ln->full1;
        if (j >= ln->jmax)
            break;
        mx = vselect(visible(ln, j) & (s[j] > mx), s[j], mx);
    }
    for (int j = ln->full0; j < ln->full1; j++) {
        s[j] = vexp(s[j] - mx);
        sum += s[j];
    }
    for (int j = ln->jmin; j < ln->jmax; j++) {
        if (j == ln->full0)
            j = ln->full1;
        if (j >= ln->jmax)
            break;
        s[j] = vselect(visible(ln, j), vexp(s[j] - mx), (vf){0});
        sum += s[j];
    }
    return sum;
}

/* O[d] = Σ_j P[j] · V[j][d] (V rows of hdp floats). */
static inline void block_values(vf *o, const vf *s, const float *v, int hdp, int j0, int j1)
{
    for (int d0 = 0; d0 < hdp; d0 += DC) {
        vf acc[DC];
        for (int c = 0; c < DC; c++)
            acc[c] = (vf){0};
        for (int j = j0; j < j1; j++) {
            const float *vj = v + (size_t)j * hdp + d0;
            vf p = s[j];
            for (int c = 0; c < DC; c++)
                acc[c] += p * vj[c];
        }
        for (int c = 0; c < DC; c++)
            o[d0 + c] = acc[c];
    }
}

/* Ask for the cache lines of n floats at p (rows of q|k|v lie a few KB apart, too far for the hardware prefetcher). */
static inline void prefetch(const void *p, int n)
{
    for (int i = 0; i < n; i += 16)
        __builtin_prefetch((const float *)p + i);
}

enum { AHEAD = 6 }; /* rows prefetched ahead */

/* One pass over the rows: keys (rotated) and values of kv head kvh, and the queries of its group's heads (rotated
 * and scaled), into contiguous zero-padded scratch. */
static void gather_qkv(const attn_seq *sq, const attn_shape *sh, int kvh, attn_scratch *w)
{
    int n = sq->n, hd = sh->head_dim, hdp = padded(hd), group = sh->n_heads / sh->n_kv;
    size_t es = act_size(sq->in_t);
    float tmp[hd];
    for (int r = 0; r < n; r++) {
        size_t ko, vo;
        if (r + AHEAD < n) {
            const char *kp = attn_kv_row(sq, r + AHEAD, 0, &ko), *vp = attn_kv_row(sq, r + AHEAD, 1, &vo);
            prefetch(kp + (ko + (size_t)kvh * hd) * es, hd);
            prefetch(vp + (vo + (size_t)kvh * hd) * es, hd);
        }
        const void *kb = attn_kv_row(sq, r, 0, &ko), *vb = attn_kv_row(sq, r, 1, &vo);
        float *kr = w->k + (size_t)r * hdp, *vr = w->v + (size_t)r * hdp;
        rope_head(kr, qkv_floats(kb, sq->in_t, ko + (size_t)kvh * hd, hd, tmp), hd, sh->rope, sq->pos[r], 1.0f);
        memcpy(vr, qkv_floats(vb, sq->in_t, vo + (size_t)kvh * hd, hd, tmp), (size_t)hd * sizeof(float));
        for (int d = hd; d < hdp; d++)
            kr[d] = vr[d] = 0.0f;
    }
    for (int i = 0; i < sq->nq; i++) {
        if (i + AHEAD < sq->nq)
            prefetch((const char *)sq->q + ((size_t)(sq->qrows[i + AHEAD] - sq->pre) * sq->ldq + kvh * group * hd) * es,
                     group * hd);
        int r = sq->qrows[i];
        for (int g = 0; g < group; g++) {
            float *qi = w->q + ((size_t)g * sq->nq + i) * hdp;
            rope_head(qi, qkv_floats(sq->q, sq->in_t, (size_t)(r - sq->pre) * sq->ldq + (kvh * group + g) * hd, hd,
                                     tmp), hd, sh->rope, sq->pos[r], sh->scale);
            for (int d = hd; d < hdp; d++)
                qi[d] = 0.0f;
        }
    }
}

void ISA_NAME(attn_task)(const attn_seq *sq, const attn_shape *sh, int kvh, void *scratch)
{
    attn_scratch *w = scratch;
    int hd = sh->head_dim, hdp = padded(hd), group = sh->n_heads / sh->n_kv;
    gather_qkv(sq, sh, kvh, w);
    float row[hd];
    lanes ln;
    for (int g = 0; g < group; g++) {
        int h = kvh * group + g;
        for (int i0 = 0; i0 < sq->nq; i0 += QB) {
            int nb = sq->nq - i0 < QB ? sq->nq - i0 : QB;
            lane_ranges(sq, sh, sq->qrows + i0, nb, &ln);
            const float *qs = w->q + ((size_t)g * sq->nq + i0) * hdp;
            for (int d = 0; d < hdp; d++)
                for (int i = 0; i < QB; i++)
                    w->qt[d][i] = i < nb ? qs[(size_t)i * hdp + d] : 0.0f;
            block_scores(w->s, w->k, w->qt, hdp, ln.jmin, ln.jmax);
            vf sum = block_softmax(w->s, &ln);
            block_values(w->o, w->s, w->v, hdp, ln.jmin, ln.jmax);
            for (int i = 0; i < nb; i++) {
                float inv = sum[i] > 0.0f ? 1.0f / sum[i] : 0.0f;
                for (int d = 0; d < hd; d++)
                    row[d] = w->o[d][i] * inv;
                act_store_short((char *)sq->out + ((size_t)(i0 + i) * sq->ldo + (size_t)h * hd) * act_size(sq->t),
                                sq->t, row, hd);
            }
        }
    }
}
