/* cmaes_noise.c — uncertainty handling through ask/tell (UH-CMA: Hansen, Niederberger, Guzzella & Koumoutsakos 2009,
 * "A method for handling uncertainty in evolutionary optimization", IEEE TEC 13(1); parameters as pycma's NoiseHandler).
 *
 * Measurement: each generation a few candidates are evaluated a second time (at a point moved by ε σ C^1/2 N(0,I)).
 * Ranking all 2λ values (the λ first values and the λ values with the re-evaluated ones swapped in), the rank change of
 * each re-evaluated candidate is compared with what a change of a single position would cause; the mean excess
 * s = mean(|Δrank| - max(1, limit)) is smoothed, s_bar += 0.3 (s - s_bar). s_bar > 0 means the ranking is dominated by
 * noise.
 * Treatment: when s_bar > 0, σ is multiplied by α_σ (so that the signal, which grows with σ, rises above the noise) and
 * the evaluations per candidate by α_evals (up to noise_max_evals; the median of a candidate's evaluations is its f);
 * otherwise the evaluations shrink by α_evals^-1/4 (down to 1).
 *
 * Differences from the paper and pycma, because everything must fit into one ask and one tell: the re-evaluated
 * candidates are the last ones of the generation (independent samples, so a random choice), not chosen after seeing f;
 * the re-evaluations and repeated evaluations are rows of the same batch.
 */
#include <math.h>
#include <stdlib.h>

#include "optim/cmaes_internal.h"

#define NOISE_THETA 0.5          /* percentile (θ·50) of the rank-change limit */
#define NOISE_CUM 0.3            /* smoothing of the measure */

int cmaes_noise_reevals(cmaes *es)
{
    int n = es->n, lam = es->par.lambda;
    double want = es->opt.noise_reevals > 0 ? es->opt.noise_reevals : 2 + lam / 20.0;
    if (want > lam)
        want = lam;
    double whole = floor(want);
    int count = (int)whole + (want - whole > pcg_uniform(&es->rng));
    int limit = lam - (es->tpa_pair ? 2 : 0);
    if (count > limit)
        count = limit;
    if (count < 0)
        count = 0;
    double *g = es->tmp + n, *y = es->W;   /* W is free until tell */
    for (int j = 0; j < count; j++) {
        int k = lam - count + j;
        pcg_fill_normal(&es->rng, g, (size_t)n);
        cmaes_apply_sqrtc(es, g, y);
        const double *x = es->X + (size_t)k * n;
        double *r = es->reev_x + (size_t)j * n;
        for (int i = 0; i < n; i++)
            r[i] = x[i] + es->opt.noise_epsilon * es->sigma * y[i];
    }
    return count;
}

/* σ factor per noisy generation. With CSA, pycma's 1 + 2/(n+10): on the scale of CSA's own rate, about μ_eff/n per
 * generation. TPA changes σ much faster in large dimension (by up to 1/d per generation, d = 0.7 + ln n), against
 * which 1 + 2/(n+10) is lost: at n = 500 noise handling then gains nothing. With TPA the factor is exp(0.3/d), the
 * change TPA itself makes on a first clear signal (0.3 is its smoothing constant). */
static double default_alpha_sigma(const cmaes *es)
{
    if (es->par.use_tpa)
        return exp(0.3 / es->par.tpa_damp);
    return 1 + 2.0 / (es->n + 10);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile p (0..100) of sorted v[0..count), pycma's definition (Mh.prctile). */
static double percentile(const double *v, int count, double p)
{
    double fi = p * count / 100.0 - 0.5;
    if (fi <= 0)
        return v[0];
    if (fi >= count - 1)
        return v[count - 1];
    int i = (int)fi;
    return (i + 1 - fi) * v[i] + (fi - i) * v[i + 1];
}

/* The θ-percentile of |r - c| over r = 1 .. 2λ-1, with c the rank a value would take among the others. */
static double rank_limit(double *buf, int lam, int rank, int other)
{
    int count = 2 * lam - 1;
    double center = rank + 1 - (rank > other);
    for (int r = 1; r <= count; r++)
        buf[r - 1] = fabs(r - center);
    qsort(buf, (size_t)count, sizeof *buf, compare_doubles);
    return percentile(buf, count, NOISE_THETA * 50);
}

void cmaes_noise_update(cmaes *es)
{
    int lam = es->par.lambda, reev = es->reev_count;
    es->noise_sigma_factor = 1;
    es->noise_reev_last = reev;
    if (reev == 0)
        return;
    /* key[0..λ) = f, key[λ..2λ) = f with the re-evaluated values swapped in */
    double *key = es->scratch, *buf = es->scratch + 2 * lam;
    int *idx = es->order, *rank = es->order;   /* rank overwrites idx once the inverse permutation is in buf */
    for (int i = 0; i < lam; i++)
        key[i] = key[lam + i] = es->f[i];
    for (int j = 0; j < reev; j++)
        key[lam + lam - reev + j] = es->fre[j];
    cmaes_rank(key, 2 * lam, idx, es->order + 2 * lam);
    /* invert the permutation in place via buf (doubles hold small integers exactly) */
    for (int r = 0; r < 2 * lam; r++)
        buf[idx[r]] = r;
    for (int i = 0; i < 2 * lam; i++)
        rank[i] = (int)buf[i];
    double sum = 0;
    for (int j = 0; j < reev; j++) {
        int k = lam - reev + j, r0 = rank[k], r1 = rank[lam + k];
        double delta = abs(r0 - r1) - 1;   /* |r0 - r1 - sign(r0 - r1)| */
        double limit = 0.5 * (rank_limit(buf, lam, r0, r1) + rank_limit(buf, lam, r1, r0));
        sum += delta - fmax(limit, 1.0);
    }
    es->noise_s += NOISE_CUM * (sum / reev - es->noise_s);

    int n = es->n;
    double alpha_sigma = es->opt.noise_alpha_sigma > 0 ? es->opt.noise_alpha_sigma : default_alpha_sigma(es);
    double alpha_evals = es->opt.noise_alpha_evals > 0 ? es->opt.noise_alpha_evals : 1 + 2.0 / (n + 10);
    double max_evals = es->opt.noise_max_evals >= 1 ? es->opt.noise_max_evals : 1;
    if (es->noise_s > 0) {
        es->noise_evals = fmin(es->noise_evals * alpha_evals, max_evals);
        es->noise_sigma_factor = alpha_sigma;
        es->sigma *= alpha_sigma;
    } else {
        es->noise_evals = fmax(es->noise_evals * pow(alpha_evals, -0.25), 1.0);
    }
}
