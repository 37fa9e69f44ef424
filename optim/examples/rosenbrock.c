/* rosenbrock.c — minimise the 10-dimensional Rosenbrock function with libbbtoptim's ask/tell CMA-ES.
 *
 * Build against an installed library:
 *     cc rosenbrock.c $(pkg-config --cflags --libs bbtoptim) -o rosenbrock
 * Prints the best value found and the evaluations it took; exits 0 when f < 1e-8 was reached.
 */
#include <stdio.h>

#include <bbt/cmaes.h>

#define N 10

static double rosenbrock(const double *x)
{
    double s = 0;
    for (int i = 0; i < N - 1; i++) {
        double a = x[i] * x[i] - x[i + 1], b = x[i] - 1;
        s += 100 * a * a + b * b;
    }
    return s;
}

int main(void)
{
    double x0[N] = {0};
    cmaes_options opts;
    cmaes_options_init(&opts);
    opts.dim = N;
    opts.x0 = x0;
    opts.sigma0 = 0.5;
    opts.seed = 42;
    opts.ftarget = 1e-8;

    cmaes *es;
    char err[CMAES_ERRMSG_MAX];
    if (cmaes_create(&es, &opts, err, sizeof err) != CMAES_OK) {
        fprintf(stderr, "rosenbrock: %s\n", err);
        return 1;
    }
    cmaes_batch batch;
    double f[64];
    while (cmaes_ask(es, &batch) == CMAES_OK) {
        for (int i = 0; i < batch.count; i++)   /* the candidates could be evaluated in parallel */
            f[i] = rosenbrock(batch.x + (size_t)i * batch.dim);
        cmaes_tell(es, f);
    }
    cmaes_status st;
    cmaes_get_status(es, &st);
    char why[128];
    cmaes_stop_describe(st.stop, why, sizeof why);
    printf("best f = %.3e after %ld evaluations (%ld generations), stop: %s\n", st.best_f, st.evaluations,
           st.iteration, why);
    printf("x = [");
    for (int i = 0; i < N; i++)
        printf("%s%.6f", i ? ", " : "", st.best_x[i]);
    printf("]\n");
    int ok = st.best_f < 1e-8;
    cmaes_free(es);
    return ok ? 0 : 2;
}
