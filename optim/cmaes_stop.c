/* cmaes_stop.c — termination criteria of a run (Hansen's tutorial, appendix B.3; thresholds as pycma's defaults).
 * Every test is on the state after the update of the generation; none depends on time, so runs are reproducible.
 */
#include <math.h>
#include <string.h>

#include "optim/cmaes_internal.h"

void cmaes_history_add(cmaes *es, double fbest, double fmedian)
{
    int len = es->par.hist_len;
    es->hist_best[es->hist_pos] = fbest;
    es->hist_pos = (es->hist_pos + 1) % len;
    if (es->hist_count < len)
        es->hist_count++;
    es->stag_best[es->stag_pos] = fbest;
    es->stag_median[es->stag_pos] = fmedian;
    es->stag_pos = (es->stag_pos + 1) % es->stag_cap;
    if (es->stag_count < es->stag_cap)
        es->stag_count++;
}

static double hist_range(const cmaes *es)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < es->hist_count; i++) {
        double v = es->hist_best[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return hi - lo;
}

/* Median of the `count` stagnation entries starting `back` generations ago (oldest first). */
static double window_median(cmaes *es, const double *ring, int back, int count)
{
    double *v = es->stag_tmp;
    for (int j = 0; j < count; j++) {
        int pos = (es->stag_pos - back + j) % es->stag_cap;
        v[j] = ring[pos < 0 ? pos + es->stag_cap : pos];
    }
    return cmaes_median(v, count);
}

/* Stagnation (tutorial): over a window of the last 20% of the run's generations, at least stag_min and at most the
 * history length, the median of the most recent 30% of the best and of the median f is not better than that of the
 * first 30%. */
static int stagnated(cmaes *es)
{
    if (es->stag_count < es->par.stag_min)
        return 0;
    long window = (long)(0.2 * (double)es->run_iter);
    if (window < es->par.stag_min)
        window = es->par.stag_min;
    if (window > es->stag_count)
        window = es->stag_count;
    int part = (int)(0.3 * (double)window);
    if (part < 1)
        return 0;
    int w = (int)window;
    return window_median(es, es->stag_best, part, part) >= window_median(es, es->stag_best, w, part) &&
           window_median(es, es->stag_median, part, part) >= window_median(es, es->stag_median, w, part);
}

static int no_effect_axis(const cmaes *es)
{
    int n = es->n;
    int a = (int)(es->run_iter % n);
    if (es->opt.variant != CMAES_FULL)   /* the separable axis a moves coordinate a only */
        return es->mean[a] + 0.1 * es->sigma * es->D[a] == es->mean[a];
    for (int i = 0; i < n; i++) {
        if (es->mean[i] + 0.1 * es->sigma * (es->B[(size_t)a * n + i] * es->D[a]) != es->mean[i])
            return 0;
    }
    return 1;
}

static int no_effect_coord(const cmaes *es)
{
    for (int i = 0; i < es->n; i++) {
        double cii = es->opt.variant == CMAES_FULL ? es->C[(size_t)i * es->n + i] : es->C[i];
        if (es->mean[i] + 0.2 * es->sigma * sqrt(cii) == es->mean[i])
            return 1;
    }
    return 0;
}

static int tolx_reached(const cmaes *es, double tolx)
{
    for (int i = 0; i < es->n; i++) {
        double cii = es->opt.variant == CMAES_FULL ? es->C[(size_t)i * es->n + i] : es->C[i];
        if (!(es->sigma * sqrt(cii) < tolx) || !(es->sigma * fabs(es->pc[i]) < tolx))
            return 0;
    }
    return 1;
}

static void d_range(const cmaes *es, double *dmin, double *dmax)
{
    *dmin = INFINITY;
    *dmax = 0;
    for (int i = 0; i < es->n; i++) {
        double d = es->D[i];
        *dmin = d < *dmin ? d : *dmin;
        *dmax = d > *dmax ? d : *dmax;
    }
}

static int finite_vector(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i] * 0;   /* 0 unless some v[i] is ±Inf or NaN */
    return s == 0;
}

/* The run's stop reasons after this generation (0: go on). fsorted: this generation's f in ascending order. */
unsigned cmaes_check_stop(cmaes *es, const double *fsorted, double fmedian)
{
    const cmaes_options *o = &es->opt;
    const cmaes_params *p = &es->par;
    unsigned stop = 0;
    (void)fmedian;
    if (es->best_f <= o->ftarget)
        stop |= CMAES_STOP_FTARGET;
    if (o->max_fevals > 0 && es->evals >= o->max_fevals)
        stop |= CMAES_STOP_MAXFEVALS;
    if (es->run_iter >= p->max_iter)
        stop |= CMAES_STOP_MAXITER;
    double frange = fsorted[p->lambda - 1] - fsorted[0], hrange = hist_range(es);
    if (o->tolfun > 0 && frange < o->tolfun && hrange < o->tolfun)
        stop |= CMAES_STOP_TOLFUN;
    if (o->tolfunhist > 0 && es->hist_count > 9 && hrange < o->tolfunhist)
        stop |= CMAES_STOP_TOLFUNHIST;
    if (o->tolx > 0 && tolx_reached(es, o->tolx))
        stop |= CMAES_STOP_TOLX;
    double dmin, dmax;
    d_range(es, &dmin, &dmax);
    if (o->tolupsigma > 0 && es->sigma / dmax > es->sigma0_run * o->tolupsigma)
        stop |= CMAES_STOP_TOLUPSIGMA;
    if (o->tolconditioncov > 0 && dmax > dmin * sqrt(o->tolconditioncov))
        stop |= CMAES_STOP_CONDITIONCOV;
    if (o->tolstagnation && stagnated(es))
        stop |= CMAES_STOP_STAGNATION;
    if (no_effect_axis(es))
        stop |= CMAES_STOP_NOEFFECTAXIS;
    if (no_effect_coord(es))
        stop |= CMAES_STOP_NOEFFECTCOORD;
    if (o->tolflatfitness > 0 && es->flat_count >= o->tolflatfitness)
        stop |= CMAES_STOP_FLATFITNESS;
    if (!isfinite(es->sigma) || !(es->sigma > 0) || !(dmin > 0) || !isfinite(dmax) || !finite_vector(es->mean, es->n))
        stop |= CMAES_STOP_NUMERICAL;
    return stop;
}
