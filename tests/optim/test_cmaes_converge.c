/* test_cmaes_converge.c — every variant converges on sphere and ellipsoid in small dimension; bounds; reproducibility;
 * NaN/Inf handling. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "optim/cmaes.h"

static double sphere(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

static double ellipsoid(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += pow(1e6, (double)i / (n - 1)) * x[i] * x[i];
    return s;
}

typedef double (*objective)(const double *x, int n);

/* Run to the end; returns the best f and fills *st (its pointers are redirected to copies that outlive the run). */
static double best_copy[16], mean_copy[16];

static double run(const cmaes_options *o, objective f, cmaes_status *st)
{
    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    cr_assert_eq(cmaes_create(&es, o, err, sizeof err), CMAES_OK, "%s", err);
    static double fv[4096];
    cmaes_batch b;
    while (cmaes_ask(es, &b) == CMAES_OK) {
        for (int i = 0; i < b.count; i++)
            fv[i] = f(b.x + (size_t)i * b.dim, b.dim);
        cr_assert_eq(cmaes_tell(es, fv), CMAES_OK);
    }
    cmaes_get_status(es, st);
    double best = st->best_f;
    memcpy(best_copy, st->best_x, sizeof(double) * (size_t)st->dim);
    memcpy(mean_copy, st->mean, sizeof(double) * (size_t)st->dim);
    st->best_x = best_copy;
    st->mean = mean_copy;
    cmaes_free(es);
    return best;
}

static void converges(cmaes_variant v, cmaes_step_rule rule, cmaes_sampling s, objective f, int n, long budget)
{
    double x0[16];
    for (int i = 0; i < n; i++)
        x0[i] = 1;
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = n;
    o.x0 = x0;
    o.sigma0 = 0.5;
    o.variant = v;
    o.step_rule = rule;
    o.sampling = s;
    o.seed = 3;
    o.ftarget = 1e-10;
    o.max_fevals = budget;
    cmaes_status st;
    double best = run(&o, f, &st);
    cr_assert(best <= 1e-10, "variant %d rule %d sampling %d: best %g after %ld evaluations (stop %u)", (int)v,
              (int)rule, (int)s, best, st.evaluations, st.stop);
    cr_assert_eq(st.stop, CMAES_STOP_FTARGET);
}

Test(cmaes_converge, full_variant)
{
    converges(CMAES_FULL, CMAES_STEP_AUTO, CMAES_SAMPLING_AUTO, sphere, 8, 3000);
    converges(CMAES_FULL, CMAES_STEP_AUTO, CMAES_SAMPLING_AUTO, ellipsoid, 8, 8000);
    converges(CMAES_FULL, CMAES_STEP_AUTO, CMAES_SAMPLING_IID, ellipsoid, 8, 8000);
    converges(CMAES_FULL, CMAES_STEP_TPA, CMAES_SAMPLING_AUTO, ellipsoid, 8, 10000);
}

Test(cmaes_converge, separable_variant)
{
    /* the ellipsoid is separable: sep-CMA learns its scaling faster than the full variant */
    converges(CMAES_SEP, CMAES_STEP_AUTO, CMAES_SAMPLING_AUTO, sphere, 8, 3000);
    converges(CMAES_SEP, CMAES_STEP_AUTO, CMAES_SAMPLING_AUTO, ellipsoid, 8, 6000);
    converges(CMAES_SEP, CMAES_STEP_TPA, CMAES_SAMPLING_IID, ellipsoid, 8, 8000);
}

Test(cmaes_converge, active_off_and_user_mu)
{
    double x0[6] = {1, 1, 1, 1, 1, 1};
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 6;
    o.x0 = x0;
    o.active = 0;
    o.popsize = 12;
    o.mu = 3;
    o.ftarget = 1e-10;
    o.max_fevals = 10000;
    cmaes_status st;
    cr_assert(run(&o, ellipsoid, &st) <= 1e-10);
    cr_assert_eq(st.mu, 3);
}

/* f is minimal at x = 2 in every coordinate, outside the box [-1, 1.5]: the optimizer must stay inside and end on the
 * bound; with the optimum inside, bounds must not get in the way. */
