/* vec16.h — 16-lane vectors (GCC vector extensions) for the files built once per instruction set (kernels_isa.c,
 * attention_isa.c; see isa.h). Included only there: the same source becomes AVX-512, AVX2 or SSE2 code depending on
 * the flags the build gives the file, with no intrinsics. Not for other files: outside a per-ISA build these types
 * would be lowered to scalar code (and GCC lowers them before inlining into target_clones functions too, which is
 * why the engine uses per-ISA builds rather than target attributes). */
#ifndef BBT_MODELS_VEC16_H
#define BBT_MODELS_VEC16_H

#ifndef KERNEL_ISA
#error "vec16.h is for the per-instruction-set builds (models/models.mk defines KERNEL_ISA)"
#endif

#include <stdint.h>
#include <string.h>

#include "models/kernels.h"

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define ISA_NAME(f) CAT(f, KERNEL_ISA)

enum { QB = 16 };

/* 16 lanes of floats / ints / 16-bit values (GCC vector extensions). */
typedef float vf __attribute__((vector_size(QB * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(QB * sizeof(int32_t))));
typedef uint32_t vu __attribute__((vector_size(QB * sizeof(uint32_t))));
typedef uint16_t vh __attribute__((vector_size(QB * sizeof(uint16_t))));

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline vf vsplat(float x) { return (vf){0} + x; }
static inline vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }

/* exp(x) = 2^k · exp(r) with |r| ≤ ln2/2 (see exp_poly): the reduction, and 2^k as a float in *scale. */
static inline vf vexp_reduce(vf x, vf *scale)
{
    x = vselect(x < vsplat(-87.0f), vsplat(-87.0f), x);
    x = vselect(x > vsplat(88.0f), vsplat(88.0f), x);
    vf t = x * 1.44269504f + 12582912.0f;
    vf k = t - 12582912.0f;
    vi ki = (vi)t - 0x4b400000;
    *scale = (vf)((ki + 127) << 23);
    return x - k * 0.693145752f - k * 1.42860677e-6f;
}

/* exp_poly on 16 lanes, the same arithmetic as the scalar version. */
static inline vf vexp(vf x)
{
    vf scale, r = vexp_reduce(x, &scale);
    vf p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f + r * (8.3333338e-3f
           + r * 1.3888889e-3f)))));
    return p * scale;
}

/* A cheaper exp for values that end in bf16 (8 significant bits): a degree-4 polynomial, relative error ≈ 4e-5. */
static inline vf vexp_bf16(vf x)
{
    vf scale, r = vexp_reduce(x, &scale);
    return (1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * 4.1666668e-2f)))) * scale;
}

/* 16 floats → bf16 (round to nearest even, NaN kept) stored at p. */
static inline void vstore_bf16(uint16_t *p, vf x)
{
    vu u = (vu)x;
    vu r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    vu nan = (vu)((u & 0x7fffffffu) > 0x7f800000u);
    r = (r & ~nan) | (((u >> 16) | 0x40u) & nan);
    vh h = __builtin_convertvector(r, vh);
    memcpy(p, &h, sizeof h);
}

/* Store the first n ≤ 16 lanes of x as the activation type at dst. */
static inline void vstore_act(void *dst, act_type t, vf x, int n)
{
    if (n == QB) {
        if (t == ACT_BF16)
            vstore_bf16(dst, x);
        else
            vstore(dst, x);
        return;
    }
    float tmp[QB];
    vstore(tmp, x);
    act_store_short(dst, t, tmp, n);
}

/* Up to 16 floats from p (n < 16: the rest zero). */
static inline vf vload_n(const float *p, int n)
{
    if (n == QB)
        return vload(p);
    float tmp[QB] = {0};
    memcpy(tmp, p, (size_t)n * sizeof(float));
    return vload(tmp);
}

#endif
