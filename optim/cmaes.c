/* cmaes.c — the optimizer object: options, creation, ask, tell, injection and status.
 * The algorithm's parts live in cmaes_params.c (parameters), cmaes_sample.c (a generation), cmaes_update.c (the update),
 * cmaes_eigen.c, cmaes_stop.c, cmaes_run.c (restarts), cmaes_noise.c, cmaes_bounds.c and cmaes_state.c (checkpoints);
 * the error idiom and the shared numeric helpers in cmaes_util.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "optim/cmaes_internal.h"

/* ---- options ---- */

void cmaes_options_init(cmaes_options *o)
{
    memset(o, 0, sizeof *o);
    o->sigma0 = 1;
    o->variant = CMAES_FULL;
    o->active = 1;
    o->step_rule = CMAES_STEP_AUTO;
    o->eigen_gap_factor = 0.5;
    o->restarts = CMAES_RESTART_NONE;
    o->max_restarts = 9;
    o->incpopsize = 2;
    o->noise_epsilon = 1e-7;
    o->noise_max_evals = 1;
    o->ftarget = -INFINITY;
    o->tolfun = 1e-11;
    o->tolfunhist = 1e-12;
    o->tolx = 1e-11;
    o->tolupsigma = 1e20;
    o->tolconditioncov = 1e14;
    o->tolstagnation = 1;
    o->tolflatfitness = 10;
    o->tolnonfinite = 100;
}

#define CHECK(cond, ...)                        \
    do {                                        \
        if (!(cond)) {                          \
            snprintf(msg, len, __VA_ARGS__);    \
            return CMAES_ERR_OPTION;            \
        }                                       \
    } while (0)

static int check_vectors(const cmaes_options *o, char *msg, size_t len)
{
    int n = o->dim;
    CHECK((o->lower == NULL) == (o->upper == NULL), "bounds: lower and upper must be given together (one is NULL)");
    for (int i = 0; i < n; i++) {
        if (o->x0)
            CHECK(isfinite(o->x0[i]), "x0[%d] = %g: must be finite", i, o->x0[i]);
        if (o->sigma0_scale)
            CHECK(isfinite(o->sigma0_scale[i]) && o->sigma0_scale[i] > 0, "sigma0_scale[%d] = %g: must be > 0", i,
                  o->sigma0_scale[i]);
        if (o->lower) {
            double l = o->lower[i], u = o->upper[i];
            CHECK(!isnan(l) && !isnan(u) && l < u && l < INFINITY && u > -INFINITY,
                  "bounds[%d] = [%g, %g]: lower must be < upper", i, l, u);
            if (o->x0 && !(o->x0_uniform_lo < o->x0_uniform_hi))
                CHECK(o->x0[i] >= l && o->x0[i] <= u, "x0[%d] = %g: outside the bounds [%g, %g]", i, o->x0[i], l, u);
        }
    }
    return CMAES_OK;
}

