/* test_cmaes_stop.c — every termination reason is reachable; restarts change λ as specified and are reported; noise
 * handling measures noise and reacts through ask/tell. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "optim/cmaes.h"

typedef double (*objective)(const double *x, int n, void *ctx);

static double sphere(const double *x, int n, void *ctx)
{
    (void)ctx;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

static double linear(const double *x, int n, void *ctx)
{
    (void)n, (void)ctx;
    return x[0];
}

static double minus_l1(const double *x, int n, void *ctx)
{
    (void)ctx;
    double s = 0;
    for (int i = 0; i < n; i++)
        s -= fabs(x[i]);
    return s;
}

static double constant(const double *x, int n, void *ctx)
{
    (void)x, (void)n, (void)ctx;
    return 1;
}

static double not_a_number(const double *x, int n, void *ctx)
{
    (void)x, (void)n, (void)ctx;
    return NAN;
}

static double random_value(const double *x, int n, void *ctx)
{
    (void)x, (void)n;
    return pcg_uniform(ctx);
}

static double ill_conditioned(const double *x, int n, void *ctx)
{
    (void)ctx;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += pow(1e10, (double)i / (n - 1)) * x[i] * x[i];
    return s;
}

/* Options with every criterion off, so that a test switches on the one it wants. */
static void quiet_options(cmaes_options *o, int n)
{
    cmaes_options_init(o);
    o->dim = n;
    o->tolfun = o->tolfunhist = o->tolx = o->tolupsigma = o->tolconditioncov = 0;
    o->tolstagnation = 0;
    o->tolflatfitness = 0;
    o->tolnonfinite = 0;
    o->max_iter = 100000;
}

/* Run until finished or `limit` generations; returns the final stop bits. */
static unsigned run(const cmaes_options *o, objective f, void *ctx, long limit, cmaes_status *st)
{
    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    cr_assert_eq(cmaes_create(&es, o, err, sizeof err), CMAES_OK, "%s", err);
    static double fv[8192];
    cmaes_batch b;
    for (long g = 0; g < limit && cmaes_ask(es, &b) == CMAES_OK; g++) {
        for (int i = 0; i < b.count; i++)
            fv[i] = f(b.x + (size_t)i * b.dim, b.dim, ctx);
        cr_assert_eq(cmaes_tell(es, fv), CMAES_OK);
    }
    cmaes_get_status(es, st);
    unsigned stop = st->finished ? st->stop : 0;
    st->mean = st->best_x = NULL;   /* they die with es */
    cmaes_free(es);
    return stop;
}

static void expect_stop(const cmaes_options *o, objective f, void *ctx, unsigned want)
{
    cmaes_status st;
    unsigned stop = run(o, f, ctx, 20000, &st);
    char got[256];
    cmaes_stop_describe(stop, got, sizeof got);
    cr_assert(stop & want, "wanted %s, got '%s' after %ld generations", cmaes_stop_name(want), got, st.iteration);
}

