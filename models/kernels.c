/* kernels.c — element-wise passes and attention (see kernels.h).
 *
 * The loops are written so that the compiler vectorises them: contiguous inner loops, `omp simd` where a reduction
 * needs reassociation, and an exp() made of a polynomial (glibc's expf does not vectorise without -ffast-math).
 * Hot functions are compiled for AVX-512 and AVX2 as well as the baseline (target_clones); the loader picks one at
 * start-up, so the binary still runs on any x86-64.
 */
#include "models/kernels.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

/* exp(x) for x in [-87, 88]: x = k·ln2 + r with |r| ≤ ln2/2, exp(r) by a degree-6 Taylor polynomial (relative error
 * ≈ 1.2e-7, below fp32 rounding of the result), 2^k put straight into the exponent bits. Inputs below -87 return
 * ≈ 2^-126 rather than 0, which no caller can tell apart from 0. */
static inline float exp_poly(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float k = floorf(x * 1.44269504f + 0.5f);
    float r = x - k * 0.693145752f - k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f + r * (8.3333338e-3f
              + r * 1.3888889e-3f)))));
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

HOT void act_store(void *dst, act_type t, const float *src, int n)
{
    if (t == ACT_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    uint16_t *d = dst;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        /* round to nearest even; NaN kept quiet (no branch, so the loop vectorises) */
        uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        d[i] = (uint16_t)(nan ? ((u >> 16) | 0x40u) : r);
    }
}

HOT static void rmsnorm_row(float *tmp, const float *x, const float *w, int n, float eps)
{
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        tmp[i] = x[i] * inv * w[i];
}

void rmsnorm_rows(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int m, int n, float eps)
{
#pragma omp parallel
    {
        float *tmp = malloc((size_t)n * sizeof *tmp);
#pragma omp for schedule(static)
        for (int r = 0; r < m; r++) {
            if (!tmp)
                continue;
            rmsnorm_row(tmp, x + (size_t)r * ldx, w, n, eps);
            act_store((char *)y + (size_t)r * ldy * act_size(t), t, tmp, n);
        }
        free(tmp);
    }
}

HOT static void rope_row(float *x, int n_heads, int head_dim, const float *cs)
{
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int j = 0; j < half; j++) {
            float c = cs[2 * j], s = cs[2 * j + 1];
            float a = v[2 * j], b = v[2 * j + 1];
            v[2 * j] = a * c - b * s;
            v[2 * j + 1] = a * s + b * c;
        }
    }
}

void rope_rows(float *x, int ldx, int off, int m, const int *pos, int n_heads, int head_dim, const float *cs,
               const float *bias)
{
    int half = head_dim / 2;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m; r++) {
        float *row = x + (size_t)r * ldx + off;
        if (bias)
            for (int i = 0; i < n_heads * head_dim; i++)
                row[i] += bias[i];
        rope_row(row, n_heads, head_dim, cs + (size_t)pos[r] * half * 2);
    }
}

void add_bias_rows(float *x, int ldx, int off, int m, const float *bias, int n)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m; r++) {
        float *row = x + (size_t)r * ldx + off;
        for (int i = 0; i < n; i++)
            row[i] += bias[i];
    }
}

HOT static void swiglu_row(float *tmp, const float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        tmp[i] = g[i] / (1.0f + exp_poly(-g[i])) * u[i];
}

void swiglu_rows(void *y, act_type t, int ldy, const float *h, int ldh, int m, int n)
{
#pragma omp parallel
    {
        float *tmp = malloc((size_t)n * sizeof *tmp);
#pragma omp for schedule(static)
        for (int r = 0; r < m; r++) {
            if (!tmp)
                continue;
            const float *row = h + (size_t)r * ldh;
            swiglu_row(tmp, row, row + n, n);
            act_store((char *)y + (size_t)r * ldy * act_size(t), t, tmp, n);
        }
        free(tmp);
    }
}

/* ---- attention ---- */

/* s[j] = q · kt[:, j] for j in [j0, j1); kt is head_dim rows of stride n (the keys transposed). */
HOT static void scores_range(float *s, const float *q, const float *kt, int n, int head_dim, int j0, int j1)
{
    for (int j = j0; j < j1; j++)
        s[j] = q[0] * kt[j];
    for (int d = 1; d < head_dim; d++) {
        const float *kd = kt + (size_t)d * n;
        float qd = q[d];
        for (int j = j0; j < j1; j++)
            s[j] += qd * kd[j];
    }
}

HOT static float max_range(const float *s, int j0, int j1, float m)
{
#pragma omp simd reduction(max : m)
    for (int j = j0; j < j1; j++)
        m = s[j] > m ? s[j] : m;
    return m;
}

HOT static float exp_range(float *s, int j0, int j1, float m)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = j0; j < j1; j++) {
        s[j] = exp_poly(s[j] - m);
        sum += s[j];
    }
    return sum;
}