int cmaes_options_check(const cmaes_options *o, char *msg, size_t len)
{
    CHECK(o->dim >= 1, "dim = %d: must be >= 1", o->dim);
    CHECK(o->variant == CMAES_SEP || o->dim <= 46340, "dim = %d: too large for the full variant (n^2 entries); use "
          "variant = CMAES_SEP", o->dim);
    CHECK(o->variant == CMAES_FULL || o->variant == CMAES_SEP, "variant = %d: not a cmaes_variant", (int)o->variant);
    CHECK(isfinite(o->sigma0) && o->sigma0 > 0, "sigma0 = %g: must be > 0 and finite", o->sigma0);
    CHECK(o->popsize == 0 || (o->popsize >= 2 && o->popsize <= 10000000), "popsize = %d: must be >= 2 (or 0 for "
          "the default)", o->popsize);
    int lambda = o->popsize ? o->popsize : cmaes_default_popsize(o->dim);
    CHECK(o->mu >= 0 && o->mu <= lambda, "mu = %d: must be between 1 and popsize = %d (or 0 for the default)", o->mu,
          lambda);
    CHECK(o->active == 0 || o->active == 1, "active = %d: must be 0 or 1", o->active);
    CHECK(o->step_rule >= CMAES_STEP_AUTO && o->step_rule <= CMAES_STEP_TPA, "step_rule = %d: not a cmaes_step_rule",
          (int)o->step_rule);
    CHECK(o->sampling >= CMAES_SAMPLING_AUTO && o->sampling <= CMAES_SAMPLING_MIRRORED,
          "sampling = %d: not a cmaes_sampling", (int)o->sampling);
    CHECK(isfinite(o->eigen_gap_factor) && o->eigen_gap_factor >= 0, "eigen_gap_factor = %g: must be >= 0",
          o->eigen_gap_factor);
    CHECK(o->restarts >= CMAES_RESTART_NONE && o->restarts <= CMAES_RESTART_BIPOP,
          "restarts = %d: not a cmaes_restart_mode", (int)o->restarts);
    CHECK(o->max_restarts >= 0, "max_restarts = %d: must be >= 0", o->max_restarts);
    CHECK(isfinite(o->incpopsize) && o->incpopsize > 1, "incpopsize = %g: must be > 1", o->incpopsize);
    CHECK(o->noise_handling == 0 || o->noise_handling == 1, "noise_handling = %d: must be 0 or 1", o->noise_handling);
    CHECK(isfinite(o->noise_reevals) && o->noise_reevals >= 0, "noise_reevals = %g: must be >= 0", o->noise_reevals);
    CHECK(isfinite(o->noise_epsilon) && o->noise_epsilon >= 0, "noise_epsilon = %g: must be >= 0", o->noise_epsilon);
    CHECK(isfinite(o->noise_max_evals) && o->noise_max_evals >= 1 && o->noise_max_evals <= 1000,
          "noise_max_evals = %g: must be between 1 and 1000", o->noise_max_evals);
    CHECK(isfinite(o->noise_alpha_sigma) && (o->noise_alpha_sigma == 0 || o->noise_alpha_sigma >= 1),
          "noise_alpha_sigma = %g: must be >= 1 (or 0 for the default)", o->noise_alpha_sigma);
    CHECK(isfinite(o->noise_alpha_evals) && (o->noise_alpha_evals == 0 || o->noise_alpha_evals >= 1),
          "noise_alpha_evals = %g: must be >= 1 (or 0 for the default)", o->noise_alpha_evals);
    CHECK(isfinite(o->x0_uniform_lo) && isfinite(o->x0_uniform_hi) && o->x0_uniform_lo <= o->x0_uniform_hi,
          "x0_uniform = [%g, %g]: must be finite with lo <= hi", o->x0_uniform_lo, o->x0_uniform_hi);
    CHECK(!isnan(o->ftarget), "ftarget = nan: must be a number (-INFINITY to switch it off)");
    CHECK(o->max_fevals >= 0, "max_fevals = %ld: must be >= 0", o->max_fevals);
    CHECK(o->max_iter >= 0, "max_iter = %ld: must be >= 0", o->max_iter);
    CHECK(!isnan(o->tolfun) && !isnan(o->tolfunhist) && !isnan(o->tolx) && !isnan(o->tolupsigma) &&
          !isnan(o->tolconditioncov), "a tolerance is nan (use 0 to switch a criterion off)");
    CHECK(o->tolstagnation == 0 || o->tolstagnation == 1, "tolstagnation = %d: must be 0 or 1", o->tolstagnation);
    CHECK(o->tolflatfitness >= 0, "tolflatfitness = %d: must be >= 0", o->tolflatfitness);
    CHECK(o->tolnonfinite >= 0, "tolnonfinite = %d: must be >= 0", o->tolnonfinite);
    return check_vectors(o, msg, len);
}

/* ---- creation ---- */

static double *copy_vector(const double *v, int n)
{
    double *c = malloc(sizeof(double) * (size_t)n);
    if (c)
        memcpy(c, v, sizeof(double) * (size_t)n);
    return c;
}

static int alloc_state(cmaes *es)
{
    size_t n = (size_t)es->n, nn = es->opt.variant == CMAES_FULL ? n * n : n;
    es->mean = calloc(n, sizeof(double));
    es->mean_old = calloc(n, sizeof(double));
    es->ps = calloc(n, sizeof(double));
    es->pc = calloc(n, sizeof(double));
    es->D = calloc(n, sizeof(double));
    es->dm = calloc(n, sizeof(double));
    es->tmp = calloc(2 * n, sizeof(double));
    es->best_x = calloc(n, sizeof(double));
    es->mean_pheno = calloc(n, sizeof(double));
    es->inj = calloc(CMAES_INJECT_MAX * n, sizeof(double));
    es->C = calloc(nn, sizeof(double));
    if (!es->mean || !es->mean_old || !es->ps || !es->pc || !es->D || !es->dm || !es->tmp || !es->best_x ||
        !es->mean_pheno || !es->inj || !es->C)
        return CMAES_ERR_NOMEM;
    if (es->opt.variant == CMAES_SEP)
        return CMAES_OK;
    es->B = calloc(nn, sizeof(double));
    es->eig_a = calloc(nn, sizeof(double));
    es->eig_w = calloc(n, sizeof(double));
    if (!es->B || !es->eig_a || !es->eig_w)
        return CMAES_ERR_NOMEM;
    /* workspace query, once: the decomposition then allocates nothing */
    double wq;
    lapack_int iq;
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', es->n, es->eig_a, es->n, es->eig_w, &wq, -1, &iq, -1) != 0)
        return CMAES_ERR_NUMERIC;
    es->eig_lwork = (int)wq;
    es->eig_liwork = (int)iq;
    es->eig_work = malloc(sizeof(double) * (size_t)es->eig_lwork);
    es->eig_iwork = malloc(sizeof(int) * (size_t)es->eig_liwork);
    return es->eig_work && es->eig_iwork ? CMAES_OK : CMAES_ERR_NOMEM;
}