Test(cmaes_stop, every_reason_is_reachable)
{
    cmaes_options o;
    double far[3] = {1e8, 1e8, 1e8};

    quiet_options(&o, 3);
    o.ftarget = 1e-6;
    expect_stop(&o, sphere, NULL, CMAES_STOP_FTARGET);

    quiet_options(&o, 3);
    o.max_fevals = 100;
    expect_stop(&o, sphere, NULL, CMAES_STOP_MAXFEVALS);

    quiet_options(&o, 3);
    o.max_iter = 7;
    expect_stop(&o, sphere, NULL, CMAES_STOP_MAXITER);

    quiet_options(&o, 3);
    o.tolfun = 1e-8;
    expect_stop(&o, sphere, NULL, CMAES_STOP_TOLFUN);

    quiet_options(&o, 3);
    o.tolfunhist = 1e-8;
    expect_stop(&o, sphere, NULL, CMAES_STOP_TOLFUNHIST);

    quiet_options(&o, 3);
    o.tolx = 1e-6;
    expect_stop(&o, sphere, NULL, CMAES_STOP_TOLX);

    quiet_options(&o, 3);
    o.tolupsigma = 1e6;
    expect_stop(&o, linear, NULL, CMAES_STOP_TOLUPSIGMA);

    pcg_rng rng;
    pcg_seed(&rng, 1, 1);
    quiet_options(&o, 2);
    o.tolstagnation = 1;
    expect_stop(&o, random_value, &rng, CMAES_STOP_STAGNATION);

    quiet_options(&o, 4);
    o.tolconditioncov = 1e6;
    expect_stop(&o, ill_conditioned, NULL, CMAES_STOP_CONDITIONCOV);

    quiet_options(&o, 3);   /* steps far below the resolution of doubles around 1e8 */
    o.x0 = far;
    o.sigma0 = 1e-12;
    expect_stop(&o, sphere, NULL, CMAES_STOP_NOEFFECTAXIS);
    expect_stop(&o, sphere, NULL, CMAES_STOP_NOEFFECTCOORD);
    o.variant = CMAES_SEP;
    expect_stop(&o, sphere, NULL, CMAES_STOP_NOEFFECTAXIS);

    quiet_options(&o, 3);
    o.tolflatfitness = 4;
    expect_stop(&o, constant, NULL, CMAES_STOP_FLATFITNESS);

    quiet_options(&o, 3);
    o.tolnonfinite = 5;
    expect_stop(&o, not_a_number, NULL, CMAES_STOP_NONFINITE);

    /* a variance below the smallest double: C_00 = (1e-300)^2 underflows to 0, the distribution is degenerate */
    double tiny[3] = {1e-300, 1, 1};
    quiet_options(&o, 3);
    o.sigma0_scale = tiny;
    expect_stop(&o, sphere, NULL, CMAES_STOP_NOEFFECTCOORD);   /* full: seen as a coordinate without effect */
    o.variant = CMAES_SEP;
    expect_stop(&o, sphere, NULL, CMAES_STOP_NUMERICAL);       /* sep: D_0 = sqrt(C_00) = 0 */

    /* divergence beyond the range of doubles: f overflows, ranks last, the state stays finite and a criterion ends
     * the run */
    quiet_options(&o, 2);
    o.sigma0 = 1e300;
    cmaes_status st;
    cr_assert_neq(run(&o, minus_l1, NULL, 5000, &st), 0);
    cr_assert(isfinite(st.sigma));
}

Test(cmaes_stop, flat_fitness_is_reported_and_raises_sigma)
{
    cmaes_options o;
    quiet_options(&o, 3);
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    cmaes_batch b;
    cmaes_ask(es, &b);
    double f[16];
    for (int i = 0; i < b.count; i++)
        f[i] = 5;
    cmaes_tell(es, f);
    cmaes_status st;
    cmaes_get_status(es, &st);
    cr_assert(st.flat_fitness);
    cr_assert(st.sigma > 1.2, "sigma %g", st.sigma);
    cr_assert(!st.finished);
    cmaes_free(es);
}

Test(cmaes_stop, defaults_end_a_converged_run)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 4;
    cmaes_status st;
    unsigned stop = run(&o, sphere, NULL, 100000, &st);
    cr_assert(stop & (CMAES_STOP_TOLFUN | CMAES_STOP_TOLX | CMAES_STOP_TOLFUNHIST), "stop %u", stop);
    cr_assert(st.best_f < 1e-15, "best %g", st.best_f);
}

/* IPOP: every run ends by max_iter here; λ doubles per restart up to max_restarts, each restart is reported. */
Test(cmaes_stop, ipop_doubles_lambda)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 5;
    o.restarts = CMAES_RESTART_IPOP;
    o.max_iter = 10;
    o.max_restarts = 4;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    int lambda0 = 4 + (int)floor(3 * log(5.0)), seen = 0, expect_lambda = lambda0;
    static double fv[1024];
    cmaes_batch b;
    while (cmaes_ask(es, &b) == CMAES_OK) {
        cr_assert_eq(b.lambda, expect_lambda);
        for (int i = 0; i < b.count; i++)
            fv[i] = sphere(b.x + i * 5, 5, NULL);
        cmaes_tell(es, fv);
        cmaes_status st;
        cmaes_get_status(es, &st);
        if (st.restarted) {
            seen++;
            expect_lambda *= 2;
            cr_assert_eq(st.lambda, expect_lambda);
            cr_assert_eq(st.restart_reason, CMAES_STOP_MAXITER);
            cr_assert_eq(st.restarts, seen);
            cr_assert_eq(st.run_iteration, 0);
        }
    }
    cr_assert_eq(seen, 4);
    cmaes_status st;
    cmaes_get_status(es, &st);
    cr_assert(st.finished);
    cr_assert_eq(st.iteration, 50);
    cmaes_free(es);
}

