/* cmaes_sample.c — building a generation: λ candidates x = m + σ C^1/2 z, TPA's pair, injected solutions, and the
 * batch of rows the caller evaluates.
 *
 * Row order of the candidates: TPA's pair first (when TPA is on and the mean has moved), then injected solutions, then
 * independent samples; noise handling re-evaluates the last candidates, which are always independent samples.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "optim/cmaes_internal.h"

/* TPA (Hansen 2008; pycma's CMAAdaptSigmaTPA): candidates 0 and 1 are m ± σ r u, u the last mean shift as a unit vector
 * in the sampling metric, r a chi-distributed length (the norm of the normal vector drawn for row 0). */
static int tpa_pair(cmaes *es)
{
    int n = es->n;
    double *u = es->tmp + n;   /* tmp has 2n entries: tmp[0..n) is used by cmaes_apply_sqrtc */
    cmaes_apply_invsqrtc(es, es->dm, u);
    double len = sqrt(cmaes_dot(u, u, n));
    if (!(len > 0) || !isfinite(len))
        return 0;
    double r = sqrt(cmaes_dot(es->Z, es->Z, n)) / len;
    for (int i = 0; i < n; i++) {
        es->Z[i] = r * u[i];
        es->Z[n + i] = -r * u[i];
    }
    return 1;
}

/* Orthogonal sampling (Wang, Emmerich & Bäck 2014): the normal vectors of rows [first, first + count) are made
 * orthogonal in blocks of at most n (modified Gram-Schmidt), each keeping the length it was drawn with. Every vector
 * keeps its distribution (uniform direction, chi length); together they cover the space more evenly than independent
 * draws, which lowers the variance of the recombined step. */
static void orthogonalize(cmaes *es, int first, int count)
{
    int n = es->n;
    double *len = es->scratch;
    for (int start = first; start < first + count; start += n) {
        int end = start + n < first + count ? start + n : first + count;
        for (int k = start; k < end; k++) {
            double *z = es->Z + (size_t)k * n;
            len[k - start] = sqrt(cmaes_dot(z, z, n));
            for (int j = start; j < k; j++) {
                const double *q = es->Z + (size_t)j * n;
                double c = cmaes_dot(z, q, n);
                for (int i = 0; i < n; i++)
                    z[i] -= c * q[i];
            }
            double now = sqrt(cmaes_dot(z, z, n));
            if (now > 1e-12 * len[k - start])
                for (int i = 0; i < n; i++)
                    z[i] /= now;
            else
                len[k - start] = 1;   /* (measure zero) a dependent draw keeps its own length and direction */
        }
        for (int k = start; k < end; k++) {
            double *z = es->Z + (size_t)k * n;
            for (int i = 0; i < n; i++)
                z[i] *= len[k - start];
        }
    }
}

/* Mirrored sampling (Brockhoff, Auger, Hansen, Arnold & Hohm 2010): lead vectors in rows [first, first + lead) become
 * pairs z, -z in rows first, first + 1, ... */
CMAES_VECTOR_LOOPS
static void mirror(cmaes *es, int first, int lead, int count, int packed)
{
    int n = es->n;
    for (int j = lead - 1; j >= 0; j--) {
        double *src = es->Z + (size_t)(first + (packed ? j : 2 * j)) * n, *dst = es->Z + (size_t)(first + 2 * j) * n;
        if (dst != src)
            memcpy(dst, src, sizeof(double) * (size_t)n);
        if (2 * j + 1 < count)
            for (int i = 0; i < n; i++)
                dst[n + i] = -dst[i];
    }
}

/* Shape the independent normal vectors of rows [first, λ) as the sampling option asks (cmaes.h). The default:
 * - full variant: orthogonal directions (the O(λ^2 n) cost is below the O(λ n^2) of sampling), in mirrored pairs once
 *   λ > n, when the population can no longer give each candidate a direction of its own;
 * - separable variant: mirrored pairs of independent vectors (with λ << n random directions are nearly orthogonal
 *   already, and orthogonalising would cost more than the whole O(λ n) generation).
 * Antithetic pairs cancel the first-order sampling noise of the mean's step: on Rastrigin with IPOP's large
 * populations they halve the evaluations, and at n = 500 they speed the separable variant up on sphere and cigar.
 * Records the mirrored pairs for the path normalisation. */
static void shape_normals(cmaes *es, int first)
{
    int lam = es->par.lambda, count = lam - first, full = es->opt.variant == CMAES_FULL;
    cmaes_sampling s = es->opt.sampling;
    int orth = s == CMAES_SAMPLING_ORTHOGONAL || (full && (s == CMAES_SAMPLING_MIRRORED || s == CMAES_SAMPLING_AUTO));
    int mirrored = s == CMAES_SAMPLING_MIRRORED || (s == CMAES_SAMPLING_AUTO && (!full || lam > es->n));
    int lead = mirrored ? (count + 1) / 2 : count;
    int packed = !mirrored || orth;   /* orthogonalising needs the lead vectors in consecutive rows */
    if (packed)
        pcg_fill_normal(&es->rng, es->Z + (size_t)first * es->n, (size_t)lead * es->n);
    else   /* each lead vector drawn into its pair's first row: the same numbers, and no rows to move */
        for (int j = 0; j < lead; j++)
            pcg_fill_normal(&es->rng, es->Z + (size_t)(first + 2 * j) * es->n, (size_t)es->n);
    if (orth && lead > 1)
        orthogonalize(es, first, lead);
    if (mirrored)
        mirror(es, first, lead, count, packed);
    es->mirror_pairs = (mirrored ? count / 2 : 0) + (es->tpa_pair ? 1 : 0);
}

