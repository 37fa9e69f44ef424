/* kernels.h — the element-wise passes of the transformer engines.
 *
 * Everything that is neither a big matrix product (gemm.h) nor attention (attention.h): normalisation, rotary
 * positions, the fp32 ⇄ bf16/fp16 conversions, dot products and log-sum-exp. Each pass goes over rows in parallel (OpenMP: the same thread pool oneDNN uses)
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

/* log(sum(exp(x))) over n floats. */
float logsumexp(const float *x, int n);

/* Dot product of two fp32 vectors (summed in the lanes of the CPU's vectors: the order, and so the rounding, is
 * fixed for a given instruction set, see isa.h). */
float dot_f32(const float *a, const float *b, int n);

#endif
