/* python_trace.c — the C side of the Python binding's tests (tests/optim/python.sh, test_python.py).
 *
 *     python_trace --layout     sizes and field offsets of cmaes_options, cmaes_batch and cmaes_status, one per line
 *     python_trace CASE         the run of CASE (full, sep, bounds, ipop, noise, big): every candidate of every generation
 *                               as the bit patterns of its doubles, then the end state. test_python.py runs the same
 *                               case through bbtoptim and compares the text: equal means bit-identical candidates.
 *
 * The objectives are written as plain left-to-right loops so that Python's float arithmetic gives the same bits.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "optim/cmaes.h"

#define FIELD(s, f) printf("%s.%s %zu %zu\n", #s, #f, offsetof(s, f), sizeof(((s *)0)->f))

static void layout(void)
{
    printf("cmaes_options %zu\n", sizeof(cmaes_options));
    FIELD(cmaes_options, dim); FIELD(cmaes_options, x0); FIELD(cmaes_options, x0_uniform_lo);
    FIELD(cmaes_options, x0_uniform_hi); FIELD(cmaes_options, sigma0); FIELD(cmaes_options, sigma0_scale);
    FIELD(cmaes_options, lower); FIELD(cmaes_options, upper); FIELD(cmaes_options, seed);
    FIELD(cmaes_options, variant); FIELD(cmaes_options, popsize); FIELD(cmaes_options, mu);
    FIELD(cmaes_options, active); FIELD(cmaes_options, step_rule); FIELD(cmaes_options, sampling);
    FIELD(cmaes_options, eigen_gap_factor); FIELD(cmaes_options, restarts); FIELD(cmaes_options, max_restarts);
    FIELD(cmaes_options, incpopsize); FIELD(cmaes_options, noise_handling); FIELD(cmaes_options, noise_reevals);
    FIELD(cmaes_options, noise_epsilon); FIELD(cmaes_options, noise_max_evals);
    FIELD(cmaes_options, noise_alpha_sigma); FIELD(cmaes_options, noise_alpha_evals); FIELD(cmaes_options, ftarget);
    FIELD(cmaes_options, max_fevals); FIELD(cmaes_options, max_iter); FIELD(cmaes_options, tolfun);
    FIELD(cmaes_options, tolfunhist); FIELD(cmaes_options, tolx); FIELD(cmaes_options, tolupsigma);
    FIELD(cmaes_options, tolconditioncov); FIELD(cmaes_options, tolstagnation);
    FIELD(cmaes_options, tolflatfitness); FIELD(cmaes_options, tolnonfinite);
    printf("cmaes_batch %zu\n", sizeof(cmaes_batch));
    FIELD(cmaes_batch, x); FIELD(cmaes_batch, count); FIELD(cmaes_batch, dim); FIELD(cmaes_batch, lambda);
    printf("cmaes_status %zu\n", sizeof(cmaes_status));
    FIELD(cmaes_status, dim); FIELD(cmaes_status, lambda); FIELD(cmaes_status, mu); FIELD(cmaes_status, variant);
    FIELD(cmaes_status, iteration); FIELD(cmaes_status, evaluations); FIELD(cmaes_status, run_iteration);
    FIELD(cmaes_status, restarts); FIELD(cmaes_status, finished); FIELD(cmaes_status, stop);
    FIELD(cmaes_status, mean); FIELD(cmaes_status, sigma); FIELD(cmaes_status, min_std); FIELD(cmaes_status, max_std);
    FIELD(cmaes_status, axis_ratio); FIELD(cmaes_status, best_x); FIELD(cmaes_status, best_f);
    FIELD(cmaes_status, best_evaluation); FIELD(cmaes_status, restarted); FIELD(cmaes_status, restart_reason);
    FIELD(cmaes_status, flat_fitness); FIELD(cmaes_status, nonfinite); FIELD(cmaes_status, nonfinite_total);
    FIELD(cmaes_status, repairs); FIELD(cmaes_status, noise_level); FIELD(cmaes_status, evals_per_candidate);
    FIELD(cmaes_status, noise_sigma_factor); FIELD(cmaes_status, reevaluations);
}

/* Σ (i+1) x_i², then for the noisy case a deterministic disturbance from the evaluation counter. */
static double weighted_sphere(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (i + 1) * x[i] * x[i];
    return s;
}