/* o[d] += Σ_j p[j] · vt[d, j] over [j0, j1). */
HOT static void accum_range(float *o, const float *p, const float *vt, int n, int head_dim, int j0, int j1)
{
    for (int d = 0; d < head_dim; d++) {
        const float *vd = vt + (size_t)d * n;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int j = j0; j < j1; j++)
            acc += p[j] * vd[j];
        o[d] += acc;
    }
}

typedef struct attn_scratch {
    float *kt, *vt, *s, *q, *o;
    int cap_n;
} attn_scratch;

static int scratch_reserve(attn_scratch *w, int n, int head_dim)
{
    if (n <= w->cap_n)
        return 0;
    free(w->kt);
    free(w->vt);
    free(w->s);
    w->kt = malloc((size_t)n * head_dim * sizeof(float));
    w->vt = malloc((size_t)n * head_dim * sizeof(float));
    w->s = malloc((size_t)n * sizeof(float));
    w->cap_n = (w->kt && w->vt && w->s) ? n : 0;
    return w->cap_n ? 0 : -1;
}

/* The key rows query row r may see: [a0, a1) and [b0, b1) (the second possibly empty). */
static void key_ranges(const attn_seq *sq, const attn_shape *sh, int r, int *a0, int *a1, int *b0, int *b1)
{
    *a0 = 0;
    *a1 = sq->kend[r];
    *b0 = sq->bstart[r];
    *b1 = r + 1;
    if (*b0 > r)
        *b0 = *b1 = 0;
    if (sh->window > 0) {
        /* rows [0, kend) sit at positions pos[0] + j, rows of a branch at consecutive positions too */
        int lo = sq->pos[r] - sh->window + 1;
        int la = lo - sq->pos[0];
        if (*a0 < la)
            *a0 = la < *a1 ? la : *a1;
        if (*b1 > *b0) {
            int lb = *b0 + (lo - sq->pos[*b0]);
            if (*b0 < lb)
                *b0 = lb < *b1 ? lb : *b1;
        }
    }
}

static void attn_task(const attn_seq *sq, const attn_shape *sh, int kvh, attn_scratch *w)
{
    int n = sq->n, hd = sh->head_dim, group = sh->n_heads / sh->n_kv;
    for (int r = 0; r < n; r++) {
        const float *kr = sq->k + (size_t)r * sq->ldk + kvh * hd;
        const float *vr = sq->v + (size_t)r * sq->ldv + kvh * hd;
        for (int d = 0; d < hd; d++) {
            w->kt[(size_t)d * n + r] = kr[d];
            w->vt[(size_t)d * n + r] = vr[d];
        }
    }
    for (int g = 0; g < group; g++) {
        int h = kvh * group + g;
        for (int i = 0; i < sq->nq; i++) {
            int r = sq->qrows[i], a0, a1, b0, b1;
            key_ranges(sq, sh, r, &a0, &a1, &b0, &b1);
            const float *qr = sq->q + (size_t)r * sq->ldq + h * hd;
            for (int d = 0; d < hd; d++) {
                w->q[d] = qr[d] * sh->scale;
                w->o[d] = 0.0f;
            }
            scores_range(w->s, w->q, w->kt, n, hd, a0, a1);
            scores_range(w->s, w->q, w->kt, n, hd, b0, b1);
            float m = max_range(w->s, b0, b1, max_range(w->s, a0, a1, -INFINITY));
            float sum = exp_range(w->s, a0, a1, m) + exp_range(w->s, b0, b1, m);
            accum_range(w->o, w->s, w->vt, n, hd, a0, a1);
            accum_range(w->o, w->s, w->vt, n, hd, b0, b1);
            float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            for (int d = 0; d < hd; d++)
                w->o[d] *= inv;
            act_store((char *)sq->out + ((size_t)i * sq->ldo + (size_t)h * hd) * act_size(sq->t), sq->t, w->o, hd);
        }
    }
}

int attention_batch(const attn_seq *seqs, int n_seqs, const attn_shape *sh)
{
    int max_n = 0, failed = 0;
    for (int s = 0; s < n_seqs; s++)
        if (seqs[s].n > max_n)
            max_n = seqs[s].n;
    int tasks = n_seqs * sh->n_kv;
#pragma omp parallel reduction(| : failed)
    {
        attn_scratch w = {0};
        w.q = malloc((size_t)sh->head_dim * sizeof(float));
        w.o = malloc((size_t)sh->head_dim * sizeof(float));
        if (!w.q || !w.o || scratch_reserve(&w, max_n, sh->head_dim))
            failed = 1;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++)
            if (!failed)
                attn_task(&seqs[t / sh->n_kv], sh, t % sh->n_kv, &w);
        free(w.kt);
        free(w.vt);
        free(w.s);
        free(w.q);
        free(w.o);
    }
    return failed ? -1 : 0;
}

HOT float logsumexp(const float *x, int n)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++)
        sum += exp_poly(x[i] - m);
    return m + logf(sum);
}

HOT float dot_f32(const float *a, const float *b, int n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}
