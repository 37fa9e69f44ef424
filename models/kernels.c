/* kernels.c — element-wise passes (see kernels.h): the row passes split rows between OpenMP threads and each thread
 * runs the hot loop of its CPU's instruction set (kernels_isa.c, chosen by isa.h, the engine's one dispatch
 * mechanism); the whole-vector helpers go straight to it.
 */
#include "models/kernels.h"

#include <omp.h>

#include "models/isa.h"

void act_store(void *dst, act_type t, const float *src, int n) { isa_kernels_pick()->act_store(dst, t, src, n); }

float logsumexp(const float *x, int n) { return isa_kernels_pick()->logsumexp(x, n); }

float dot_f32(const float *a, const float *b, int n) { return isa_kernels_pick()->dot(a, b, n); }

/* This thread's share [r0, r1) of m rows inside a parallel region. */
static void my_rows(int m, int *r0, int *r1)
{
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    *r0 = (int)((long)m * id / nt);
    *r1 = (int)((long)m * (id + 1) / nt);
}

void rmsnorm_rows(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int m, int n, float eps)
{
#pragma omp parallel
    {
        int r0, r1;
        my_rows(m, &r0, &r1);
        isa_kernels_pick()->rmsnorm(y, t, ldy, x, ldx, w, r0, r1, n, eps);
    }
}

void layernorm_rows(void *y, act_type t, int ldy, float *xo, const float *x, int ldx, const float *w, const float *b,
                    int m, int n, float eps)
{
#pragma omp parallel
    {
        int r0, r1;
        my_rows(m, &r0, &r1);
        isa_kernels_pick()->layernorm(y, t, ldy, xo, x, ldx, w, b, r0, r1, n, eps);
    }
}

void rope_rows(float *x, int ldx, int off, int m, const int *pos, int n_heads, int head_dim, const float *cs,
               const float *bias)
{
#pragma omp parallel
    {
        int r0, r1;
        my_rows(m, &r0, &r1);
        isa_kernels_pick()->rope(x + off, ldx, r0, r1, pos, n_heads, head_dim, cs, bias);
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
