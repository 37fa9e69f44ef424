/* optimizer_deep.c — BBTv2's divide and conquer over layers, as a search method of the tuner (bbt/optimizer.h).
 *
 * z is N blocks of d values, one per layer (bbt/deep.h). Each layer has its own inner method (separable CMA-ES by
 * default; whatever --optimizer names) on its d values. Generations go round the layers: layer 0, 1, …, N−1, then 0
 * again. A generation moves one layer: its λ candidates are the inner method's draws for that block with every other
 * block held at that layer's best so far; the lowest loss of a layer's generation replaces that layer's best when it is
 * lower than any loss the layer's generations have had before (the reference keeps each layer's CMA-ES best solution,
 * xbest, the same way). Each generation is λ evaluations of the run's budget, so a run of B evaluations makes
 * B/(λ·N) rounds.
 *
 * Layer 0's method draws from the run seed as BBT's does (its first generation is BBT's first); layer l ≥ 1's from a
 * seed mixed from the run seed and l. The state — the rotation, every layer's best and every inner state — is one blob
 * in the checkpoint.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/checkpoint.h"
#include "bbt/optimizer.h"
#include "bbt/util.h"

#define DEEP_STATE_MAGIC 0x62627476325f6f70LL /* "bbtv2_op" */

typedef struct deep_method {
    const optimizer_ops *ops;  /* the inner method of every layer */
    void **inner;              /* N states */
    int layers, dim, count;
    long layer;                /* the layer the next generation moves */
    long told;                 /* the layer of the last generation told (-1 before the first) */
    double *best;              /* N·d: each layer's best block so far (0 until its first generation) */
    double *best_loss;         /* N: the loss that made it the best (+∞ before) */
    const double *rows;        /* the inner method's draws of the generation asked, count × d */
    double *x;                 /* count × N·d: the generation's candidates */
    double *mean;              /* N·d: the moved layer's mean, the other blocks at their best */
} deep_method;

/* The inner seed of layer l: the run's own for layer 0, a splitmix64 mix of it and l for the others (kept positive:
 * the inner methods take an int seed as the run does). */
static int layer_seed(int seed, int l)
{
    if (l == 0)
        return seed;
    uint64_t x = (uint64_t)(uint32_t)seed * 0x100000001ULL + (uint64_t)l * 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (int)(x & 0x7fffffff);
}

static void method_close(void *state)
{
    deep_method *m = state;
    if (!m)
        return;
    for (int l = 0; m->inner && l < m->layers; l++)
        if (m->inner[l])
            m->ops->close(m->inner[l]);
    free(m->inner);
    free(m->best);
    free(m->best_loss);
    free(m->x);
    free(m->mean);
    free(m);
}

static deep_method *method_alloc(const tune_config *cfg)
{
    deep_method *m = xcalloc(1, sizeof *m);
    m->ops = cfg->optimizer == OPTIMIZER_RANDOM ? optimizer_random_ops() : optimizer_cmaes_ops();
    m->layers = cfg->deep_layers;
    m->dim = cfg->dim;
    m->count = cfg->popsize;
    m->told = -1;
    size_t zdim = (size_t)m->layers * m->dim;
    m->inner = xcalloc((size_t)m->layers, sizeof *m->inner);
    m->best = xcalloc(zdim, sizeof *m->best);
    m->best_loss = xmalloc((size_t)m->layers * sizeof *m->best_loss);
    for (int l = 0; l < m->layers; l++)
        m->best_loss[l] = INFINITY;
    m->x = xmalloc((size_t)m->count * zdim * sizeof *m->x);
    m->mean = xmalloc(zdim * sizeof *m->mean);
    return m;
}

/* Layer l's inner method, new or from its saved bytes: the run's settings on d values with the layer's seed. */
static int open_inner(deep_method *m, const tune_config *cfg, int l, const void *blob, size_t len, bbt_error *err)
{
    tune_config inner = *cfg; /* a shallow copy: the inner methods read numbers only */
    inner.deep = 0;
    inner.deep_layers = 0;
    inner.seed = layer_seed(cfg->seed, l);
    if (m->ops->open(&m->inner[l], &inner, blob, len, err))
        return bbt_prefix(err, "BBTv2 layer %d: ", l);
    return 0;
}

/* The saved state: magic, N, d, λ, layer, told, the bests and their losses, then each layer's inner state. */
static int restore(deep_method *m, const tune_config *cfg, const void *blob, size_t len, bbt_error *err)
{
    ckpt_reader r = {(unsigned char *)blob, len, 0, 0}; /* reads the caller's bytes; never freed here */
    int64_t magic = ckpt_get_i64(&r), n = ckpt_get_i64(&r), d = ckpt_get_i64(&r), lambda = ckpt_get_i64(&r);
    if (r.failed || magic != DEEP_STATE_MAGIC)
        return bbt_fail(err, "the optimizer state is not BBTv2's (a run without --deep?)");
    if (n != m->layers || d != m->dim || lambda != m->count)
        return bbt_fail(err, "the BBTv2 state (N = %lld layers, d = %lld, λ = %lld) does not match config.json (%d, %d, "
                             "%d)", (long long)n, (long long)d, (long long)lambda, m->layers, m->dim, m->count);
    m->layer = (long)ckpt_get_i64(&r);
    m->told = (long)ckpt_get_i64(&r);
    ckpt_get_f64s(&r, m->best, (size_t)m->layers * m->dim);
    ckpt_get_f64s(&r, m->best_loss, (size_t)m->layers);
    if (r.failed || m->layer < 0 || m->layer >= m->layers || m->told < -1 || m->told >= m->layers)
        return bbt_fail(err, "the BBTv2 state is truncated or names a layer out of range");
    for (int l = 0; l < m->layers; l++) {
        size_t n_inner;
        const void *inner = ckpt_get_blob(&r, &n_inner);
        if (r.failed)
            return bbt_fail(err, "the BBTv2 state is truncated at layer %d's optimizer", l);
        if (open_inner(m, cfg, l, inner ? inner : "", n_inner, err))
            return -1;
    }
    if (r.at != r.len)
        return bbt_fail(err, "the BBTv2 state has %zu bytes after its last layer", r.len - r.at);
    return 0;
}

