/* projection.c — drawing A and applying p = A·z + p0 for a whole population in one matrix product. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <gsl/gsl_statistics_float.h>

#include "bbt/projection.h"
#include "bbt/util.h"
#include "optim/pcg.h"

#define DRAW_CHUNK 4096

int projection_init(projection *p, int rows, int dim, uint64_t seed, projection_kind kind, double alpha, double sigma0,
                    double embedding_std, const float *p0, bbt_error *err)
{
    return projection_init_stream(p, rows, dim, seed, PROJECTION_STREAM, kind, alpha, sigma0, embedding_std, p0, err);
}

int projection_init_stream(projection *p, int rows, int dim, uint64_t seed, uint64_t stream, projection_kind kind,
                           double alpha, double sigma0, double embedding_std, const float *p0, bbt_error *err)
{
    memset(p, 0, sizeof *p);
    if (kind == PROJ_NORMAL && !(embedding_std > 0))
        return bbt_fail(err, "the model's embedding table has standard deviation %g; cannot scale the projection",
                        embedding_std);
    p->rows = rows;
    p->dim = dim;
    p->scale = kind == PROJ_NORMAL ? alpha * embedding_std / (sqrt((double)dim) * sigma0) : 1.0 / sqrt((double)dim);
    size_t n = (size_t)rows * (size_t)dim;
    p->A = xmalloc(n * sizeof *p->A);
    pcg_rng rng;
    pcg_seed(&rng, seed, stream);
    double buf[DRAW_CHUNK];
    for (size_t at = 0; at < n; at += DRAW_CHUNK) {
        size_t m = n - at < DRAW_CHUNK ? n - at : DRAW_CHUNK;
        if (kind == PROJ_NORMAL)
            pcg_fill_normal(&rng, buf, m);
        else
            pcg_fill_uniform(&rng, buf, m);
        for (size_t i = 0; i < m; i++)
            p->A[at + i] = (float)(kind == PROJ_NORMAL ? p->scale * buf[i] : p->scale * (2.0 * buf[i] - 1.0));
    }
    if (p0) {
        p->p0 = xmalloc((size_t)rows * sizeof *p->p0);
        memcpy(p->p0, p0, (size_t)rows * sizeof *p->p0);
    }
    return 0;
}

void projection_apply(const projection *p, const double *z, int count, float *out)
{
    float *zf = xmalloc((size_t)count * (size_t)p->dim * sizeof *zf);
    for (size_t i = 0; i < (size_t)count * (size_t)p->dim; i++)
        zf[i] = (float)z[i];
    for (int c = 0; c < count; c++) {
        float *row = out + (size_t)c * (size_t)p->rows;
        if (p->p0)
            memcpy(row, p->p0, (size_t)p->rows * sizeof *row);
        else
            memset(row, 0, (size_t)p->rows * sizeof *row);
    }
    /* out (count × rows) += Z (count × dim) · Aᵀ (dim × rows), on one OpenBLAS thread: OpenBLAS splits a product among
     * its threads in a way that changes the rounding, so the same z would give other prompts under another thread
     * count (and a run could not be rebuilt or resumed bit for bit on another machine). */
    int threads = openblas_get_num_threads();
    if (threads != 1)
        openblas_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count, p->rows, p->dim, 1.0f, zf, p->dim, p->A, p->dim, 1.0f,
                out, p->rows);
    if (threads != 1)
        openblas_set_num_threads(threads);
    free(zf);
}

void projection_free(projection *p)
{
    free(p->A);
    free(p->p0);
    memset(p, 0, sizeof *p);
}

void table_stats(const float *v, long n, double *mean, double *std)
{
    /* two passes (GSL's running sums in long double): a one-pass Σx² − n·mean² cancels when the mean is large */
    *mean = gsl_stats_float_mean(v, 1, (size_t)n);
    *std = gsl_stats_float_sd_with_fixed_mean(v, 1, (size_t)n, *mean); /* divides by n: the population std */
}

double table_std(const float *v, long n)
{
    double mean, std;
    table_stats(v, n, &mean, &std);
    return std;
}
