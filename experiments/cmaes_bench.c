/* cmaes_bench.c — `cmaes-bench`: runs the CMA-ES reference protocol (../shared/reference/cmaes-reference.md) on the
 * optim/ library and prints one JSON object per line.
 *
 *   cmaes-bench --func NAME --dim N --seeds A-B [--variant full|sep] [--restarts none|ipop|bipop]
 *               [--x0 V | --x0-uniform LO,HI] [--sigma0 S] [--popsize L] [--target T] [--max-evals M] [--noise EPS]
 *               [--noise-handling] [--step auto|csa|tpa] [--eigen-gap G] [--sampling auto|iid|orthogonal|mirrored]
 *               [--noise-alpha-sigma A] [--noise-max-evals K]
 *       per seed:  {"func":..,"dim":..,"seed":..,"variant":..,"restarts":..,"evals":..,"best_f":..,"success":..,"stop":..}
 *       then:      {"summary":true,"func":..,"dim":..,"variant":..,"runs":..,"successes":..,"median_evals":..,
 *                   "mean_evals":..}   (over the successful runs; null when there are none)
 *   cmaes-bench --overhead --dim N --popsize L --iters K --variant full|sep
 *       {"overhead":true,"variant":..,"dim":..,"popsize":..,"iters":..,"ms_per_iter":..}
 *       (median of 5 repetitions, time of ask + tell only, sphere as the trivial objective)
 *
 * Counting follows the protocol: the bench evaluates the rows of each batch in order and counts every evaluation; a run
 * succeeds at the first evaluated f < target, and `evals` is that evaluation's number (all evaluations otherwise).
 * --max-evals M stops after exactly M evaluations. Defaults: x0 = 3 (all coordinates), σ0 = 2, target 1e-8, full,
 * no restarts, no evaluation limit.
 * With --noise EPS the optimizer sees f (1 + EPS N(0,1)) (noise from its own PCG stream of the seed); success and best_f
 * then use the true f of the distribution mean after each generation, and best_f is that of the last mean.
 * Without noise best_f is the best f evaluated.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optim/cmaes.h"

#define PI 3.14159265358979323846
#define NOISE_STREAM 0x6e6f697365ULL   /* the bench's noise, independent of the optimizer's stream */

typedef double (*objective)(const double *x, int n);

static double f_sphere(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

static double exponent(int i, int n, double top)
{
    return n > 1 ? top * i / (n - 1) : 0;
}

static double f_ellipsoid(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += pow(10, exponent(i, n, 6)) * x[i] * x[i];
    return s;
}

static double f_cigar(const double *x, int n)
{
    double s = 0;
    for (int i = 1; i < n; i++)
        s += x[i] * x[i];
    return x[0] * x[0] + 1e6 * s;
}

static double f_discus(const double *x, int n)
{
    double s = 0;
    for (int i = 1; i < n; i++)
        s += x[i] * x[i];
    return 1e6 * x[0] * x[0] + s;
}

static double f_diffpow(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += pow(fabs(x[i]), 2 + exponent(i, n, 4));
    return sqrt(s);
}

static double f_rosenbrock(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n - 1; i++) {
        double a = x[i] * x[i] - x[i + 1], b = x[i] - 1;
        s += 100 * a * a + b * b;
    }
    return s;
}

static double f_rastrigin(const double *x, int n)
{
    double s = 10.0 * n;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i] - 10 * cos(2 * PI * x[i]);
    return s;
}

static const struct {
    const char *name;
    objective f;
} functions[] = {
    {"sphere", f_sphere}, {"ellipsoid", f_ellipsoid}, {"cigar", f_cigar}, {"discus", f_discus},
    {"diffpow", f_diffpow}, {"rosenbrock", f_rosenbrock}, {"rastrigin", f_rastrigin},
};

typedef struct bench_args {
    const char *func;
    objective f;
    int dim, seed_lo, seed_hi, popsize, overhead, iters, noise_handling, restarts_set;
    cmaes_variant variant;
    cmaes_restart_mode restarts;
    cmaes_step_rule step;
    cmaes_sampling sampling;
    double x0, x0_lo, x0_hi, sigma0, target, noise, eigen_gap, noise_alpha_sigma, noise_max_evals;
    long max_evals;
} bench_args;