static double shifted(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (x[i] - 2) * (x[i] - 2);
    return s;
}

Test(cmaes_converge, bounds_are_respected)
{
    enum { N = 5 };
    double lo[N], hi[N], x0[N];
    for (int i = 0; i < N; i++) {
        lo[i] = -1;
        hi[i] = 1.5;
        x0[i] = 0;
    }
    hi[4] = INFINITY;   /* one open side: that coordinate reaches 2 */
    for (int variant = 0; variant < 2; variant++) {
        cmaes_options o;
        cmaes_options_init(&o);
        o.dim = N;
        o.x0 = x0;
        o.lower = lo;
        o.upper = hi;
        o.sigma0 = 3;   /* wide: many candidates fall outside before the transformation */
        o.variant = (cmaes_variant)variant;
        o.max_fevals = 6000;
        cmaes *es;
        cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
        double fv[64];
        cmaes_batch b;
        while (cmaes_ask(es, &b) == CMAES_OK) {
            for (int k = 0; k < b.count; k++) {
                for (int i = 0; i < N; i++)
                    cr_assert(b.x[k * N + i] >= lo[i] && b.x[k * N + i] <= hi[i], "x[%d] = %g", i, b.x[k * N + i]);
                fv[k] = shifted(b.x + k * N, N);
            }
            cmaes_tell(es, fv);
        }
        cmaes_status st;
        cmaes_get_status(es, &st);
        for (int i = 0; i < 4; i++) {
            cr_assert(fabs(st.best_x[i] - 1.5) < 1e-4, "best_x[%d] = %g", i, st.best_x[i]);
            cr_assert(st.mean[i] >= lo[i] && st.mean[i] <= hi[i]);
        }
        cr_assert(fabs(st.best_x[4] - 2) < 1e-4, "best_x[4] = %g", st.best_x[4]);
        cmaes_free(es);
    }
}

Test(cmaes_converge, same_seed_same_run_other_seed_other_run)
{
    double x0[5] = {1, 2, 3, 4, 5};
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 5;
    o.x0 = x0;
    o.seed = 0;   /* zero is a seed like any other */
    o.max_fevals = 500;
    for (int variant = 0; variant < 2; variant++) {
        o.variant = (cmaes_variant)variant;
        cmaes_status a, b, c;
        double fa = run(&o, ellipsoid, &a), fb = run(&o, ellipsoid, &b);
        cr_assert_eq(fa, fb);
        cr_assert_eq(a.evaluations, b.evaluations);
        cr_assert_eq(a.sigma, b.sigma);
        o.seed = 1;
        double fc = run(&o, ellipsoid, &c);
        cr_assert_neq(fa, fc);
        o.seed = 0;
    }
}

/* NaN for a third of the candidates (by a hash of x), +Inf for a few: ranked last, counted, and CMA-ES still
 * converges. */
static long nan_calls;
static double sometimes_nan(const double *x, int n)
{
    uint64_t h;
    memcpy(&h, &x[0], sizeof h);
    h *= 0x9E3779B97F4A7C15ULL;
    nan_calls++;
    if ((h >> 60) < 5)
        return NAN;
    if ((h >> 60) == 5)
        return INFINITY;
    if ((h >> 60) == 6)
        return -INFINITY;
    return sphere(x, n);
}

Test(cmaes_converge, nan_and_inf_rank_last_and_are_counted)
{
    double x0[6] = {1, 1, 1, 1, 1, 1};
    for (int variant = 0; variant < 2; variant++) {
        cmaes_options o;
        cmaes_options_init(&o);
        o.dim = 6;
        o.x0 = x0;
        o.variant = (cmaes_variant)variant;
        o.ftarget = 1e-10;
        o.max_fevals = 20000;
        cmaes_status st;
        double best = run(&o, sometimes_nan, &st);
        cr_assert(best <= 1e-10, "best %g", best);
        cr_assert(isfinite(best));
        cr_assert(st.nonfinite_total > st.evaluations / 4, "nonfinite %ld of %ld", st.nonfinite_total,
                  st.evaluations);
        cr_assert(isfinite(st.sigma) && isfinite(st.mean[0]));
    }
}
