/* noisy_restarts.c — restarts and noise handling through ask/tell, with a checkpoint in the middle.
 *
 * Part 1: the 10-dimensional Rastrigin function (many local minima) with IPOP restarts: each run that gets stuck is
 * followed by one with twice the population, until f < 1e-8. The restart events come from cmaes_status.
 * Part 2: a sphere whose values carry 30% multiplicative noise, with uncertainty handling: the optimizer re-evaluates a
 * few candidates each generation, measures how much the noise reorders them, and raises σ and the evaluations per
 * candidate when it dominates. Halfway the state is saved to a file and loaded again, as a long job would.
 *
 * Build against an installed library:
 *     cc noisy_restarts.c $(pkg-config --cflags --libs bbtoptim) -lm -o noisy_restarts
 * Usage: noisy_restarts [checkpoint-file]   (default ./noisy_restarts.state)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <bbt/cmaes.h>

#define N 10
#define PI 3.14159265358979323846

static double rastrigin(const double *x)
{
    double s = 10.0 * N;
    for (int i = 0; i < N; i++)
        s += x[i] * x[i] - 10 * cos(2 * PI * x[i]);
    return s;
}

static double sphere(const double *x)
{
    double s = 0;
    for (int i = 0; i < N; i++)
        s += x[i] * x[i];
    return s;
}

static int restarts_on_rastrigin(void)
{
    cmaes_options opts;
    cmaes_options_init(&opts);
    opts.dim = N;
    opts.x0_uniform_lo = -4;   /* a fresh random start for every run */
    opts.x0_uniform_hi = 4;
    opts.sigma0 = 2;
    opts.seed = 1;
    opts.restarts = CMAES_RESTART_IPOP;
    opts.ftarget = 1e-8;
    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    if (cmaes_create(&es, &opts, err, sizeof err) != CMAES_OK) {
        fprintf(stderr, "noisy_restarts: %s\n", err);
        return 1;
    }
    double *f = NULL;
    cmaes_batch batch;
    cmaes_status st;
    while (cmaes_ask(es, &batch) == CMAES_OK) {
        f = realloc(f, sizeof(double) * (size_t)batch.count);
        for (int i = 0; i < batch.count; i++)
            f[i] = rastrigin(batch.x + (size_t)i * N);
        cmaes_tell(es, f);
        cmaes_get_status(es, &st);
        if (st.restarted) {
            char why[128];
            cmaes_stop_describe(st.restart_reason, why, sizeof why);
            printf("restart %d after %ld evaluations (%s): popsize now %d\n", st.restarts, st.evaluations, why,
                   st.lambda);
        }
    }
    cmaes_get_status(es, &st);
    printf("rastrigin: best f = %.3e after %ld evaluations and %d restarts\n", st.best_f, st.evaluations,
           st.restarts);
    int ok = st.best_f < 1e-8;
    free(f);
    cmaes_free(es);
    return ok ? 0 : 2;
}

/* Run `generations` generations of the noisy sphere; returns the true f of the final mean. */
static double noisy_generations(cmaes *es, pcg_rng *noise, int generations)
{
    double *f = NULL;
    cmaes_batch batch;
    cmaes_status st;
    for (int g = 0; g < generations && cmaes_ask(es, &batch) == CMAES_OK; g++) {
        f = realloc(f, sizeof(double) * (size_t)batch.count);
        for (int i = 0; i < batch.count; i++)
            f[i] = sphere(batch.x + (size_t)i * N) * (1 + 0.3 * pcg_normal(noise));
        cmaes_tell(es, f);
    }
    free(f);
    cmaes_get_status(es, &st);
    printf("  after %ld evaluations: noise level %+.2f, %.2f evaluations per candidate, sigma %.3g, "
           "true f(mean) %.3e\n", st.evaluations, st.noise_level, st.evals_per_candidate, st.sigma, sphere(st.mean));
    return sphere(st.mean);
}

static int noise_handling_on_sphere(const char *checkpoint)
{
    double x0[N];
    for (int i = 0; i < N; i++)
        x0[i] = 2;
    cmaes_options opts;
    cmaes_options_init(&opts);
    opts.dim = N;
    opts.x0 = x0;
    opts.sigma0 = 1;
    opts.seed = 7;
    opts.noise_handling = 1;
    opts.noise_max_evals = 10;
    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    if (cmaes_create(&es, &opts, err, sizeof err) != CMAES_OK) {
        fprintf(stderr, "noisy_restarts: %s\n", err);
        return 1;
    }
    pcg_rng noise;
    pcg_seed(&noise, 7, 99);   /* the "measurement noise", on a stream of its own */
    printf("noisy sphere (30%% multiplicative noise), f(x0) = %.1f\n", sphere(x0));
    noisy_generations(es, &noise, 150);
    if (cmaes_save(es, checkpoint) != CMAES_OK) {
        fprintf(stderr, "noisy_restarts: %s\n", cmaes_errmsg(es));
        cmaes_free(es);
        return 1;
    }
    cmaes_free(es);
    if (cmaes_load(&es, checkpoint, err, sizeof err) != CMAES_OK) {
        fprintf(stderr, "noisy_restarts: %s\n", err);
        return 1;
    }
    printf("  (state saved to %s and loaded again)\n", checkpoint);
    double fmean = noisy_generations(es, &noise, 150);
    cmaes_free(es);
    remove(checkpoint);
    return fmean < 1e-3 ? 0 : 2;
}

int main(int argc, char **argv)
{
    const char *checkpoint = argc > 1 ? argv[1] : "noisy_restarts.state";
    int rc = restarts_on_rastrigin();
    if (rc == 0)
        rc = noise_handling_on_sphere(checkpoint);
    return rc;
}