/* Y = C^1/2 Z and X = m + σ Y for all λ rows. */
CMAES_VECTOR_LOOPS
static void steps(cmaes *es)
{
    int n = es->n, lam = es->par.lambda;
    double sigma = es->sigma;
    if (es->opt.variant == CMAES_FULL) {
        double *dz = es->W;
        for (int k = 0; k < lam; k++)
            for (int i = 0; i < n; i++)
                dz[(size_t)k * n + i] = es->D[i] * es->Z[(size_t)k * n + i];
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, lam, n, 1.0, es->B, n, dz, n, 0.0, es->Y, n);
    }
    for (int k = 0; k < lam; k++) {
        const double *z = es->Z + (size_t)k * n;
        double *y = es->Y + (size_t)k * n, *x = es->X + (size_t)k * n;
        if (es->opt.variant == CMAES_SEP)
            for (int i = 0; i < n; i++)
                y[i] = es->D[i] * z[i];
        for (int i = 0; i < n; i++)
            x[i] = es->mean[i] + sigma * y[i];
    }
}

/* An injected solution as candidate k: evaluated where the caller asked, but its step enters the update with its
 * Mahalanobis length clipped to sqrt(n) + 2n/(n+2) (pycma's repair of foreign solutions). */
static void place_injected(cmaes *es, int k, const double *xg)
{
    int n = es->n;
    double *x = es->X + (size_t)k * n, *y = es->Y + (size_t)k * n, *z = es->Z + (size_t)k * n;
    memcpy(x, xg, sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++)
        y[i] = (x[i] - es->mean[i]) / es->sigma;
    cmaes_apply_invsqrtc(es, y, z);
    double len = sqrt(cmaes_dot(z, z, n)), limit = sqrt((double)n) + 2.0 * n / (n + 2.0);
    if (len > limit) {
        double f = limit / len;
        for (int i = 0; i < n; i++) {
            z[i] *= f;
            y[i] *= f;
        }
    }
    es->injected[k] = 1;
}

/* How many waiting solutions this generation takes: at most λ/2 (at least 1), and the rows left. */
static int injections_due(const cmaes *es, int first)
{
    int lam = es->par.lambda, take = es->inj_count;
    int limit = lam / 2 > 1 ? lam / 2 : 1;
    if (take > limit)
        take = limit;
    if (take > lam - first)
        take = lam - first;
    return take;
}

static void take_injections(cmaes *es, int first, int take)
{
    int n = es->n;
    for (int j = 0; j < take; j++)
        place_injected(es, first + j, es->inj + (size_t)j * n);
    memmove(es->inj, es->inj + (size_t)take * n, sizeof(double) * (size_t)(es->inj_count - take) * n);
    es->inj_count -= take;
}

/* The rows the caller evaluates: each candidate evals_per times, then the re-evaluation points. */
static void fill_rows(cmaes *es)
{
    int n = es->n, lam = es->par.lambda, e = es->evals_per;
    size_t row = 0, bytes = sizeof(double) * (size_t)n;
    for (int k = 0; k < lam; k++) {
        cmaes_to_pheno(es, es->X + (size_t)k * n, es->rows + row * n);
        for (int j = 1; j < e; j++)
            memcpy(es->rows + (row + j) * n, es->rows + row * n, bytes);
        row += e;
    }
    for (int k = 0; k < es->reev_count; k++) {
        cmaes_to_pheno(es, es->reev_x + (size_t)k * n, es->rows + row * n);
        for (int j = 1; j < e; j++)
            memcpy(es->rows + (row + j) * n, es->rows + row * n, bytes);
        row += e;
    }
    es->row_count = (int)row;
}

int cmaes_sample(cmaes *es)
{
    int n = es->n, lam = es->par.lambda;
    if (es->opt.variant == CMAES_FULL && es->run_iter - es->eigen_iter >= es->par.eigen_gap && es->run_iter > 0) {
        if (cmaes_eigen_update(es) != CMAES_OK)
            return CMAES_ERR_NUMERIC;
    }
    memset(es->injected, 0, (size_t)lam);
    es->tpa_pair = 0;
    if (es->par.use_tpa && es->run_iter > 0) {
        pcg_fill_normal(&es->rng, es->Z, (size_t)n);   /* row 0: the pair's chi-distributed length */
        es->tpa_pair = tpa_pair(es);
    }
    int first = es->tpa_pair ? 2 : 0, injections = injections_due(es, first);
    shape_normals(es, first + injections);
    steps(es);
    take_injections(es, first, injections);

    es->evals_per = 1;
    es->reev_count = 0;
    if (es->opt.noise_handling) {
        es->evals_per = (int)floor(es->noise_evals);
        es->reev_count = cmaes_noise_reevals(es);
    }
    if (es->lower || es->evals_per > 1 || es->reev_count > 0)
        fill_rows(es);
    else
        es->row_count = lam;   /* the batch is X itself */
    return CMAES_OK;
}
