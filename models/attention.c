/* attention.c — the front of the attention module (attention.h): which path runs which sequences, and the vector
 * kernel's batch driver (its per-ISA task is in attention_isa.c, the matrix path in attention_mm.c). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/attention.h"
#include "models/isa.h"

int attention_vec(const attn_seq *seqs, int n_seqs, const attn_shape *sh)
{
    const isa_kernels *isa = isa_kernels_pick();
    int max_n = 0, failed = 0;
    for (int s = 0; s < n_seqs; s++)
        if (seqs[s].n > max_n)
            max_n = seqs[s].n;
    int tasks = n_seqs * sh->n_kv;
#pragma omp parallel reduction(| : failed)
    {
        attn_scratch *w = isa->scratch_new(max_n, sh->head_dim, sh->n_heads / sh->n_kv);
        failed = !w;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++)
            if (w)
                isa->attn(&seqs[t / sh->n_kv], sh, t % sh->n_kv, w);
        isa->scratch_free(w);
    }
    return failed ? -1 : 0;
}

enum { MATMUL_MIN_KEYS = 384 }; /* measured crossover of the two attention paths (bf16, heads of 64 and 128) */

int attention_run(gemm_ctx *g, lm_attention how, const attn_seq *seqs, int n, const attn_shape *sh, char *err,
                  size_t errlen)
{
    /* q, k, v in the compute type with nothing to rotate: copies for the products are plain memcpy, and the products
     * beat the vector kernel at every length (measured below) */
    int use_mm = how == LM_ATTN_MATMUL || (how == LM_ATTN_AUTO && gemm_ctx_type(g) == ACT_BF16 && n > 0 &&
                                           attn_plain_copy(&seqs[0], sh, ACT_BF16) && sh->head_dim >= 32);
    int split = how == LM_ATTN_AUTO && gemm_ctx_type(g) == ACT_BF16 && sh->head_dim >= 32;
    attn_seq *longs = NULL, *shorts = NULL;
    int n_long = 0, n_short = n;
    if (split) {
        longs = malloc((size_t)n * sizeof *longs);
        shorts = malloc((size_t)n * sizeof *shorts);
        if (!longs || !shorts) {
            free(longs), free(shorts);
            snprintf(err, errlen, "out of memory in attention");
            return GEMM_ENOMEM;
        }
        n_short = 0;
        for (int s = 0; s < n; s++) {
            if (seqs[s].n >= MATMUL_MIN_KEYS)
                longs[n_long++] = seqs[s];
            else
                shorts[n_short++] = seqs[s];
        }
    }
    int rc = 0;
    if (use_mm)
        rc = attention_mm(g, seqs, n, sh, err, errlen);
    else if (n_long)
        rc = attention_mm(g, longs, n_long, sh, err, errlen);
    if (!rc && !use_mm && n_short && attention_vec(split ? shorts : seqs, n_short, sh)) {
        snprintf(err, errlen, "out of memory in attention");
        rc = GEMM_ENOMEM;
    }
    free(longs), free(shorts);
    return rc;
}
