/* projection.h — the fixed random map from the search space to the prompt space: p = A·z + p0.
 *
 * A has (L·H) rows and d columns. It is drawn from its own PCG stream of the run seed (PROJECTION_STREAM), entry by
 * entry in row-major order, so the seed and the settings rebuild it exactly; it is never written to a file.
 *   normal:  A_ij ~ N(0, s²), s = α·σ̂ / (√d·σ0), σ̂ the standard deviation of the model's input embedding table, so that
 *            each entry of A·z starts with a standard deviation near α·σ̂ when z ~ N(0, σ0² I) (the reference default);
 *   uniform: A_ij ~ U(−1/√d, 1/√d) (the paper's first version).
 * In add mode the prompt rows are A·z added onto the placeholder tokens' embeddings, which the input already holds: the
 * method's p0 is those embeddings, and this module's p0 is zero. In cat mode p0 is zero or a given prompt.
 */
#ifndef BBT_PROJECTION_H
#define BBT_PROJECTION_H

#include <stdint.h>

#include "bbt/error.h"

#define PROJECTION_STREAM 0x70726f6a656374ULL /* "project" */

typedef enum projection_kind { PROJ_NORMAL = 0, PROJ_UNIFORM = 1 } projection_kind;

typedef struct projection {
    int rows;     /* L·H */
    int dim;      /* d */
    float *A;     /* rows × dim, row-major */
    float *p0;    /* rows values, or NULL for zero */
    double scale; /* s for normal, 1/√d for uniform */
} projection;

/* Draw A. embedding_std is σ̂ (used by the normal kind). p0 (rows floats) is copied; NULL means zero. */
int projection_init(projection *p, int rows, int dim, uint64_t seed, projection_kind kind, double alpha, double sigma0,
                    double embedding_std, const float *p0, bbt_error *err);

/* out[c] = A·z[c] + p0 for count vectors z (count × dim doubles) into out (count × rows floats).
 * The result depends on z alone, not on the OpenBLAS thread count: the product runs on one OpenBLAS thread. When the
 * process allows OpenBLAS more than one, this call lowers the (process-wide) setting to one for the product and
 * restores it after; a program that calls it from several threads, or runs other OpenBLAS work beside it, should pin
 * OpenBLAS to one thread once at start (openblas_set_num_threads(1), as bbt's main does), which makes this call touch
 * no global setting at all. */
/* The same from another PCG stream of the seed (BBTv2 draws A_l from stream PROJECTION_STREAM + l; bbt/deep.h). */
int projection_init_stream(projection *p, int rows, int dim, uint64_t seed, uint64_t stream, projection_kind kind,
                           double alpha, double sigma0, double embedding_std, const float *p0, bbt_error *err);

void projection_apply(const projection *p, const double *z, int count, float *out);

void projection_free(projection *p);

/* Mean and population standard deviation (divided by n) of all entries of a table. σ̂ above is the std of the model's
 * input embedding table, and this is the one formula for it (`bbt info` prints the same number). */
void table_stats(const float *v, long n, double *mean, double *std);

/* The std of table_stats alone. */
double table_std(const float *v, long n);

#endif
