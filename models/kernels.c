/* kernels.c — element-wise passes and attention (see kernels.h).
 *
 * The loops are written so that the compiler vectorises them: contiguous inner loops, `omp simd` where a reduction
 * needs reassociation, and an exp() made of a polynomial (glibc's expf does not vectorise without -ffast-math).
 * Hot functions are compiled for AVX-512 and AVX2 as well as the baseline (target_clones); the loader picks one at
 * start-up, so the binary still runs on any x86-64.
 */
#include "models/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

HOT void act_store(void *dst, act_type t, const float *src, int n)
{
    if (t == ACT_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    uint16_t *d = dst;
    for (int i = 0; i < n; i++)
        d[i] = f32_to_bf16(src[i]);
}

/* This thread's share [r0, r1) of m rows inside a parallel region. */
static void my_rows(int m, int *r0, int *r1)
{
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    *r0 = (int)((long)m * id / nt);
    *r1 = (int)((long)m * (id + 1) / nt);
}

/* The hot loops for this CPU (kernels_isa.c, built per instruction set). */
typedef struct isa_kernels {
    void (*rmsnorm)(void *, act_type, int, const float *, int, const float *, int, int, int, float);
    void (*layernorm)(void *, act_type, int, float *, const float *, int, const float *, const float *, int, int, int,
                      float);
    void (*rope)(float *, int, int, int, const int *, int, int, const float *, const float *);
    void (*attn)(const attn_seq *, const attn_shape *, int, void *);
    void (*softmax)(float *, int, int, int, int, int, float, void *, act_type);
} isa_kernels;

static isa_kernels pick_kernels(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return (isa_kernels){rmsnorm_block_avx512, layernorm_block_avx512, rope_block_avx512, attn_task_avx512,
                                softmax_row_avx512};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (isa_kernels){rmsnorm_block_avx2, layernorm_block_avx2, rope_block_avx2, attn_task_avx2,
                                softmax_row_avx2};
#endif
    return (isa_kernels){rmsnorm_block_base, layernorm_block_base, rope_block_base, attn_task_base,
                            softmax_row_base};
}

void rmsnorm_rows(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int m, int n, float eps)
{
#pragma omp parallel
    {
        int r0, r1;
        my_rows(m, &r0, &r1);
        pick_kernels().rmsnorm(y, t, ldy, x, ldx, w, r0, r1, n, eps);
    }
}

void layernorm_rows(void *y, act_type t, int ldy, float *xo, const float *x, int ldx, const float *w, const float *b,
                    int m, int n, float eps)
{
#pragma omp parallel
    {
        int r0, r1;
        my_rows(m, &r0, &r1);
        pick_kernels().layernorm(y, t, ldy, xo, x, ldx, w, b, r0, r1, n, eps);
    }
}

void rope_rows(float *x, int ldx, int off, int m, const int *pos, int n_heads, int head_dim, const float *cs,
               const float *bias)
{
#pragma omp parallel
    {
        int r0, r1;
        my_rows(m, &r0, &r1);
        pick_kernels().rope(x + off, ldx, r0, r1, pos, n_heads, head_dim, cs, bias);
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

void softmax_row(float *s, int n, int a0, int a1, int b0, int b1, float scale, void *p, act_type t)
{
    pick_kernels().softmax(s, n, a0, a1, b0, b1, scale, p, t);
}

int attention_batch(const attn_seq *seqs, int n_seqs, const attn_shape *sh)
{
    int max_n = 0, failed = 0;
    for (int s = 0; s < n_seqs; s++)
        if (seqs[s].n > max_n)
            max_n = seqs[s].n;
    int tasks = n_seqs * sh->n_kv;
    void (*task)(const attn_seq *, const attn_shape *, int, void *) = pick_kernels().attn;
#pragma omp parallel reduction(| : failed)
    {
        void *w = attn_scratch_new(max_n, sh->head_dim, sh->n_heads / sh->n_kv);
        failed = !w;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++)
            if (w)
                task(&seqs[t / sh->n_kv], sh, t % sh->n_kv, w);
        attn_scratch_free(w);
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
