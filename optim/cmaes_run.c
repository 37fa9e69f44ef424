/* cmaes_run.c — starting a run, and what happens when one ends: stop, or restart (IPOP, BIPOP).
 *
 * IPOP (Auger & Hansen 2005): every restart multiplies λ by incpopsize and starts afresh from x0 (or a new uniform x0).
 * BIPOP (Hansen 2009): two regimes share the evaluations. The large regime is IPOP; the small regime runs with
 * λ_s = floor(λ_def · M^(U²)) and σ_s = σ0 · 10^(-2U), U ~ U[0,1], M the multiplier of the next large run (pycma's
 * choice). After each run the regime that has used fewer evaluations so far goes next; the first run counts as large.
 * max_restarts limits the large-regime restarts.
 * Buffers sized by λ are (re)allocated only when a run needs a larger λ than any before.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/cmaes_internal.h"

static int grow(double **p, size_t count)
{
    double *q = realloc(*p, sizeof(double) * (count ? count : 1));
    if (!q)
        return -1;
    *p = q;
    return 0;
}

/* Size the generation buffers for population lambda. */
int cmaes_buffers_alloc(cmaes *es, int lambda)
{
    if (lambda <= es->lambda_cap)
        return CMAES_OK;
    size_t n = (size_t)es->n, lam = (size_t)lambda;
    int evals_max = es->opt.noise_handling ? (int)floor(es->opt.noise_max_evals) : 1;
    if (evals_max < 1)
        evals_max = 1;
    size_t rows = (es->opt.noise_handling ? 2 * lam : lam) * (size_t)evals_max;
    size_t scratch = (rows > 4 * lam ? rows : 4 * lam) + n;
    int *order = realloc(es->order, sizeof(int) * 4 * lam);
    if (order)
        es->order = order;
    unsigned char *inj = realloc(es->injected, lam);
    if (inj)
        es->injected = inj;
    if (!order || !inj || grow(&es->Z, lam * n) || grow(&es->Y, lam * n) || grow(&es->X, lam * n) ||
        grow(&es->W, (lam + 1) * n) || grow(&es->f, lam) || grow(&es->fre, lam) || grow(&es->fsorted, lam) || grow(&es->scratch, scratch) ||
        grow(&es->rows, rows * n) || (es->opt.noise_handling && grow(&es->reev_x, lam * n)))
        return CMAES_ERR_NOMEM;
    es->rows_cap = (int)rows;
    es->lambda_cap = lambda;
    return CMAES_OK;
}

/* The stagnation histories hold at most 20000 generations (Hansen's tutorial), no more than a run can last. */
static int stagnation_alloc(cmaes *es)
{
    long cap = es->par.max_iter < 20000 ? es->par.max_iter : 20000;
    if (cap < 1)
        cap = 1;
    if (cap > es->stag_cap) {
        if (grow(&es->stag_best, (size_t)cap) || grow(&es->stag_median, (size_t)cap) ||
            grow(&es->stag_tmp, (size_t)(0.3 * (double)cap) + 1))
            return CMAES_ERR_NOMEM;
        es->stag_cap = (int)cap;
    }
    return CMAES_OK;
}

static void initial_mean(cmaes *es)
{
    int n = es->n;
    double *x = es->tmp;
    const cmaes_options *o = &es->opt;
    for (int i = 0; i < n; i++) {
        if (o->x0_uniform_lo < o->x0_uniform_hi)
            x[i] = o->x0_uniform_lo + (o->x0_uniform_hi - o->x0_uniform_lo) * pcg_uniform(&es->rng);
        else
            x[i] = es->x0 ? es->x0[i] : 0.0;
    }
    cmaes_to_geno(es, x, es->mean);
}

int cmaes_run_resize(cmaes *es, int lambda)
{
    if (cmaes_params_set(&es->par, &es->opt, lambda) != CMAES_OK || cmaes_buffers_alloc(es, lambda) != CMAES_OK ||
        stagnation_alloc(es) != CMAES_OK || grow(&es->hist_best, (size_t)es->par.hist_len))
        return cmaes_fail(es, CMAES_ERR_NOMEM, "out of memory for a run with popsize %d", lambda);
    return CMAES_OK;
}

int cmaes_run_start(cmaes *es, int lambda, double sigma0)
{
    int n = es->n, rc = cmaes_run_resize(es, lambda);
    if (rc != CMAES_OK)
        return rc;
    initial_mean(es);
    memcpy(es->mean_old, es->mean, sizeof(double) * (size_t)n);
    es->sigma = es->sigma0_run = sigma0;
    for (int i = 0; i < n; i++) {
        es->ps[i] = es->pc[i] = es->dm[i] = 0;
        es->D[i] = es->scale[i];
    }
    if (es->opt.variant == CMAES_SEP) {
        for (int i = 0; i < n; i++)
            es->C[i] = es->scale[i] * es->scale[i];
    } else {
        memset(es->C, 0, sizeof(double) * (size_t)n * (size_t)n);
        memset(es->B, 0, sizeof(double) * (size_t)n * (size_t)n);
        for (int i = 0; i < n; i++) {
            es->C[(size_t)i * n + i] = es->scale[i] * es->scale[i];
            es->B[(size_t)i * n + i] = 1;
        }
    }
    es->eigen_iter = 0;
    es->run_iter = 0;
    es->run_start_evals = es->evals;
    es->tpa_s = 0;
    es->flat_count = es->nonfinite_count = 0;
    es->hist_count = es->hist_pos = 0;
    es->stag_count = es->stag_pos = 0;
    es->pending = 0;
    es->noise_s = 0;
    es->noise_evals = 1;
    es->noise_sigma_factor = 1;
    es->noise_reev_last = 0;
    cmaes_to_pheno(es, es->mean, es->mean_pheno);
    return CMAES_OK;
}

/* Reasons that end the whole optimization rather than the run. */
#define FINAL_REASONS (CMAES_STOP_FTARGET | CMAES_STOP_MAXFEVALS | CMAES_STOP_USER)

#define LAMBDA_MAX 10000000

static int capped_lambda(double lam)
{
    return lam > LAMBDA_MAX ? LAMBDA_MAX : (int)lam;
}

static int ipop_lambda(const cmaes *es, int k)
{
    return capped_lambda(floor(es->lambda_default * pow(es->opt.incpopsize, k)));
}

void cmaes_run_end(cmaes *es, unsigned reasons)
{
    es->stop = reasons;
    long spent = es->evals - es->run_start_evals;
    if (es->small_regime)
        es->evals_small += spent;
    else
        es->evals_large += spent;
    es->finished = 1;
    if ((reasons & FINAL_REASONS) || es->opt.restarts == CMAES_RESTART_NONE)
        return;

    int small = es->opt.restarts == CMAES_RESTART_BIPOP && es->evals_small < es->evals_large;
    if (!small && es->large_runs >= es->opt.max_restarts)
        return;
    int lambda;
    double sigma0 = es->opt.sigma0;
    if (small) {
        double u = pcg_uniform(&es->rng);
        double mult = pow(es->opt.incpopsize, es->large_runs + 1);
        lambda = capped_lambda(floor(es->lambda_default * pow(mult, u * u)));
        sigma0 *= pow(10.0, -2 * u);
    } else {
        es->large_runs++;
        lambda = ipop_lambda(es, es->large_runs);
    }
    if (cmaes_run_start(es, lambda, sigma0) != CMAES_OK)
        return;   /* out of memory: stays finished, the error message says why */
    es->small_regime = small;
    es->restarts++;
    es->finished = 0;
    es->restarted = 1;
    es->restart_reason = reasons;
}