static void set_errbuf(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf && errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
}

int cmaes_create(cmaes **out, const cmaes_options *opts, char *errbuf, size_t errlen)
{
    char msg[CMAES_ERRMSG_MAX];
    if (!out || !opts) {
        set_errbuf(errbuf, errlen, "cmaes_create: out and opts must not be NULL");
        if (out)
            *out = NULL;
        return CMAES_ERR_ARG;
    }
    *out = NULL;
    int rc = cmaes_options_check(opts, msg, sizeof msg);
    if (rc != CMAES_OK) {
        set_errbuf(errbuf, errlen, msg);
        return rc;
    }
    cmaes *es = calloc(1, sizeof *es);
    if (!es) {
        set_errbuf(errbuf, errlen, "out of memory");
        return CMAES_ERR_NOMEM;
    }
    es->opt = *opts;
    es->n = opts->dim;
    int n = es->n;
    es->x0 = opts->x0 ? copy_vector(opts->x0, n) : NULL;
    es->scale = malloc(sizeof(double) * (size_t)n);
    if (es->scale)
        for (int i = 0; i < n; i++)
            es->scale[i] = opts->sigma0_scale ? opts->sigma0_scale[i] : 1.0;
    if (opts->lower) {
        es->lower = copy_vector(opts->lower, n);
        es->upper = copy_vector(opts->upper, n);
    }
    es->opt.x0 = es->x0;
    es->opt.sigma0_scale = es->scale;
    es->opt.lower = es->lower;
    es->opt.upper = es->upper;
    es->lambda_default = opts->popsize ? opts->popsize : cmaes_default_popsize(n);
    es->best_f = INFINITY;
    pcg_seed(&es->rng, opts->seed, CMAES_RNG_STREAM);
    if ((opts->x0 && !es->x0) || !es->scale || (opts->lower && (!es->lower || !es->upper)) ||
        (rc = alloc_state(es)) != CMAES_OK || (rc = cmaes_run_start(es, es->lambda_default, opts->sigma0)) != CMAES_OK) {
        if (rc == CMAES_OK)
            rc = CMAES_ERR_NOMEM;
        set_errbuf(errbuf, errlen, rc == CMAES_ERR_NUMERIC ? "LAPACK workspace query failed" : "out of memory");
        cmaes_free(es);
        return rc;
    }
    *out = es;
    return CMAES_OK;
}

void cmaes_free(cmaes *es)
{
    if (!es)
        return;
    cmaes_params_free(&es->par);
    double *vectors[] = {es->x0, es->scale, es->lower, es->upper, es->mean, es->mean_old, es->ps, es->pc, es->C, es->B,
                         es->D, es->eig_a, es->eig_w, es->eig_work, es->hist_best, es->stag_best, es->stag_median,
                         es->stag_tmp, es->Z, es->Y, es->X, es->W, es->rows, es->reev_x, es->f, es->fre, es->fsorted, es->scratch,
                         es->dm, es->tmp, es->inj, es->best_x, es->mean_pheno};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        free(vectors[i]);
    free(es->eig_iwork);
    free(es->injected);
    free(es->order);
    free(es);
}

/* ---- ask / tell ---- */

static void fill_batch(const cmaes *es, cmaes_batch *b)
{
    int uses_rows = es->lower || es->evals_per > 1 || es->reev_count > 0;
    b->x = uses_rows ? es->rows : es->X;
    b->count = es->row_count;
    b->dim = es->n;
    b->lambda = es->par.lambda;
}