static int method_open(void **state, const tune_config *cfg, const void *blob, size_t len, bbt_error *err)
{
    if (!cfg->deep || cfg->deep_layers < 1)
        return bbt_fail(err, "BBTv2's optimizer needs --deep with the layers resolved (deep_layers %d)",
                        cfg->deep_layers);
    deep_method *m = method_alloc(cfg);
    int rc = 0;
    if (blob)
        rc = restore(m, cfg, blob, len, err);
    for (int l = 0; !blob && l < m->layers && !rc; l++)
        rc = open_inner(m, cfg, l, NULL, 0, err);
    if (rc) {
        method_close(m);
        return -1;
    }
    *state = m;
    return 0;
}

static int method_ask(void *state, const double **x, int *count, bbt_error *err)
{
    deep_method *m = state;
    int n;
    if (m->ops->ask(m->inner[m->layer], &m->rows, &n, err))
        return bbt_prefix(err, "BBTv2 layer %ld: ", m->layer);
    if (n != m->count) /* the inner methods ask λ at a time (UH-CMA's re-evaluations included) */
        return bbt_fail(err, "BBTv2 layer %ld: the optimizer asked %d candidates, expected %d", m->layer, n, m->count);
    size_t d = (size_t)m->dim, zdim = (size_t)m->layers * d;
    for (int c = 0; c < n; c++) {
        memcpy(m->x + (size_t)c * zdim, m->best, zdim * sizeof *m->x);
        memcpy(m->x + (size_t)c * zdim + (size_t)m->layer * d, m->rows + (size_t)c * d, d * sizeof *m->x);
    }
    *x = m->x;
    *count = n;
    return 0;
}

static int method_tell(void *state, const double *losses, bbt_error *err)
{
    deep_method *m = state;
    int best = -1; /* the generation's lowest finite loss */
    for (int c = 0; c < m->count; c++)
        if (isfinite(losses[c]) && (best < 0 || losses[c] < losses[best]))
            best = c;
    if (best >= 0 && losses[best] < m->best_loss[m->layer]) { /* copied now: the inner rows are gone after tell */
        m->best_loss[m->layer] = losses[best];
        memcpy(m->best + (size_t)m->layer * m->dim, m->rows + (size_t)best * m->dim, (size_t)m->dim * sizeof *m->best);
    }
    if (m->ops->tell(m->inner[m->layer], losses, err))
        return bbt_prefix(err, "BBTv2 layer %ld: ", m->layer);
    m->told = m->layer;
    m->layer = (m->layer + 1) % m->layers;
    return 0;
}

static void method_report(void *state, optimizer_report *r)
{
    deep_method *m = state;
    long l = m->told < 0 ? 0 : m->told;
    m->ops->report(m->inner[l], r);
    if (r->mean) { /* the moved layer's mean in the deep vector, the other layers at their best */
        size_t d = (size_t)m->dim;
        memcpy(m->mean, m->best, (size_t)m->layers * d * sizeof *m->mean);
        memcpy(m->mean + (size_t)l * d, r->mean, d * sizeof *m->mean);
        r->mean = m->mean;
    }
    r->deep_layer = (int)l + 1;
}

static int method_save(void *state, unsigned char **blob, size_t *len, bbt_error *err)
{
    deep_method *m = state;
    ckpt_writer w = {0};
    ckpt_put_i64(&w, DEEP_STATE_MAGIC);
    ckpt_put_i64(&w, m->layers);
    ckpt_put_i64(&w, m->dim);
    ckpt_put_i64(&w, m->count);
    ckpt_put_i64(&w, m->layer);
    ckpt_put_i64(&w, m->told);
    ckpt_put_f64s(&w, m->best, (size_t)m->layers * m->dim);
    ckpt_put_f64s(&w, m->best_loss, (size_t)m->layers);
    for (int l = 0; l < m->layers; l++) {
        unsigned char *inner;
        size_t n;
        if (m->ops->save(m->inner[l], &inner, &n, err)) {
            free(w.data);
            return bbt_prefix(err, "BBTv2 layer %d: ", l);
        }
        ckpt_put_blob(&w, inner, n);
        free(inner);
    }
    *blob = w.data;
    *len = w.len;
    return 0;
}

const optimizer_ops *optimizer_deep_ops(void)
{
    static const optimizer_ops ops = {"bbtv2", method_open, method_ask, method_tell, method_report, method_save,
                                      method_close};
    return &ops;
}
