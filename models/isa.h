/* isa.h — the engine's one dispatch mechanism: the hot loops are built once per instruction set (kernels_isa.c,
 * attention_isa.c; models/models.mk compiles each with KERNEL_ISA = avx512, avx2 and base and the matching flags), and
 * isa_kernels_pick() gives the set for the CPU it runs on.
 *
 * Why per-ISA builds rather than GCC's target_clones: the loops are written with GCC vector types (vec16.h), and GCC
 * lowers those to the baseline ISA in helper functions before it inlines them into a target-attributed clone, so a
 * clone would run SSE2 code. A whole file built with -mavx512f has no such problem. The plain loops (act_store,
 * dot_f32, logsumexp) go through the same tables, so every hot function is chosen one way.
 *
 * Internal to models/: kernels.c and attention.c call through the table; nothing else includes this header.
 */
#ifndef BBT_MODELS_ISA_H
#define BBT_MODELS_ISA_H

#include "models/kernels.h"

struct attn_seq;
struct attn_shape;
typedef struct attn_scratch attn_scratch;   /* a vector-attention task's scratch (attention_isa.c) */

/* The functions every per-ISA build defines, as NAME_avx512, NAME_avx2 and NAME_base. */
#define ISA_FUNCTIONS(isa)                                                                                          \
    void rmsnorm_block_##isa(void *y, act_type t, int ldy, const float *x, int ldx, const float *w, int r0, int r1,  \
                             int n, float eps);                                                                      \
    void layernorm_block_##isa(void *y, act_type t, int ldy, float *xo, const float *x, int ldx, const float *w,     \
                               const float *b, int r0, int r1, int n, float eps);                                    \
    void rope_block_##isa(float *x, int ldx, int r0, int r1, const int *pos, int n_heads, int head_dim,              \
                          const float *cs, const float *bias);                                                       \
    void act_store_##isa(void *dst, act_type t, const float *src, int n);                                            \
    float dot_f32_##isa(const float *a, const float *b, int n);                                                      \
    float logsumexp_##isa(const float *x, int n);                                                                    \
    void softmax_row_##isa(float *s, int n, int a0, int a1, int b0, int b1, float scale, void *p, act_type t);       \
    attn_scratch *attn_scratch_new_##isa(int n, int head_dim, int group);                                            \
    void attn_scratch_free_##isa(attn_scratch *w);                                                                   \
    void attn_task_##isa(const struct attn_seq *sq, const struct attn_shape *sh, int kvh, void *scratch);
ISA_FUNCTIONS(avx512)
ISA_FUNCTIONS(avx2)
ISA_FUNCTIONS(base)

/* One instruction set's hot loops (see kernels.h and attention.h for what each computes). */
typedef struct isa_kernels {
    const char *name;   /* "avx512", "avx2" or "base" */
    void (*rmsnorm)(void *, act_type, int, const float *, int, const float *, int, int, int, float);
    void (*layernorm)(void *, act_type, int, float *, const float *, int, const float *, const float *, int, int, int,
                      float);
    void (*rope)(float *, int, int, int, const int *, int, int, const float *, const float *);
    void (*act_store)(void *, act_type, const float *, int);
    float (*dot)(const float *, const float *, int);
    float (*logsumexp)(const float *, int);
    void (*softmax)(float *, int, int, int, int, int, float, void *, act_type);
    attn_scratch *(*scratch_new)(int, int, int);
    void (*scratch_free)(attn_scratch *);
    void (*attn)(const struct attn_seq *, const struct attn_shape *, int, void *);
} isa_kernels;

/* The set for this CPU: AVX-512 (F, DQ, BW, VL and FMA), else AVX2 with FMA, else the x86-64 baseline. A pointer to a
 * constant table; cheap enough to call per use (it reads the CPU features libgcc recorded at start-up). */
const isa_kernels *isa_kernels_pick(void);

#endif
