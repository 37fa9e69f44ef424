/* optimizer_cmaes.c — CMA-ES (optim/cmaes.h), separable or full, as a search method of the tuner. */
#include <stdlib.h>

#include "bbt/optimizer.h"
#include "bbt/util.h"
#include "optim/cmaes.h"

typedef struct cmaes_method {
    cmaes *es;
    int noise_handling;
} cmaes_method;

static cmaes_variant variant_of(const tune_config *cfg)
{
    return cfg->optimizer == OPTIMIZER_FULL ? CMAES_FULL : CMAES_SEP;
}

static int create(cmaes **es, const tune_config *cfg, bbt_error *err)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = cfg->dim;
    o.sigma0 = cfg->sigma0;
    o.seed = (uint64_t)cfg->seed;
    o.variant = variant_of(cfg);
    o.popsize = cfg->popsize;
    o.noise_handling = cfg->noise_handling;
    o.max_fevals = 0; /* the tuner's budget ends the run, so that a finished run can be extended (--budget) */
    /* No early stopping (as the reference): the budget ends the run. Flat or slowly moving losses (accuracy, F1) are
     * reported in the log, never a reason to stop; the numerical safeguards (divergent σ, a degenerate covariance,
     * non-finite losses everywhere) stay on and say why in summary.json if they fire. */
    o.tolfun = o.tolfunhist = o.tolx = 0;
    o.tolstagnation = 0;
    o.tolflatfitness = 0;
    char msg[CMAES_ERRMSG_MAX];
    if (cmaes_create(es, &o, msg, sizeof msg) != CMAES_OK)
        return bbt_fail(err, "optimizer: %s", msg);
    return 0;
}

/* A saved state, which must be of the variant, d and λ of the run's config.json. */
static int restore(cmaes **es, const tune_config *cfg, const void *blob, size_t len, bbt_error *err)
{
    char msg[CMAES_ERRMSG_MAX];
    if (cmaes_deserialize(es, blob, len, msg, sizeof msg) != CMAES_OK)
        return bbt_fail(err, "optimizer state: %s", msg);
    cmaes_status st;
    cmaes_get_status(*es, &st);
    if (st.variant != variant_of(cfg) || st.dim != cfg->dim || st.lambda != cfg->popsize)
        return bbt_fail(err, "the optimizer state (%s, d = %d, λ = %d) does not match config.json (%s, d = %d, λ = %d)",
                        st.variant == CMAES_SEP ? "sep" : "full", st.dim, st.lambda,
                        tune_config_name(cfg, "optimizer"), cfg->dim, cfg->popsize);
    return 0;
}

static void method_close(void *state)
{
    cmaes_method *m = state;
    if (m && m->es)
        cmaes_free(m->es);
    free(m);
}

static int method_open(void **state, const tune_config *cfg, const void *blob, size_t len, bbt_error *err)
{
    cmaes_method *m = xcalloc(1, sizeof *m);
    m->noise_handling = cfg->noise_handling;
    if (blob ? restore(&m->es, cfg, blob, len, err) : create(&m->es, cfg, err)) {
        method_close(m);
        return -1;
    }
    *state = m;
    return 0;
}

static int method_ask(void *state, const double **x, int *count, bbt_error *err)
{
    cmaes_method *m = state;
    cmaes_batch b;
    if (cmaes_ask(m->es, &b) != CMAES_OK)
        return bbt_fail(err, "optimizer: %s", cmaes_errmsg(m->es));
    *x = b.x;
    *count = b.count;
    return 0;
}

static int method_tell(void *state, const double *losses, bbt_error *err)
{
    cmaes_method *m = state;
    if (cmaes_tell(m->es, losses) != CMAES_OK)
        return bbt_fail(err, "optimizer: %s", cmaes_errmsg(m->es));
    return 0;
}

static void method_report(void *state, optimizer_report *r)
{
    cmaes_method *m = state;
    cmaes_status st;
    cmaes_get_status(m->es, &st);
    *r = (optimizer_report){st.mean, st.sigma, m->noise_handling, st.noise_level, st.evals_per_candidate,
                            st.flat_fitness, st.nonfinite, st.finished, st.stop, 0};
}

static int method_save(void *state, unsigned char **blob, size_t *len, bbt_error *err)
{
    cmaes_method *m = state;
    if (cmaes_serialize(m->es, blob, len) != CMAES_OK)
        return bbt_fail(err, "cannot serialise the optimizer: %s", cmaes_errmsg(m->es));
    return 0;
}

const optimizer_ops *optimizer_cmaes_ops(void)
{
    static const optimizer_ops ops = {"cmaes", method_open, method_ask, method_tell, method_report, method_save,
                                      method_close};
    return &ops;
}
