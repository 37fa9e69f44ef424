/* optimizer_random.c — random search, the baseline: each generation λ independent draws z ~ N(0, σ0² I) from the
 * run's own PCG stream, nothing learnt from the losses. Its whole state is the generator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/optimizer.h"
#include "bbt/util.h"
#include "optim/pcg.h"

#define RANDOM_SEARCH_STREAM 0x72616e646f6dULL /* "random" */

typedef struct random_method {
    pcg_rng rng;
    int count, dim;
    double sigma0;
    double *x;              /* the generation's candidates, count × dim */
} random_method;

static void method_close(void *state)
{
    random_method *m = state;
    if (m)
        free(m->x);
    free(m);
}

static int method_open(void **state, const tune_config *cfg, const void *blob, size_t len, bbt_error *err)
{
    random_method *m = xcalloc(1, sizeof *m);
    m->count = cfg->popsize;
    m->dim = cfg->dim;
    m->sigma0 = cfg->sigma0;
    if (!blob) {
        pcg_seed(&m->rng, (uint64_t)cfg->seed, RANDOM_SEARCH_STREAM);
    } else if (len != sizeof m->rng) { /* the state is the generator's four words, as they are in memory */
        method_close(m);
        return bbt_fail(err, "random-search state has %zu bytes, expected %zu", len, sizeof m->rng);
    } else {
        memcpy(&m->rng, blob, len);
    }
    m->x = xmalloc((size_t)m->count * (size_t)m->dim * sizeof *m->x);
    *state = m;
    return 0;
}

static int method_ask(void *state, const double **x, int *count, bbt_error *err)
{
    (void)err;
    random_method *m = state;
    size_t n = (size_t)m->count * (size_t)m->dim;
    pcg_fill_normal(&m->rng, m->x, n);
    for (size_t i = 0; i < n; i++)
        m->x[i] *= m->sigma0;
    *x = m->x;
    *count = m->count;
    return 0;
}

static int method_tell(void *state, const double *losses, bbt_error *err)
{
    (void)state, (void)losses, (void)err; /* nothing to learn: the tuner keeps the best candidate itself */
    return 0;
}

static void method_report(void *state, optimizer_report *r)
{
    (void)state;
    *r = (optimizer_report){NULL, NAN, 0, NAN, NAN, 0, 0, 0, 0, 0}; /* no distribution, never finished early */
}

static int method_save(void *state, unsigned char **blob, size_t *len, bbt_error *err)
{
    (void)err;
    random_method *m = state;
    *blob = xmalloc(sizeof m->rng);
    memcpy(*blob, &m->rng, sizeof m->rng);
    *len = sizeof m->rng;
    return 0;
}

const optimizer_ops *optimizer_random_ops(void)
{
    static const optimizer_ops ops = {"random", method_open, method_ask, method_tell, method_report, method_save,
                                      method_close};
    return &ops;
}
