/* gemm.h — the engines' matrix products: C = A · Wᵀ (or C += A · Wᵀ) through oneDNN's matmul.
 *
 * W is a weight matrix given once as N rows of K floats (the [out][in] layout of PyTorch's Linear and of llama2.c),
 * converted at load to the compute type and prepacked into the layout oneDNN's fastest kernel wants (for bf16 on a CPU
 * with AMX, tiles of pairs of bf16). A is M rows of activations in the compute type; C is fp32 (bf16 products accumulate
 * in fp32). One primitive per shape (M, K, N, accumulate) is created on first use and cached, so varying M costs one
 * JIT compilation per distinct M.
 *
 * Threads: oneDNN here runs on OpenMP; a product uses the calling thread's OpenMP team size, or one thread when called
 * inside a parallel region. Calls from several threads at once are safe (each running product borrows a stream and a
 * scratchpad of its own).
 */
#ifndef BBT_MODELS_GEMM_H
#define BBT_MODELS_GEMM_H

#include <stddef.h>

#include "models/kernels.h"

typedef struct gemm_ctx gemm_ctx;

typedef struct gemm_weight {
    int n, k;          /* N outputs × K inputs */
    act_type type;
    int plain;         /* 1: stored as N plain rows of K (readable with gemm_weight_row); 0: oneDNN's packed layout */
    void *data;
    size_t bytes;
    void *md;          /* the layout (a dnnl_memory_desc_t), owned */
    float *bias;       /* N fp32 values added to every product row before the epilogue, or NULL; owned */
} gemm_weight;

/* What the functions below return: 0, or one of these with a message in err. A failed oneDNN call's message names the
 * call and its status ("oneDNN: dnnl_primitive_execute failed (invalid arguments) while running a matrix product"). */
typedef enum gemm_status {
    GEMM_OK = 0,
    GEMM_ENOMEM = -1,        /* memory ran out (ours, or oneDNN's out_of_memory status) */
    GEMM_EBACKEND = -2,      /* a oneDNN call failed */
    GEMM_EUNSUPPORTED = -3   /* the compute type is not available on this CPU (bf16 without AVX-512) */
} gemm_status;

/* Create the context for compute type t (ACT_F32 or ACT_BF16). Returns 0, or a gemm_status with a message in err. */
int gemm_ctx_create(gemm_ctx **out, act_type t, char *err, size_t errlen);
void gemm_ctx_free(gemm_ctx *g);
act_type gemm_ctx_type(const gemm_ctx *g);

/* Convert and pack w_rows (n × k floats, row-major; rows may be `ld` floats apart) into w. plain = 1 keeps rows
 * readable (used for output heads whose single rows are also needed). Returns 0 or a gemm_status with err. */
int gemm_weight_pack(gemm_ctx *g, gemm_weight *w, const float *w_rows, int n, int k, size_t ld, int plain,
                     char *err, size_t errlen);
void gemm_weight_free(gemm_weight *w);

/* Give a packed weight a bias (n floats, copied): every product through it then adds the bias to each row before its
 * epilogue (C = epilogue(A · Wᵀ + b)), inside the GEMM. Returns 0 or -1 (memory). */
int gemm_weight_set_bias(gemm_weight *w, const float *bias);

/* Row i of a plain weight as fp32 into dst (k floats). */
void gemm_weight_row(const gemm_weight *w, int i, float *dst);

/* What happens to the product P = A · Wᵀ (+ bias) on its way out (fused into the GEMM, so no extra pass over memory). */
typedef enum gemm_epilogue {
    GEMM_STORE = 0,    /* C = P, C fp32 */
    GEMM_ADD = 1,      /* C += P, C fp32 (the residual connection) */
    GEMM_SILU = 2,     /* C = silu(P) = P·sigmoid(P), C in the compute type (the gate of SwiGLU) */
    GEMM_MUL = 3,      /* C = P ⊙ M elementwise, C and M in the compute type, M with C's shape and row stride */
    GEMM_GELU_ERF = 4, /* C = gelu(P) = P·Φ(P) with the exact erf, C in the compute type (BERT's feed-forward) */
    GEMM_GELU_TANH = 5,/* C = gelu(P) by the tanh approximation, C in the compute type (GPT-2's feed-forward) */
    GEMM_STORE_ACT = 6,/* C = P in the compute type (q|k|v read by matrix-product attention) */
    GEMM_RELU = 7,     /* C = max(P, 0), C in the compute type (a ReLU feed-forward) */
    GEMM_QUICK_GELU = 8/* C = P·sigmoid(1.702·P), C in the compute type (CLIP's "quick_gelu") */
} gemm_epilogue;

/* C[m × n] from A[m × k] · Wᵀ through the epilogue. A in the context's type with rows lda elements apart; C (type as
 * the epilogue says) with rows ldc apart; mul is M for GEMM_MUL (NULL otherwise). Returns 0, or a gemm_status with
 * err. */
int gemm_run(gemm_ctx *g, const gemm_weight *w, int m, const void *a, int lda, void *c, int ldc, gemm_epilogue ep,
             const void *mul, char *err, size_t errlen);

/* Attention-shaped batched product: C[i][j] = A[i][j] · B[i] for i < b0, j < b1 (B shared across j, e.g. the query
 * heads of one key/value head). A: b0·b1 dense m × k matrices, compute type. B: b0 matrices b_stride elements apart of
 * logical shape k × n, compute type, stored row-major (b_trans = 0: k rows of n elements, ldb apart) or as their
 * transpose (b_trans = 1: n rows of k, ldb apart). C: b0·b1 dense m × n fp32 matrices. Returns 0 or a gemm_status
 * with err. */
int gemm_batched(gemm_ctx *g, int b0, int b1, int m, int k, int n, const void *a, const void *b, int b_trans,
                 int ldb, long b_stride, float *c, char *err, size_t errlen);

/* A batch of matrices where they lie: matrix (i, j) of the batch starts at element i·s0 + j·s1 of p, its rows rs
 * elements apart and its columns cs apart (a transposed matrix has rs = 1). */
typedef struct gemm_view {
    const void *p;
    long s0, s1, rs, cs;
} gemm_view;

/* The same batched product on matrices read and written where they lie, through views: A b0·b1 matrices m × k,
 * B b0 matrices k × n (shared along b1: its s1 is ignored), C b0·b1 matrices m × n, fp32 or (c_act) in the compute
 * type. A and B in the compute type. Returns 0 or a gemm_status with err. Speed: oneDNN 2.6 has fast kernels only for
 * dense batch-major views (matrices one after the other, rows contiguous or B transposed); other strides run its
 * reference kernel, ~1000× slower. */
int gemm_batched_view(gemm_ctx *g, int b0, int b1, int m, int k, int n, const gemm_view *a, const gemm_view *b,
                      const gemm_view *c, int c_act, char *err, size_t errlen);

#endif
