/* attention.h — attention through batched matrix products (see attention.c); the vector kernel is attention_batch in
 * kernels.h. Both take the same description of the sequences and give the same results within rounding. */
#ifndef BBT_MODELS_ATTENTION_H
#define BBT_MODELS_ATTENTION_H

#include <stddef.h>

#include "models/gemm.h"
#include "models/kernels.h"
#include "models/lm.h"

/* Attention for every sequence of a batch, products in g's compute type. Returns 0, or -1 with a message in err. */
int attention_mm(gemm_ctx *g, const attn_seq *seqs, int n_seqs, const attn_shape *sh, char *err, size_t errlen);

/* Attention for every sequence of a batch by the implementation asked for (lm_options.attention). LM_ATTN_AUTO gives
 * the matrix units the sequences where they pay off (bf16, heads of 32+ dimensions, MATMUL_MIN_KEYS+ rows: the
 * products cost O(n²·d) at matrix speed, the vector kernel the same at vector speed plus less overhead per row) and the
 * vector kernel the rest. Returns 0, or -1 with a message in err. */
int attention_run(gemm_ctx *g, lm_attention how, const attn_seq *seqs, int n_seqs, const attn_shape *sh, char *err,
                  size_t errlen);

#endif