/* π as a literal: the same double as Python's math.pi (M_PI is not C11) */
static double rastrigin(const double *x, int n)
{
    double s = 10.0 * n;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i] - 10.0 * cos(2 * 3.14159265358979323846 * x[i]);
    return s;
}

static void print_bits(double v)
{
    unsigned long long u;
    memcpy(&u, &v, sizeof u);
    printf("%016llx", u);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: python_trace --layout | full | sep | bounds | ipop | noise | big\n");
        return 1;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--layout")) {
        layout();
        return 0;
    }
    cmaes_options o;
    cmaes_options_init(&o);
    double x0[128], lo[128], hi[128];
    int gens = 60, noisy = 0, rast = 0;
    if (!strcmp(c, "full")) {
        o.dim = 8; o.sigma0 = 2; o.seed = 7;
    } else if (!strcmp(c, "sep")) {
        o.dim = 30; o.sigma0 = 2; o.seed = 3; o.variant = CMAES_SEP;
    } else if (!strcmp(c, "bounds")) {
        o.dim = 5; o.sigma0 = 1; o.seed = 11; o.lower = lo; o.upper = hi;
    } else if (!strcmp(c, "ipop")) {
        o.dim = 4; o.sigma0 = 2; o.seed = 5; o.restarts = CMAES_RESTART_IPOP; o.x0_uniform_lo = -4;
        o.x0_uniform_hi = 4; o.max_fevals = 4000; gens = 100000; rast = 1;
    } else if (!strcmp(c, "big")) {
        o.dim = 100; o.sigma0 = 2; o.seed = 13; gens = 25;
    } else if (!strcmp(c, "noise")) {
        o.dim = 6; o.sigma0 = 1; o.seed = 9; o.noise_handling = 1; noisy = 1;
    } else {
        fprintf(stderr, "python_trace: unknown case %s\n", c);
        return 1;
    }
    for (int i = 0; i < o.dim; i++) {
        x0[i] = o.lower ? 0.5 : 3;
        lo[i] = -1;
        hi[i] = 2;
    }
    o.x0 = x0;
    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    if (cmaes_create(&es, &o, err, sizeof err) != CMAES_OK) {
        fprintf(stderr, "python_trace: %s\n", err);
        return 2;
    }
    cmaes_batch b;
    double f[4096];
    long k = 0;
    for (int g = 0; g < gens && cmaes_ask(es, &b) == CMAES_OK; g++) {
        printf("generation %d rows %d\n", g, b.count);
        for (int r = 0; r < b.count; r++) {
            const double *x = b.x + (size_t)r * b.dim;
            for (int i = 0; i < b.dim; i++) {
                print_bits(x[i]);
                putchar(i + 1 < b.dim ? ' ' : '\n');
            }
            f[r] = rast ? rastrigin(x, b.dim) : weighted_sphere(x, b.dim);
            if (noisy)
                f[r] *= 1 + 0.3 * sin((double)k);
            k++;
        }
        cmaes_tell(es, f);
    }
    cmaes_status st;
    cmaes_get_status(es, &st);
    char why[256];
    cmaes_stop_describe(st.stop, why, sizeof why);
    printf("end evaluations %ld iterations %ld restarts %d stop %s best ", st.evaluations, st.iteration, st.restarts,
           why);
    print_bits(st.best_f);
    printf(" sigma ");
    print_bits(st.sigma);
    putchar('\n');
    cmaes_free(es);
    return 0;
}