int cmaes_ask(cmaes *es, cmaes_batch *batch)
{
    if (!es || !batch)
        return es ? cmaes_fail(es, CMAES_ERR_ARG, "cmaes_ask: batch is NULL") : CMAES_ERR_ARG;
    if (es->finished)
        return cmaes_fail(es, CMAES_ERR_FINISHED, "cmaes_ask: the optimization has finished");
    if (!es->pending) {
        while (cmaes_sample(es) != CMAES_OK) {
            /* the covariance could not be repaired: this run ends, a restart may follow */
            cmaes_run_end(es, CMAES_STOP_NUMERICAL);
            if (es->finished)
                return cmaes_fail(es, CMAES_ERR_FINISHED, "cmaes_ask: covariance matrix could not be repaired; "
                                  "optimization finished");
        }
        es->pending = 1;
    }
    fill_batch(es, batch);
    return CMAES_OK;
}

/* Median of the e values of one candidate; NaN and ±Inf count as +Inf. */
static double aggregate(cmaes *es, const double *f, int e, int *nonfinite)
{
    double *v = es->scratch;
    for (int j = 0; j < e; j++) {
        if (isfinite(f[j]))
            v[j] = f[j];
        else {
            v[j] = INFINITY;
            (*nonfinite)++;
        }
    }
    return e == 1 ? v[0] : cmaes_median(v, e);
}

static void note_best(cmaes *es, long evals_before)
{
    int n = es->n;
    for (int k = 0; k < es->par.lambda; k++) {
        if (es->f[k] < es->best_f) {
            es->best_f = es->f[k];
            es->best_eval = evals_before + (long)(k + 1) * es->evals_per;
            cmaes_to_pheno(es, es->X + (size_t)k * n, es->best_x);
        }
    }
}

/* The generation's f range is flat: best equal to the value at rank ceil(0.7 λ) (Hansen's tutorial code). σ is
 * raised so that the next generation sees a difference. */
static void flat_fitness(cmaes *es, const double *fsorted)
{
    int k = (int)ceil(0.7 * es->par.lambda) - 1;
    if (fsorted[0] == fsorted[k]) {
        es->sigma *= exp(0.2 + es->par.cs / es->par.damps);
        es->flat_count++;
        es->flat_last = 1;
    } else {
        es->flat_count = 0;
    }
}

int cmaes_tell(cmaes *es, const double *f)
{
    if (!es || !f)
        return es ? cmaes_fail(es, CMAES_ERR_ARG, "cmaes_tell: f is NULL") : CMAES_ERR_ARG;
    if (!es->pending)
        return cmaes_fail(es, es->finished ? CMAES_ERR_FINISHED : CMAES_ERR_STATE,
                          "cmaes_tell: no batch pending (call cmaes_ask first)");
    int lam = es->par.lambda, e = es->evals_per, nonfinite = 0;
    es->restarted = 0;
    es->restart_reason = 0;
    es->flat_last = 0;
    for (int k = 0; k < lam; k++)
        es->f[k] = aggregate(es, f + (size_t)k * e, e, &nonfinite);
    for (int j = 0; j < es->reev_count; j++)
        es->fre[j] = aggregate(es, f + (size_t)(lam + j) * e, e, &nonfinite);
    long evals_before = es->evals;
    es->evals += es->row_count;
    es->iter++;
    es->run_iter++;
    es->pending = 0;
    es->nonfinite_last = nonfinite;
    es->nonfinite_total += nonfinite;
    note_best(es, evals_before);

    int *order = es->order;
    cmaes_rank(es->f, lam, order, order + 2 * lam);
    double *fsorted = es->fsorted;
    for (int r = 0; r < lam; r++)
        fsorted[r] = es->f[order[r]];
    double fmedian = lam % 2 ? fsorted[lam / 2] : 0.5 * (fsorted[lam / 2 - 1] + fsorted[lam / 2]);

    unsigned stop = 0;
    if (isinf(fsorted[0])) {
        /* no finite value: nothing to learn from; draw again */
        es->nonfinite_count++;
        if (es->opt.tolnonfinite > 0 && es->nonfinite_count >= es->opt.tolnonfinite)
            stop |= CMAES_STOP_NONFINITE;
        if (es->opt.max_fevals > 0 && es->evals >= es->opt.max_fevals)
            stop |= CMAES_STOP_MAXFEVALS;
        if (es->run_iter >= es->par.max_iter)
            stop |= CMAES_STOP_MAXITER;
    } else {
        es->nonfinite_count = 0;
        cmaes_update(es);
        if (es->opt.noise_handling)
            cmaes_noise_update(es);
        flat_fitness(es, fsorted);
        cmaes_history_add(es, fsorted[0], fmedian);
        cmaes_to_pheno(es, es->mean, es->mean_pheno);
        stop = cmaes_check_stop(es, fsorted, fmedian);
    }
    if (stop)
        cmaes_run_end(es, stop);
    return CMAES_OK;
}

