/* test_cmaes_api.c — options validation, call order, injection, status and messages, sampling statistics. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "optim/cmaes.h"

/* Create with o, expect failure `code` and a message containing `needle`. */
static void expect_rejected(const cmaes_options *o, int code, const char *needle)
{
    cmaes *es = (cmaes *)1;
    char err[CMAES_ERRMSG_MAX] = "";
    int rc = cmaes_create(&es, o, err, sizeof err);
    cr_assert_eq(rc, code, "rc %d (%s), wanted %d", rc, err, code);
    cr_assert_null(es);
    cr_assert(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
}

Test(cmaes_api, bad_options_are_rejected_with_the_option_named)
{
    cmaes_options o;
    double x0[3] = {0, NAN, 0}, lo[3] = {0, 0, 1}, hi[3] = {1, 1, 1}, scale[3] = {1, -1, 1};

    cmaes_options_init(&o);
    expect_rejected(&o, CMAES_ERR_OPTION, "dim = 0");
    o.dim = -3;
    expect_rejected(&o, CMAES_ERR_OPTION, "dim = -3");

    cmaes_options_init(&o);
    o.dim = 3;
    o.sigma0 = 0;
    expect_rejected(&o, CMAES_ERR_OPTION, "sigma0 = 0");
    o.sigma0 = -1;
    expect_rejected(&o, CMAES_ERR_OPTION, "sigma0 = -1");
    o.sigma0 = NAN;
    expect_rejected(&o, CMAES_ERR_OPTION, "sigma0 = nan");

    cmaes_options_init(&o);
    o.dim = 3;
    o.popsize = 1;
    expect_rejected(&o, CMAES_ERR_OPTION, "popsize = 1");
    o.popsize = 4;
    o.mu = 5;
    expect_rejected(&o, CMAES_ERR_OPTION, "mu = 5");

    cmaes_options_init(&o);
    o.dim = 3;
    o.x0 = x0;
    expect_rejected(&o, CMAES_ERR_OPTION, "x0[1] = nan");

    cmaes_options_init(&o);
    o.dim = 3;
    o.lower = lo;
    expect_rejected(&o, CMAES_ERR_OPTION, "lower and upper");
    o.upper = hi;
    expect_rejected(&o, CMAES_ERR_OPTION, "bounds[2] = [1, 1]");

    cmaes_options_init(&o);
    o.dim = 3;
    o.sigma0_scale = scale;
    expect_rejected(&o, CMAES_ERR_OPTION, "sigma0_scale[1] = -1");

    cmaes_options_init(&o);
    o.dim = 3;
    o.incpopsize = 1;
    expect_rejected(&o, CMAES_ERR_OPTION, "incpopsize = 1");
    cmaes_options_init(&o);
    o.dim = 3;
    o.variant = (cmaes_variant)7;
    expect_rejected(&o, CMAES_ERR_OPTION, "variant = 7");
    cmaes_options_init(&o);
    o.dim = 3;
    o.noise_max_evals = 0.5;
    expect_rejected(&o, CMAES_ERR_OPTION, "noise_max_evals = 0.5");
    cmaes_options_init(&o);
    o.dim = 3;
    o.ftarget = NAN;
    expect_rejected(&o, CMAES_ERR_OPTION, "ftarget");

    double x0out[3] = {0.5, 2, 0.5}, hi2[3] = {1, 1, 2};
    cmaes_options_init(&o);
    o.dim = 3;
    o.lower = lo;
    o.upper = hi2;
    o.x0 = x0out;
    expect_rejected(&o, CMAES_ERR_OPTION, "x0[1] = 2: outside");

    expect_rejected(NULL, CMAES_ERR_ARG, "NULL");
}

Test(cmaes_api, defaults_and_call_order)
{
    cmaes_options o;
    cmaes_options_init(&o);
    cr_assert_eq(o.sigma0, 1);
    cr_assert_eq(o.max_restarts, 9);
    cr_assert(isinf(o.ftarget) && o.ftarget < 0);
    o.dim = 10;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    cmaes_status st;
    cmaes_get_status(es, &st);
    cr_assert_eq(st.lambda, 10);   /* 4 + floor(3 ln 10) */
    cr_assert_eq(st.mu, 5);
    cr_assert_null(st.best_x);

    double f[64] = {0};
    cr_assert_eq(cmaes_tell(es, f), CMAES_ERR_STATE);
    cr_assert(strstr(cmaes_errmsg(es), "cmaes_ask first") != NULL);
    cmaes_batch a, b;
    cr_assert_eq(cmaes_ask(es, &a), CMAES_OK);
    cr_assert_eq(cmaes_ask(es, &b), CMAES_OK);   /* again before tell: the same batch */
    cr_assert_eq(a.x, b.x);
    cr_assert_eq(a.count, 10);
    cr_assert_eq(a.dim, 10);
    for (int i = 0; i < a.count; i++) {
        double s = 0;
        for (int j = 0; j < 10; j++)
            s += a.x[i * 10 + j] * a.x[i * 10 + j];
        f[i] = s;
    }
    cr_assert_eq(cmaes_tell(es, f), CMAES_OK);
    cr_assert_eq(cmaes_tell(es, f), CMAES_ERR_STATE);
    cmaes_get_status(es, &st);
    cr_assert_eq(st.iteration, 1);
    cr_assert_eq(st.evaluations, 10);
    cr_assert_not_null(st.best_x);
    cr_assert(st.best_f <= f[0] && st.best_f <= f[9]);

    cr_assert_eq(cmaes_ask(es, NULL), CMAES_ERR_ARG);
    cr_assert_eq(cmaes_tell(es, NULL), CMAES_ERR_ARG);
    cmaes_stop_now(es);
    cr_assert_eq(cmaes_ask(es, &a), CMAES_ERR_FINISHED);
    cmaes_get_status(es, &st);
    cr_assert(st.finished);
    cr_assert_eq(st.stop, CMAES_STOP_USER);
    cmaes_free(es);
    cmaes_free(NULL);
}

Test(cmaes_api, names_and_messages)
{
    cr_assert_str_eq(cmaes_stop_name(CMAES_STOP_TOLFUN), "tolfun");
    cr_assert_str_eq(cmaes_stop_name(CMAES_STOP_NOEFFECTAXIS), "noeffectaxis");
    cr_assert_null(cmaes_stop_name(CMAES_STOP_TOLFUN | CMAES_STOP_TOLX));
    cr_assert_null(cmaes_stop_name(1u << 30));
    char buf[64];
    size_t need = cmaes_stop_describe(CMAES_STOP_TOLFUN | CMAES_STOP_TOLX | CMAES_STOP_FTARGET, buf, sizeof buf);
    cr_assert_str_eq(buf, "ftarget,tolfun,tolx");
    cr_assert_eq(need, strlen("ftarget,tolfun,tolx"));
    cr_assert_eq(cmaes_stop_describe(0, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "");
    char small[5];
    cmaes_stop_describe(CMAES_STOP_TOLFUN | CMAES_STOP_TOLX, small, sizeof small);
    cr_assert_str_eq(small, "tolf");   /* truncated, still terminated */
    for (int code = 0; code >= -9; code--)
        cr_assert(strlen(cmaes_strerror(code)) > 0);
    cr_assert_str_eq(cmaes_strerror(42), "unknown error code");
}

Test(cmaes_api, injected_solution_is_evaluated_and_validated)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 4;
    double lo[4] = {-1, -1, -1, -1}, hi[4] = {1, 1, 1, 1};
    o.lower = lo;
    o.upper = hi;
    o.sigma0 = 0.3;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    double good[4] = {0.25, -0.5, 0.75, 0}, bad[4] = {0, 0, 2, 0}, nan[4] = {0, NAN, 0, 0};
    cr_assert_eq(cmaes_inject(es, bad), CMAES_ERR_ARG);
    cr_assert(strstr(cmaes_errmsg(es), "x[2] = 2 outside the bounds") != NULL);
    cr_assert_eq(cmaes_inject(es, nan), CMAES_ERR_ARG);
    cr_assert_eq(cmaes_inject(es, good), CMAES_OK);
    cmaes_batch b;
    cr_assert_eq(cmaes_ask(es, &b), CMAES_OK);
    for (int j = 0; j < 4; j++)   /* the injected point is candidate 0, exactly (up to the bound map's rounding) */
        cr_assert_float_eq(b.x[j], good[j], 1e-12);
    cmaes_free(es);

    o.lower = o.upper = NULL;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    for (int k = 0; k < 64; k++)
        cr_assert_eq(cmaes_inject(es, good), CMAES_OK);
    cr_assert_eq(cmaes_inject(es, good), CMAES_ERR_ARG);   /* the queue holds 64 */
    cmaes_free(es);
}

/* Candidates of one huge generation: their mean must be m and their covariance σ^2 C0 = σ^2 diag(s^2), in every
 * sampling mode (orthogonal and mirrored sets keep each candidate N(m, σ^2 C) distributed). */
static void check_first_generation(cmaes_variant variant, cmaes_sampling sampling)
{
    enum { N = 3, LAMBDA = 60000 };
    double x0[N] = {1, -2, 3}, scale[N] = {1, 2, 0.5};
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = N;
    o.x0 = x0;
    o.sigma0 = 0.5;
    o.sigma0_scale = scale;
    o.popsize = LAMBDA;
    o.variant = variant;
    o.sampling = sampling;
    o.seed = 99;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    cmaes_batch b;
    cr_assert_eq(cmaes_ask(es, &b), CMAES_OK);
    cr_assert_eq(b.count, LAMBDA);
    double mean[N] = {0}, cov[N][N] = {{0}};
    for (int k = 0; k < LAMBDA; k++)
        for (int i = 0; i < N; i++)
            mean[i] += b.x[k * N + i] / LAMBDA;
    for (int k = 0; k < LAMBDA; k++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                cov[i][j] += (b.x[k * N + i] - mean[i]) * (b.x[k * N + j] - mean[j]) / (LAMBDA - 1);
    for (int i = 0; i < N; i++) {
        double sd = 0.5 * scale[i];
        cr_assert(fabs(mean[i] - x0[i]) < 5 * sd / sqrt(LAMBDA), "mean[%d] = %g", i, mean[i]);
        for (int j = 0; j < N; j++) {
            double want = i == j ? sd * sd : 0, tol = 5 * 0.5 * scale[i] * 0.5 * scale[j] * sqrt(2.0 / LAMBDA);
            cr_assert(fabs(cov[i][j] - want) < tol, "cov[%d][%d] = %g, want %g (sampling %d)", i, j, cov[i][j],
                      want, (int)sampling);
        }
    }
    cmaes_free(es);
}

Test(cmaes_api, sampling_statistics)
{
    check_first_generation(CMAES_FULL, CMAES_SAMPLING_IID);
    check_first_generation(CMAES_FULL, CMAES_SAMPLING_AUTO);   /* orthogonal blocks, mirrored since λ > n */
    check_first_generation(CMAES_FULL, CMAES_SAMPLING_ORTHOGONAL);
    check_first_generation(CMAES_SEP, CMAES_SAMPLING_AUTO);
    check_first_generation(CMAES_SEP, CMAES_SAMPLING_IID);
}

Test(cmaes_api, orthogonal_sampling_gives_orthogonal_directions)
{
    enum { N = 8 };
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = N;
    o.popsize = 8;
    o.sampling = CMAES_SAMPLING_ORTHOGONAL;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    cmaes_batch b;
    cmaes_ask(es, &b);
    for (int k = 0; k < 8; k++)
        for (int l = 0; l < k; l++) {
            double dot = 0, nk = 0, nl = 0;
            for (int i = 0; i < N; i++) {
                dot += b.x[k * N + i] * b.x[l * N + i];
                nk += b.x[k * N + i] * b.x[k * N + i];
                nl += b.x[l * N + i] * b.x[l * N + i];
            }
            cr_assert(fabs(dot) < 1e-12 * sqrt(nk * nl), "rows %d %d: cos %g", k, l, dot / sqrt(nk * nl));
        }
    cmaes_free(es);
    o.sampling = CMAES_SAMPLING_MIRRORED;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    cmaes_ask(es, &b);
    for (int k = 0; k < 8; k += 2)
        for (int i = 0; i < N; i++)
            cr_assert_eq(b.x[k * N + i], -b.x[(k + 1) * N + i]);
    cmaes_free(es);
}