static void usage(void)
{
    fprintf(stderr,
            "usage: cmaes-bench --func NAME --dim N --seeds A-B [--variant full|sep] [--restarts none|ipop|bipop]\n"
            "                   [--x0 V | --x0-uniform LO,HI] [--sigma0 S] [--popsize L] [--target T]\n"
            "                   [--max-evals M] [--noise EPS] [--noise-handling] [--step auto|csa|tpa] [--eigen-gap G]\n"
            "                   [--sampling auto|iid|orthogonal|mirrored] [--noise-alpha-sigma A] [--noise-max-evals K]\n"
            "       cmaes-bench --overhead --dim N --popsize L --iters K --variant full|sep\n"
            "functions: sphere ellipsoid cigar discus diffpow rosenbrock rastrigin\n");
}

static int bad(const char *opt, const char *value)
{
    fprintf(stderr, "cmaes-bench: bad value '%s' for %s\n", value ? value : "(missing)", opt);
    usage();
    return 1;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    if (!s)
        return -1;
    *out = strtod(s, &end);
    return *end || end == s ? -1 : 0;
}

static int parse_choice(const char *s, const char *const *names, int count, int *out)
{
    for (int i = 0; s && i < count; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

/* Parse the option at argv[*i]; 0 on success, 1 after printing an error. */
static int parse_one(bench_args *a, int argc, char **argv, int *i)
{
    static const char *const variants[] = {"full", "sep"}, *const restarts[] = {"none", "ipop", "bipop"},
                             *const steps[] = {"auto", "csa", "tpa"},
                             *const samplings[] = {"auto", "iid", "orthogonal", "mirrored"};
    const char *opt = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    double v;
    int c;
    if (!strcmp(opt, "--overhead")) {
        a->overhead = 1;
        return 0;
    }
    if (!strcmp(opt, "--noise-handling")) {
        a->noise_handling = 1;
        return 0;
    }
    (*i)++;
    if (!strcmp(opt, "--func")) {
        for (size_t k = 0; val && k < sizeof functions / sizeof functions[0]; k++)
            if (!strcmp(val, functions[k].name)) {
                a->func = functions[k].name;
                a->f = functions[k].f;
            }
        return a->f ? 0 : bad(opt, val);
    }
    if (!strcmp(opt, "--seeds")) {
        if (!val || sscanf(val, "%d-%d", &a->seed_lo, &a->seed_hi) != 2 || a->seed_lo > a->seed_hi)
            return bad(opt, val);
        return 0;
    }
    if (!strcmp(opt, "--x0-uniform")) {
        if (!val || sscanf(val, "%lf,%lf", &a->x0_lo, &a->x0_hi) != 2 || !(a->x0_lo < a->x0_hi))
            return bad(opt, val);
        return 0;
    }
    if (!strcmp(opt, "--variant"))
        return parse_choice(val, variants, 2, &c) ? bad(opt, val) : (a->variant = (cmaes_variant)c, 0);
    if (!strcmp(opt, "--restarts"))
        return parse_choice(val, restarts, 3, &c) ? bad(opt, val) : (a->restarts = (cmaes_restart_mode)c, 0);
    if (!strcmp(opt, "--step"))
        return parse_choice(val, steps, 3, &c) ? bad(opt, val) : (a->step = (cmaes_step_rule)c, 0);
    if (!strcmp(opt, "--sampling"))
        return parse_choice(val, samplings, 4, &c) ? bad(opt, val) : (a->sampling = (cmaes_sampling)c, 0);
    if (parse_number(val, &v))
        return bad(opt, val);
    if (!strcmp(opt, "--dim") && v >= 1 && v == floor(v))
        a->dim = (int)v;
    else if (!strcmp(opt, "--popsize") && v >= 2 && v == floor(v))
        a->popsize = (int)v;
    else if (!strcmp(opt, "--iters") && v >= 1 && v == floor(v))
        a->iters = (int)v;
    else if (!strcmp(opt, "--max-evals") && v >= 1 && v == floor(v))
        a->max_evals = (long)v;
    else if (!strcmp(opt, "--x0"))
        a->x0 = v;
    else if (!strcmp(opt, "--sigma0") && v > 0)
        a->sigma0 = v;
    else if (!strcmp(opt, "--target"))
        a->target = v;
    else if (!strcmp(opt, "--noise") && v >= 0)
        a->noise = v;
    else if (!strcmp(opt, "--eigen-gap") && v >= 0)
        a->eigen_gap = v;
    else if (!strcmp(opt, "--noise-alpha-sigma") && v >= 1)
        a->noise_alpha_sigma = v;
    else if (!strcmp(opt, "--noise-max-evals") && v >= 1)
        a->noise_max_evals = v;
    else
        return bad(opt, val);
    return 0;
}

static int parse_args(bench_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->x0 = 3;
    a->sigma0 = 2;
    a->target = 1e-8;
    a->eigen_gap = -1;
    a->seed_lo = a->seed_hi = 1;
    a->iters = 1000;
    for (int i = 1; i < argc; i++)
        if (parse_one(a, argc, argv, &i))
            return 1;
    if (a->dim < 1 || (!a->overhead && !a->f)) {
        fprintf(stderr, "cmaes-bench: --dim and --func are required (--overhead needs only --dim)\n");
        usage();
        return 1;
    }
    return 0;
}

static void set_options(const bench_args *a, cmaes_options *o, double *x0, int seed)
{
    cmaes_options_init(o);
    o->dim = a->dim;
    for (int i = 0; i < a->dim; i++)
        x0[i] = a->x0;
    o->x0 = x0;
    o->x0_uniform_lo = a->x0_lo;
    o->x0_uniform_hi = a->x0_hi;
    o->sigma0 = a->sigma0;
    o->popsize = a->popsize;
    o->seed = (uint64_t)seed;
    o->variant = a->variant;
    o->restarts = a->restarts;
    o->step_rule = a->step;
    o->sampling = a->sampling;
    o->noise_handling = a->noise_handling;
    o->noise_alpha_sigma = a->noise_alpha_sigma;
    if (a->noise_max_evals >= 1)
        o->noise_max_evals = a->noise_max_evals;
    if (a->eigen_gap >= 0)
        o->eigen_gap_factor = a->eigen_gap;
    /* the library stops on f <= ftarget; the protocol's success is f < target */
    o->ftarget = a->noise > 0 ? -INFINITY : nextafter(a->target, -INFINITY);
}

typedef struct run_result {
    long evals;
    double best_f;
    int success;
    char stop[160];
} run_result;

/* One seed: evaluate rows in order, count, watch the target and the budget. */
static int run_seed(const bench_args *a, int seed, run_result *res)
{
    int n = a->dim;
    double *x0 = malloc(sizeof(double) * (size_t)n);
    double *f = NULL;
    size_t fcap = 0;
    cmaes_options o;
    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    set_options(a, &o, x0, seed);
    if (cmaes_create(&es, &o, err, sizeof err) != CMAES_OK) {
        fprintf(stderr, "cmaes-bench: %s\n", err);
        free(x0);
        return 1;
    }
    pcg_rng noise;
    pcg_seed(&noise, (uint64_t)seed, NOISE_STREAM);
    memset(res, 0, sizeof *res);
    res->best_f = INFINITY;
    int budget_out = 0;
    cmaes_batch b;
    while (!res->success && !budget_out && cmaes_ask(es, &b) == CMAES_OK) {
        if ((size_t)b.count > fcap) {
            fcap = (size_t)b.count;
            f = realloc(f, sizeof(double) * fcap);
        }
        for (int i = 0; i < b.count; i++) {
            if (a->max_evals && res->evals == a->max_evals) {
                budget_out = 1;
                break;
            }
            double v = a->f(b.x + (size_t)i * n, n);
            res->evals++;
            if (a->noise > 0) {
                f[i] = v * (1 + a->noise * pcg_normal(&noise));
                continue;
            }
            f[i] = v;
            if (v < res->best_f)
                res->best_f = v;
            if (v < a->target) {
                res->success = 1;
                break;
            }
        }
        if (res->success || budget_out)
            break;
        cmaes_tell(es, f);
        if (a->noise > 0) {
            cmaes_status st;
            cmaes_get_status(es, &st);
            res->best_f = a->f(st.mean, n);
            res->success = res->best_f < a->target;
        }
    }
    cmaes_status st;
    cmaes_get_status(es, &st);
    if (res->success)
        snprintf(res->stop, sizeof res->stop, "ftarget");
    else if (budget_out)
        snprintf(res->stop, sizeof res->stop, "maxfevals");
    else
        cmaes_stop_describe(st.stop, res->stop, sizeof res->stop);
    cmaes_free(es);
    free(f);
    free(x0);
    return 0;
}

static int compare_long(const void *x, const void *y)
{
    long a = *(const long *)x, b = *(const long *)y;
    return (a > b) - (a < b);
}

static const char *variant_name(cmaes_variant v) { return v == CMAES_SEP ? "sep" : "full"; }

static int run_protocol(const bench_args *a)
{
    static const char *const restart_names[] = {"none", "ipop", "bipop"};
    int runs = a->seed_hi - a->seed_lo + 1, successes = 0;
    long *evals = malloc(sizeof(long) * (size_t)runs);
    double sum = 0;
    for (int seed = a->seed_lo; seed <= a->seed_hi; seed++) {
        run_result r;
        if (run_seed(a, seed, &r)) {
            free(evals);
            return 1;
        }
        char best[32];   /* JSON has no infinity: a run without any finite value reports null */
        if (isfinite(r.best_f))
            snprintf(best, sizeof best, "%.6e", r.best_f);
        else
            snprintf(best, sizeof best, "null");
        printf("{\"func\":\"%s\",\"dim\":%d,\"seed\":%d,\"variant\":\"%s\",\"restarts\":\"%s\",\"evals\":%ld,"
               "\"best_f\":%s,\"success\":%s,\"stop\":\"%s\"}\n",
               a->func, a->dim, seed, variant_name(a->variant), restart_names[a->restarts], r.evals, best,
               r.success ? "true" : "false", r.stop);
        fflush(stdout);
        if (r.success) {
            evals[successes++] = r.evals;
            sum += (double)r.evals;
        }
    }
    printf("{\"summary\":true,\"func\":\"%s\",\"dim\":%d,\"variant\":\"%s\",\"runs\":%d,\"successes\":%d,",
           a->func, a->dim, variant_name(a->variant), runs, successes);
    if (successes) {
        qsort(evals, (size_t)successes, sizeof *evals, compare_long);
        double median = successes % 2 ? (double)evals[successes / 2]
                                      : 0.5 * (double)(evals[successes / 2 - 1] + evals[successes / 2]);
        printf("\"median_evals\":%.1f,\"mean_evals\":%.1f}\n", median, sum / successes);
    } else {
        printf("\"median_evals\":null,\"mean_evals\":null}\n");
    }
    free(evals);
    return 0;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int compare_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Time of ask + tell per generation, sphere from the origin with σ0 = 1; the objective's time is not counted. */
static int run_overhead(const bench_args *a)
{
    enum { REPS = 5 };
    int n = a->dim;
    double reps[REPS];
    double *x0 = calloc((size_t)n, sizeof(double)), *f = NULL;
    for (int rep = 0; rep < REPS; rep++) {
        cmaes_options o;
        cmaes_options_init(&o);
        o.dim = n;
        o.x0 = x0;
        o.popsize = a->popsize;
        o.variant = a->variant;
        o.step_rule = a->step;
        o.sampling = a->sampling;
        o.seed = (uint64_t)rep + 1;
        if (a->eigen_gap >= 0)
            o.eigen_gap_factor = a->eigen_gap;
        cmaes *es;
        char err[CMAES_ERRMSG_MAX];
        if (cmaes_create(&es, &o, err, sizeof err) != CMAES_OK) {
            fprintf(stderr, "cmaes-bench: %s\n", err);
            return 1;
        }
        double spent = 0;
        int done = 0;
        for (; done < a->iters; done++) {
            cmaes_batch b;
            double t0 = now_ms();
            if (cmaes_ask(es, &b) != CMAES_OK)
                break;
            spent += now_ms() - t0;
            f = realloc(f, sizeof(double) * (size_t)b.count);
            for (int i = 0; i < b.count; i++)
                f[i] = f_sphere(b.x + (size_t)i * n, n);
            t0 = now_ms();
            cmaes_tell(es, f);
            spent += now_ms() - t0;
        }
        cmaes_free(es);
        reps[rep] = done ? spent / done : NAN;
    }
    qsort(reps, REPS, sizeof reps[0], compare_double);
    int lambda = a->popsize ? a->popsize : 4 + (int)floor(3 * log((double)n));
    printf("{\"overhead\":true,\"variant\":\"%s\",\"dim\":%d,\"popsize\":%d,\"iters\":%d,\"ms_per_iter\":%.4f}\n",
           variant_name(a->variant), n, lambda, a->iters, reps[REPS / 2]);
    free(x0);
    free(f);
    return 0;
}

int main(int argc, char **argv)
{
    bench_args a;
    if (parse_args(&a, argc, argv))
        return 1;
    return a.overhead ? run_overhead(&a) : run_protocol(&a);
}