int cmaes_inject(cmaes *es, const double *x)
{
    if (!es || !x)
        return es ? cmaes_fail(es, CMAES_ERR_ARG, "cmaes_inject: x is NULL") : CMAES_ERR_ARG;
    if (es->inj_count >= CMAES_INJECT_MAX)
        return cmaes_fail(es, CMAES_ERR_ARG, "cmaes_inject: %d solutions already wait", CMAES_INJECT_MAX);
    for (int i = 0; i < es->n; i++) {
        if (!isfinite(x[i]))
            return cmaes_fail(es, CMAES_ERR_ARG, "cmaes_inject: x[%d] = %g is not finite", i, x[i]);
        if (es->lower && (x[i] < es->lower[i] || x[i] > es->upper[i]))
            return cmaes_fail(es, CMAES_ERR_ARG, "cmaes_inject: x[%d] = %g outside the bounds [%g, %g]", i, x[i],
                              es->lower[i], es->upper[i]);
    }
    cmaes_to_geno(es, x, es->inj + (size_t)es->inj_count * es->n);
    es->inj_count++;
    return CMAES_OK;
}

void cmaes_stop_now(cmaes *es)
{
    if (!es || es->finished)
        return;
    es->pending = 0;
    cmaes_run_end(es, CMAES_STOP_USER);
}

/* ---- status ---- */

void cmaes_get_status(const cmaes *es, cmaes_status *st)
{
    memset(st, 0, sizeof *st);
    int n = es->n;
    st->dim = n;
    st->lambda = es->par.lambda;
    st->mu = es->par.mu;
    st->variant = es->opt.variant;
    st->iteration = es->iter;
    st->evaluations = es->evals;
    st->run_iteration = es->run_iter;
    st->restarts = es->restarts;
    st->finished = es->finished;
    st->stop = es->stop;
    st->mean = es->mean_pheno;
    st->sigma = es->sigma;
    st->min_std = INFINITY;
    double dmin = INFINITY, dmax = 0;
    for (int i = 0; i < n; i++) {
        double cii = es->opt.variant == CMAES_FULL ? es->C[(size_t)i * n + i] : es->C[i];
        double s = es->sigma * sqrt(cii);
        st->min_std = fmin(st->min_std, s);
        st->max_std = fmax(st->max_std, s);
        dmin = fmin(dmin, es->D[i]);
        dmax = fmax(dmax, es->D[i]);
    }
    st->axis_ratio = dmax / dmin;
    st->best_x = isfinite(es->best_f) ? es->best_x : NULL;
    st->best_f = es->best_f;
    st->best_evaluation = es->best_eval;
    st->restarted = es->restarted;
    st->restart_reason = es->restart_reason;
    st->flat_fitness = es->flat_last;
    st->nonfinite = es->nonfinite_last;
    st->nonfinite_total = es->nonfinite_total;
    st->repairs = es->repairs;
    if (es->opt.noise_handling) {
        st->noise_level = es->noise_s;
        st->evals_per_candidate = es->noise_evals;
        st->noise_sigma_factor = es->noise_sigma_factor;
        st->reevaluations = es->noise_reev_last;
    }
}

void cmaes_stds(const cmaes *es, double *out)
{
    int n = es->n;
    for (int i = 0; i < n; i++)
        out[i] = es->sigma * sqrt(es->opt.variant == CMAES_FULL ? es->C[(size_t)i * n + i] : es->C[i]);
}

static const char *const stop_names[] = {
    "ftarget", "maxfevals", "maxiter", "tolfun", "tolfunhist", "tolx", "tolupsigma", "stagnation",
    "conditioncov", "noeffectaxis", "noeffectcoord", "flatfitness", "numerical", "nonfinite", "user"};

const char *cmaes_stop_name(unsigned bit)
{
    for (unsigned i = 0; i < sizeof stop_names / sizeof stop_names[0]; i++)
        if (bit == 1u << i)
            return stop_names[i];
    return NULL;
}

size_t cmaes_stop_describe(unsigned stop, char *buf, size_t len)
{
    size_t used = 0;
    if (buf && len)
        buf[0] = '\0';
    for (unsigned i = 0; i < sizeof stop_names / sizeof stop_names[0]; i++) {
        if (!(stop & (1u << i)))
            continue;
        int w = snprintf(buf && used < len ? buf + used : NULL, buf && used < len ? len - used : 0, "%s%s",
                         used ? "," : "", stop_names[i]);
        used += (size_t)w;
    }
    return used;
}
