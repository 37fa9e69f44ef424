/* cmaes_params.c — strategy parameters of a run: recombination weights, learning rates, damping.
 *
 * The values are pycma's defaults (pycma 3.x/4.x: RecombinationWeights, CMAParameters, CMAAdaptSigmaCSA), which follow
 * Hansen's tutorial (arXiv:1604.00772, appendix A) with active covariance update. They depend on n, λ and μ only, so a
 * loaded checkpoint recomputes them bit for bit.
 */
#include <math.h>
#include <stdlib.h>

#include "optim/cmaes_internal.h"

int cmaes_default_popsize(int n)
{
    return 4 + (int)floor(3.0 * log((double)n));
}

static double sum_range(const double *w, int from, int to)
{
    double s = 0;
    for (int i = from; i < to; i++)
        s += w[i];
    return s;
}

static void scale_range(double *w, int from, int to, double factor)
{
    for (int i = from; i < to; i++)
        w[i] *= factor;
}

/* Raw log weights: positive ones w_i ∝ ln((λ+1)/2) - ln i for i <= μ (pycma's shape; ln(μ + 1/2) - ln i when μ is
 * not the default), negative ones ln((λ+1)/2) - ln i for i > μ where that is negative, zero otherwise. Positive weights
 * are normalised to sum 1, negative ones to sum -1 (finalised below). Returns μ_eff. */
static double raw_weights(double *w, int lambda, int mu, int mu_is_default)
{
    double top = mu_is_default ? log((lambda + 1) / 2.0) : log(mu + 0.5);
    double mid = log((lambda + 1) / 2.0);
    for (int i = 0; i < lambda; i++) {
        if (i < mu)
            w[i] = top - log(i + 1.0);
        else {
            double v = mid - log(i + 1.0);
            w[i] = v < 0 ? v : 0;
        }
    }
    double spos = sum_range(w, 0, mu), sneg = sum_range(w, mu, lambda), sq = 0;
    scale_range(w, 0, mu, 1.0 / spos);
    if (sneg < 0)
        scale_range(w, mu, lambda, -1.0 / sneg);
    for (int i = 0; i < mu; i++)
        sq += w[i] * w[i];
    return 1.0 / sq;
}

/* Scale the negative weights (Hansen's tutorial eq. 53; pycma finalize_negative_weights): their sum is set to
 * -(1 + c1/cμ) so that C does not decay on average, then limited so that the update keeps C positive definite
 * (sum >= -(1 - c1 - cμ)/(cμ n), given the negative steps are rescaled to Mahalanobis length sqrt(n)) and so that the
 * negative learning rate respects their own μ_eff (sum >= -(1 + 2 μ_eff^- / (μ_eff + 2))). */
static void finalize_negative(double *w, int lambda, int mu, int n, double mueff, double c1, double cmu)
{
    double sneg = sum_range(w, mu, lambda);
    if (!(sneg < 0) || !(cmu > 0))
        return;
    double sq = 0;
    for (int i = mu; i < lambda; i++)
        sq += w[i] * w[i];
    double mueff_neg = sneg * sneg / sq;
    double target = 1 + c1 / cmu;
    double posdef = (1 - c1 - cmu) / (cmu * n);
    double by_mueff = 1 + 2 * mueff_neg / (mueff + 2);
    if (posdef < target)
        target = posdef;
    if (by_mueff < target)
        target = by_mueff;
    scale_range(w, mu, lambda, target / -sneg);
}

int cmaes_params_set(cmaes_params *p, const cmaes_options *o, int lambda)
{
    int n = o->dim;
    double dn = n;
    double *w = malloc(sizeof *w * (size_t)lambda);
    if (!w)
        return CMAES_ERR_NOMEM;
    free(p->weights);
    p->weights = w;
    p->lambda = lambda;
    /* a user μ larger than this run's λ (after a restart only λ grows, so this is the first run) is capped */
    p->mu = o->mu > 0 ? (o->mu < lambda ? o->mu : lambda) : lambda / 2;
    if (p->mu < 1)
        p->mu = 1;
    double mueff = p->mueff = raw_weights(w, lambda, p->mu, o->mu <= 0);

    /* full-covariance rates (pycma: c1 carries min(1, λ/6), cμ the rank-μ offset 0.25 and α_cov = 2) */
    double c1 = fmin(1.0, lambda / 6.0) * 2.0 / ((dn + 1.3) * (dn + 1.3) + mueff);
    double cmu = fmin(1 - c1, 2.0 * (0.25 + mueff + 1 / mueff - 2) / ((dn + 2) * (dn + 2) + mueff));
    if (cmu < 0)
        cmu = 0;
    if (o->active)
        finalize_negative(w, lambda, p->mu, n, mueff, c1, cmu);
    else
        for (int i = p->mu; i < lambda; i++)
            w[i] = 0;
    p->sum_weights = sum_range(w, 0, lambda);

    if (o->variant == CMAES_SEP) {
        /* separable rates (pycma's c1_sep, cmu_sep, cc_sep: Ros & Hansen 2008 with about n times larger rates, since
         * a diagonal has n, not n^2/2, degrees of freedom) */
        double sq = sqrt(dn);
        p->c1 = 1.0 / (dn + 2 * sq + mueff / dn);
        p->cmu = fmin(1 - p->c1, (0.25 + mueff + 1 / mueff - 2) / (dn + 4 * sq + mueff / 2));
        if (p->cmu < 0)
            p->cmu = 0;
        p->cc = (1 + 1 / dn + mueff / dn) / (sq + 1 / dn + 2 * mueff / dn);
    } else {
        p->c1 = c1;
        p->cmu = cmu;
        p->cc = (4 + mueff / dn) / (dn + 4 + 2 * mueff / dn);
    }
    p->cs = (mueff + 2) / (dn + mueff + 3);
    p->damps = 1 + 2 * fmax(0, sqrt((mueff - 1) / (dn + 1)) - 1) + p->cs;
    p->chin = sqrt(dn) * (1 - 1 / (4 * dn) + 1 / (21 * dn * dn));
    p->eigen_gap = o->eigen_gap_factor > 0 && c1 + cmu > 0 ? o->eigen_gap_factor / ((c1 + cmu) * dn) : 0;

    p->use_tpa = lambda >= 4 && (o->step_rule == CMAES_STEP_TPA ||
                                 (o->step_rule == CMAES_STEP_AUTO && o->variant == CMAES_SEP && n > 299));
    p->tpa_damp = 0.7 + log(dn);
    p->hist_len = 10 + (int)ceil(30.0 * dn / lambda);
    p->max_iter = o->max_iter > 0 ? o->max_iter
                                  : 100 + (long)floor(150.0 * (dn + 3) * (dn + 3) / sqrt((double)lambda));
    p->stag_min = 120 + (int)ceil(30.0 * dn / lambda);
    return CMAES_OK;
}

void cmaes_params_free(cmaes_params *p)
{
    free(p->weights);
    p->weights = NULL;
}