/* BIPOP: large-regime runs double λ; small-regime runs have default <= λ <= the next large λ and a smaller σ0; the
 * regime with fewer evaluations goes next. */
Test(cmaes_stop, bipop_alternates_regimes)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 5;
    o.restarts = CMAES_RESTART_BIPOP;
    o.max_iter = 10;
    o.max_restarts = 3;
    o.seed = 4;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    int lambda0 = 4 + (int)floor(3 * log(5.0)), large = 0, small = 0;
    static double fv[1024];
    cmaes_batch b;
    while (cmaes_ask(es, &b) == CMAES_OK) {
        for (int i = 0; i < b.count; i++)
            fv[i] = sphere(b.x + i * 5, 5, NULL);
        cmaes_tell(es, fv);
        cmaes_status st;
        cmaes_get_status(es, &st);
        if (!st.restarted)
            continue;
        if (st.lambda == lambda0 << (large + 1) && st.sigma == 1) {
            large++;
        } else {
            small++;
            cr_assert(st.lambda >= lambda0 && st.lambda <= lambda0 << (large + 1), "small λ %d", st.lambda);
            cr_assert(st.sigma <= 1, "small σ0 %g", st.sigma);
        }
    }
    cr_assert_eq(large, 3);
    cr_assert(small >= 2, "small runs %d", small);
    cmaes_free(es);
}

Test(cmaes_stop, final_reasons_do_not_restart)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 3;
    o.restarts = CMAES_RESTART_IPOP;
    o.ftarget = 1e-4;
    cmaes_status st;
    unsigned stop = run(&o, sphere, NULL, 100000, &st);
    cr_assert_eq(stop, CMAES_STOP_FTARGET);
    cr_assert_eq(st.restarts, 0);
}

/* Noise: f (1 + 0.5 N(0,1)) on a sphere far from the optimum: the ranking is mostly noise. Noise handling re-evaluates
 * candidates (extra rows), sees s > 0, raises σ and the evaluations per candidate. Without noise: s < 0. */
static double noisy_sphere(const double *x, int n, void *ctx)
{
    return sphere(x, n, NULL) * (1 + 0.5 * pcg_normal(ctx));
}

Test(cmaes_stop, noise_handling_through_ask_and_tell)
{
    enum { N = 10 };
    double x0[N];
    for (int i = 0; i < N; i++)
        x0[i] = 1;
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = N;
    o.x0 = x0;
    o.sigma0 = 0.1;
    o.noise_handling = 1;
    o.noise_max_evals = 5;
    pcg_rng rng;
    pcg_seed(&rng, 2, 2);
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    static double fv[1024];
    cmaes_batch b;
    cmaes_status st;
    double max_level = -INFINITY, max_evals = 0;
    int raised = 0;
    for (int g = 0; g < 60 && cmaes_ask(es, &b) == CMAES_OK; g++) {
        cr_assert(b.count > b.lambda, "re-evaluation rows expected");
        for (int i = 0; i < b.count; i++)
            fv[i] = noisy_sphere(b.x + i * N, N, &rng);
        cmaes_tell(es, fv);
        cmaes_get_status(es, &st);
        cr_assert(st.reevaluations >= 2);
        max_level = fmax(max_level, st.noise_level);
        max_evals = fmax(max_evals, st.evals_per_candidate);
        raised += st.noise_sigma_factor > 1;
    }
    cr_assert(max_level > 0, "noise level %g", max_level);
    cr_assert(raised > 10, "σ raised %d times", raised);
    cr_assert(max_evals > 1.5, "evaluations per candidate %g", max_evals);
    cmaes_free(es);

    /* a noise-free function: the measure stays negative */
    o.sigma0 = 0.5;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    for (int g = 0; g < 40 && cmaes_ask(es, &b) == CMAES_OK; g++) {
        for (int i = 0; i < b.count; i++)
            fv[i] = sphere(b.x + i * N, N, NULL);
        cmaes_tell(es, fv);
    }
    cmaes_get_status(es, &st);
    cr_assert(st.noise_level < 0, "noise level %g on a noise-free sphere", st.noise_level);
    cr_assert_eq(st.evals_per_candidate, 1);
    cmaes_free(es);
}
