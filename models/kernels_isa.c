/* kernels_isa.c — the hot loops of the element-wise passes (kernels.h), built once per instruction set.
 *
 * models/models.mk compiles this file three times, with KERNEL_ISA = avx512, avx2 and base and the matching compiler
 * flags, so that GCC's 16-lane vector types (vec16.h) become AVX-512, AVX2 or SSE2 code with no intrinsics in the
 * source; isa.c picks one set at run time from the CPU's features (the one dispatch mechanism of the engine).
 *
 * Row passes (RMSNorm, LayerNorm, rotary) go 16 floats at a time with the bf16 conversion fused into the store; the
 * whole-vector helpers (act_store, dot_f32, logsumexp) are plain loops the compiler vectorises for the build's ISA.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/isa.h"
#include "models/vec16.h"

/* ---- row passes ---- */

void ISA_NAME(rmsnorm_block)(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int r0, int r1,
                             int n, float eps)
{
    size_t es = act_size(t);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * ldx;
        vf acc = {0};
        for (int i = 0; i < n; i += QB) {
            vf v = vload_n(xr + i, n - i < QB ? n - i : QB);
            acc += v * v;
        }
        float ss = 0.0f;
        for (int l = 0; l < QB; l++)
            ss += acc[l];
        float inv = 1.0f / sqrtf(ss / (float)n + eps);
        char *yr = (char *)y + (size_t)r * ldy * es;
        for (int i = 0; i < n; i += QB) {
            int k = n - i < QB ? n - i : QB;
            vstore_act(yr + (size_t)i * es, t, vload_n(xr + i, k) * inv * vload_n(w + i, k), k);
        }
    }
}

/* LayerNorm in two passes over the row (mean, then the centred sum of squares): no cancellation when the mean is large
 * against the spread. y (act type) and xo (fp32) are optional outputs; xo may be x. */
void ISA_NAME(layernorm_block)(void *y, act_type t, int ldy, float *xo, const float *x, int ldx, const float *w,
                               const float *b, int r0, int r1, int n, float eps)
{
    size_t es = act_size(t);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * ldx;
        vf acc = {0};
        for (int i = 0; i < n; i += QB)
            acc += vload_n(xr + i, n - i < QB ? n - i : QB);
        float sum = 0.0f;
        for (int l = 0; l < QB; l++)
            sum += acc[l];
        float mean = sum / (float)n;
        acc = (vf){0};
        for (int i = 0; i < n; i += QB) {
            int k = n - i < QB ? n - i : QB;
            vf d = vload_n(xr + i, k) - mean;
            if (k < QB) /* the zero padding of a short tail would add mean² per missing lane */
                for (int l = k; l < QB; l++)
                    d[l] = 0.0f;
            acc += d * d;
        }
        float ss = 0.0f;
        for (int l = 0; l < QB; l++)
            ss += acc[l];
        float inv = 1.0f / sqrtf(ss / (float)n + eps);
        char *yr = y ? (char *)y + (size_t)r * ldy * es : NULL;
        float *xo_r = xo ? xo + (size_t)r * ldx : NULL;
        for (int i = 0; i < n; i += QB) {
            int k = n - i < QB ? n - i : QB;
            vf v = (vload_n(xr + i, k) - mean) * inv * vload_n(w + i, k) + vload_n(b + i, k);
            if (yr)
                vstore_act(yr + (size_t)i * es, t, v, k);
            if (xo_r) {
                if (k == QB) {
                    vstore(xo_r + i, v);
                } else {
                    float tmp[QB];
                    vstore(tmp, v);
                    memcpy(xo_r + i, tmp, (size_t)k * sizeof(float));
                }
            }
        }
    }
}

/* Rotary pairs (2j, 2j+1) of every head, in place, after adding an optional bias. */
void ISA_NAME(rope_block)(float *x, int ldx, int r0, int r1, const int *pos, int n_heads, int head_dim,
                          const float *cs, const float *bias)
{
    int half = head_dim / 2, n = n_heads * head_dim;
    for (int r = r0; r < r1; r++) {
        float *row = x + (size_t)r * ldx;
        const float *c = cs + (size_t)pos[r] * half * 2;
        if (bias)
            for (int i = 0; i < n; i++)
                row[i] += bias[i];
        for (int hh = 0; hh < n_heads; hh++) {
            float *v = row + hh * head_dim;
            for (int j = 0; j < half; j++) {
                float a = v[2 * j], b = v[2 * j + 1];
                v[2 * j] = a * c[2 * j] - b * c[2 * j + 1];
                v[2 * j + 1] = a * c[2 * j + 1] + b * c[2 * j];
            }
        }
    }
}

/* ---- whole vectors (loops the compiler vectorises for this build's instruction set) ---- */

void ISA_NAME(act_store)(void *dst, act_type t, const float *src, int n)
{
    if (t == ACT_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    uint16_t *d = dst;
    for (int i = 0; i < n; i++)
        d[i] = f32_to_bf16(src[i]);
}

float ISA_NAME(logsumexp)(const float *x, int n)
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

float ISA_NAME(dot_f32)(const float *a, const float *b, int n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}
