/* test_deep.c — BBTv2 (bbt/deep.h, bbt/optimizer_deep.c) on stories260K and the SST-2 split 16-13:
 *   - a deep z that is zero at every layer scores exactly as the untuned prompt;
 *   - a deep z with only its layer-0 block is exactly BBT's prompt of that block;
 *   - a block of layer l changes nothing below layer l, only the prompt rows at layer l's input (by A_l·z_l), and
 *     never the rows before the prompt (a causal model);
 *   - σ̂_l (deep.json) is the clipped standard deviation of layer l's input hidden states, computed here again;
 *   - the divide-and-conquer optimizer goes round the layers, holds the other blocks at their best, and resumes exactly.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bbt/deep.h"
#include "bbt/optimizer.h"
#include "bbt/scorer.h"
#include "bbt/util.h"
#include "optim/pcg.h"

#define MODEL "../shared/assets/models/stories260K"
#define TRAIN "../shared/assets/tasks/sst2/16-13/train.tsv"

typedef struct fixture {
    tune_config cfg;
    scorer sc;
    dataset train;
    encoded_set etrain;
    char dir[32];
} fixture;

static void open_fixture(fixture *f, int deep, lm_dtype dtype, lm_prompt_mode mode)
{
    memset(f, 0, sizeof *f);
    tune_config_init(&f->cfg);
    config_set(&f->cfg.model, MODEL);
    config_set(&f->cfg.task, "sst2");
    f->cfg.prompt_len = 4;
    f->cfg.dim = 8;
    f->cfg.threads = 1;
    f->cfg.dtype = dtype;
    f->cfg.prompt_mode = mode;
    f->cfg.deep = deep;
    bbt_error err;
    cr_assert_eq(scorer_open(&f->sc, &f->cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(deep_resolve_layers(&f->cfg, f->sc.info->layers, &err), 0, "%s", err.msg);
    cr_assert_eq(scorer_load(&f->sc, TRAIN, 1, &f->train, &f->etrain, &err), 0, "%s", err.msg);
    strcpy(f->dir, "/tmp/bbt-deep-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    lm_batch train = scorer_examples(&f->sc, &f->etrain);
    train.prompts = f->sc.proj.p0;
    cr_assert_eq(deep_open(&f->sc.deep, &f->cfg, f->sc.model, &train, f->sc.embedding_std, f->dir, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(!f->sc.deep, !deep);
}

static void close_fixture(fixture *f)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", f->dir, DEEP_FILE);
    unlink(path);
    rmdir(f->dir);
    encoded_set_free(&f->etrain);
    dataset_free(&f->train);
    scorer_close(&f->sc);
    tune_config_free(&f->cfg);
}

static float *score(fixture *f, const double *z, int count)
{
    size_t n = (size_t)(z ? count : 1) * f->etrain.n * f->sc.labels.n;
    float *s = xmalloc(n * sizeof *s);
    bbt_error err;
    cr_assert_eq(scorer_score(&f->sc, &f->etrain, z, count, s, &err), 0, "%s", err.msg);
    return s;
}

static double *random_z(int n, uint64_t seed)
{
    double *z = xmalloc((size_t)n * sizeof *z);
    pcg_rng rng;
    pcg_seed(&rng, seed, 1);
    pcg_fill_normal(&rng, z, (size_t)n);
    return z;
}

static void zero_deep_is_untuned(lm_dtype dtype, lm_prompt_mode mode)
{
    fixture f;
    open_fixture(&f, 1, dtype, mode);
    cr_assert_eq(f.cfg.deep_layers, 5, "stories260K has 5 layers");
    double *z = xcalloc((size_t)deep_zdim(&f.cfg), sizeof *z);
    float *a = score(&f, z, 1), *b = score(&f, NULL, 1);
    size_t n = (size_t)f.etrain.n * f.sc.labels.n;
    cr_assert(!memcmp(a, b, n * sizeof *a), "a deep prompt of zeros at every layer changed the untuned scores");
    free(a), free(b), free(z);
    close_fixture(&f);
}

Test(deep, zero_at_every_layer_is_the_untuned_prompt)
{
    zero_deep_is_untuned(LM_F32, LM_PROMPT_ADD);
    zero_deep_is_untuned(LM_BF16, LM_PROMPT_ADD);
    zero_deep_is_untuned(LM_F32, LM_PROMPT_CAT);
}

static void layer0_is_shallow(lm_prompt_mode mode)
{
    fixture deep, shallow;
    open_fixture(&deep, 1, LM_F32, mode);
    open_fixture(&shallow, 0, LM_F32, mode);
    int d = deep.cfg.dim, zdim = deep_zdim(&deep.cfg), count = 3;
    double *z0 = random_z(count * d, 7), *z = xcalloc((size_t)count * zdim, sizeof *z);
    for (int c = 0; c < count; c++)
        memcpy(z + (size_t)c * zdim, z0 + (size_t)c * d, (size_t)d * sizeof *z);
    float *a = score(&deep, z, count), *b = score(&shallow, z0, count);
    size_t n = (size_t)count * deep.etrain.n * deep.sc.labels.n;
    cr_assert(!memcmp(a, b, n * sizeof *a), "a deep prompt only at layer 0 scores otherwise than BBT's prompt");
    /* and the other layers matter: the same z_0 with a block at layer 3 scores otherwise */
    double *w = random_z(d, 8);
    memcpy(z + 3 * d, w, (size_t)d * sizeof *z);
    float *c3 = score(&deep, z, 1);
    cr_assert(memcmp(c3, b, (size_t)deep.etrain.n * deep.sc.labels.n * sizeof *c3), "layer 3's block changed nothing");
    free(a), free(b), free(c3), free(z0), free(z), free(w);
    close_fixture(&deep);
    close_fixture(&shallow);
}

Test(deep, only_layer_0_is_the_shallow_prompt)
{
    layer0_is_shallow(LM_PROMPT_ADD);
    layer0_is_shallow(LM_PROMPT_CAT);
}

/* Hidden states of training example 0 under prompts/deep (one candidate). */
static float *hidden(fixture *f, const float *prompts, const float *deep, int *rows)
{
    const lm_info *info = f->sc.info;
    lm_seq q = f->etrain.seqs[0];
    q.prompt = 0;
    *rows = q.n + (q.mode == LM_PROMPT_CAT ? f->cfg.prompt_len : 0);
    float *hs = xmalloc((size_t)(info->layers + 1) * *rows * info->hidden * sizeof *hs);
    lm_batch b = {1, f->cfg.prompt_len, prompts, deep, 1, &q, 0, NULL, 0, 0};
    cr_assert_eq(lm_hidden_states(f->sc.model, &b, 0, hs), LM_OK, "%s", lm_errmsg(f->sc.model));
    return hs;
}

Test(deep, a_layer_block_changes_its_layer_at_the_prompt_rows_only)
{
    fixture f;
    open_fixture(&f, 1, LM_F32, LM_PROMPT_ADD);
    const lm_info *info = f.sc.info;
    int d = f.cfg.dim, zdim = deep_zdim(&f.cfg), H = info->hidden, L = f.cfg.prompt_len, N = info->layers;
    size_t rows_lh = (size_t)L * H;
    float *p = xmalloc(rows_lh * sizeof *p), *dp = xmalloc((size_t)N * rows_lh * sizeof *dp);
    float *p0 = xcalloc(rows_lh, sizeof *p0), *zero_deep = xcalloc((size_t)N * rows_lh, sizeof *zero_deep);
    int rows, pos = f.etrain.seqs[0].prompt_pos;
    float *base = hidden(&f, p0, zero_deep, &rows);
    for (int l = 1; l < N; l++) {
        double *z = xcalloc((size_t)zdim, sizeof *z), *w = random_z(d, 100 + l);
        memcpy(z + (size_t)l * d, w, (size_t)d * sizeof *z);
        deep_apply(f.sc.deep, &f.sc.proj, z, 1, p, dp);
        for (size_t k = 0; k < rows_lh; k++)
            cr_assert(p[k] == 0, "layer %d's block moved the input prompt", l);
        float *hs = hidden(&f, p, dp, &rows);
        size_t per = (size_t)rows * H;
        int reached = 0;
        for (int e = 0; e <= N; e++)
            for (int r = 0; r < rows; r++) {
                const float *a = hs + e * per + (size_t)r * H, *b = base + e * per + (size_t)r * H;
                int prompt_row = r >= pos && r < pos + L;
                if (e < l || r < pos || (e == l && !prompt_row)) { /* untouched, bit for bit */
                    cr_assert(!memcmp(a, b, (size_t)H * sizeof *a), "layer %d's block changed entry %d row %d", l, e,
                              r);
                } else if (e == l) { /* exactly A_l·z_l added */
                    const float *add = dp + (size_t)l * rows_lh + (size_t)(r - pos) * H;
                    for (int h = 0; h < H; h++)
                        cr_assert(fabsf(a[h] - b[h] - add[h]) <= 1e-5f * (1 + fabsf(b[h])),
                                  "entry %d row %d dim %d: %g - %g is not A_l·z_l = %g", e, r, h, a[h], b[h], add[h]);
                } else if (e == l + 1 && r >= pos + L) { /* it reaches the rows after the prompt (some of them:
                                                              a row may attend to BOS alone, within rounding) */
                    reached += memcmp(a, b, (size_t)H * sizeof *a) != 0;
                } else if (e == l + 1) {
                    cr_assert(memcmp(a, b, (size_t)H * sizeof *a), "layer %d's block did not reach entry %d row %d", l,
                              e, r);
                }
            }
        cr_assert(reached > 0, "layer %d's block reached no row after the prompt at the next layer", l);
        free(hs), free(z), free(w);
    }
    free(base), free(p), free(dp), free(p0), free(zero_deep);
    close_fixture(&f);
}

/* σ̂_l by a second, plain computation: every entry of layer l's input over the training set, clipped five times. */
static double plain_clipped_std(fixture *f, int l)
{
    const lm_info *info = f->sc.info;
    int H = info->hidden, L = f->cfg.prompt_len;
    float *prompt = xcalloc((size_t)L * H, sizeof *prompt);
    double *v = NULL;
    size_t n = 0;
    for (int i = 0; i < f->etrain.n; i++) {
        lm_seq q = f->etrain.seqs[i];
        q.prompt = 0;
        int rows = q.n;
        float *hs = xmalloc((size_t)(info->layers + 1) * rows * H * sizeof *hs);
        lm_batch b = {1, L, prompt, NULL, 1, &q, 0, NULL, 0, 0};
        cr_assert_eq(lm_hidden_states(f->sc.model, &b, 0, hs), LM_OK);
        v = xrealloc(v, (n + (size_t)rows * H) * sizeof *v);
        for (size_t k = 0; k < (size_t)rows * H; k++)
            v[n + k] = hs[(size_t)l * rows * H + k];
        n += (size_t)rows * H;
        free(hs);
    }
    for (int round = 0; round < 6; round++) {
        double s = 0, s2 = 0;
        for (size_t k = 0; k < n; k++)
            s += v[k];
        double mu = s / (double)n;
        for (size_t k = 0; k < n; k++)
            s2 += (v[k] - mu) * (v[k] - mu);
        double sd = sqrt(s2 / (double)n);
        if (round == 5) {
            free(v), free(prompt);
            return sd;
        }
        for (size_t k = 0; k < n; k++)
            v[k] = fmin(fmax(v[k], mu - 3 * sd), mu + 3 * sd);
    }
    return NAN;
}

Test(deep, layer_scales_are_clipped_hidden_state_stds)
{
    fixture f;
    open_fixture(&f, 1, LM_F32, LM_PROMPT_ADD);
    cr_assert_eq(f.sc.deep->layer_std[0], f.sc.embedding_std);
    for (int l = 1; l < f.cfg.deep_layers; l++) {
        double want = plain_clipped_std(&f, l), got = f.sc.deep->layer_std[l];
        cr_assert(fabs(got - want) <= 1e-9 * want, "σ̂_%d = %.17g, computed again %.17g", l, got, want);
        double s = f.cfg.alpha * got / (sqrt((double)f.cfg.dim) * f.cfg.sigma0);
        cr_assert(fabs(f.sc.deep->proj[l - 1].scale - s) <= 1e-15 * s, "A_%d's scale", l);
    }
    /* deep.json gives the same numbers back (what --resume, eval and predict use) */
    deep_prompt *again;
    bbt_error err;
    cr_assert_eq(deep_open(&again, &f.cfg, f.sc.model, NULL, f.sc.embedding_std, f.dir, &err), 0, "%s", err.msg);
    cr_assert(!memcmp(again->layer_std, f.sc.deep->layer_std, (size_t)f.cfg.deep_layers * sizeof(double)));
    for (int l = 1; l < f.cfg.deep_layers; l++)
        cr_assert(!memcmp(again->proj[l - 1].A, f.sc.deep->proj[l - 1].A,
                          (size_t)again->rows * again->dim * sizeof(float)));
    /* and each A_l is its own draw */
    cr_assert(memcmp(f.sc.deep->proj[0].A, f.sc.proj.A, (size_t)again->rows * again->dim * sizeof(float)));
    deep_free(again);
    close_fixture(&f);
}

/* ---- the optimizer ---- */

static tune_config deep_config(int layers)
{
    tune_config c;
    tune_config_init(&c);
    c.deep = 1;
    c.deep_layers = layers;
    c.dim = 6;
    c.popsize = 4;
    c.sigma0 = 0.3;
    c.budget = 1000;
    return c;
}

static void losses_of(const double *x, int count, int zdim, double *f)
{
    for (int i = 0; i < count; i++) {
        f[i] = 0;
        for (int k = 0; k < zdim; k++)
            f[i] += (x[(size_t)i * zdim + k] - 0.5) * (x[(size_t)i * zdim + k] - 0.5);
    }
}

Test(deep, optimizer_goes_round_the_layers_and_resumes_exactly)
{
    tune_config c = deep_config(3);
    int zdim = deep_zdim(&c), d = c.dim;
    cr_assert_eq(zdim, 18);
    bbt_error err;
    optimizer a;
    cr_assert_eq(optimizer_open(&a, &c, NULL, 0, &err), 0, "%s", err.msg);
    double *best = xcalloc((size_t)zdim, sizeof *best), bestf[3] = {INFINITY, INFINITY, INFINITY}, f[4];
    for (int g = 0; g < 7; g++) {
        const double *x;
        int count;
        cr_assert_eq(optimizer_ask(&a, &x, &count, &err), 0, "%s", err.msg);
        cr_assert_eq(count, 4);
        int layer = g % 3;
        for (int i = 0; i < count; i++)
            for (int l = 0; l < 3; l++)
                if (l != layer)
                    cr_assert(!memcmp(x + (size_t)i * zdim + l * d, best + l * d, (size_t)d * sizeof *x),
                              "generation %d moved layer %d, not only %d", g, l, layer);
        losses_of(x, count, zdim, f);
        int bi = 0;
        for (int i = 1; i < count; i++)
            bi = f[i] < f[bi] ? i : bi;
        if (f[bi] < bestf[layer]) {
            bestf[layer] = f[bi];
            memcpy(best + layer * d, x + (size_t)bi * zdim + layer * d, (size_t)d * sizeof *best);
        }
        cr_assert_eq(optimizer_tell(&a, f, &err), 0, "%s", err.msg);
        optimizer_report r;
        optimizer_get_report(&a, &r);
        cr_assert_eq(r.deep_layer, layer + 1);
        cr_assert_not_null(r.mean);
    }
    unsigned char *blob;
    size_t len;
    cr_assert_eq(optimizer_save(&a, &blob, &len, &err), 0, "%s", err.msg);
    optimizer b;
    cr_assert_eq(optimizer_open(&b, &c, blob, len, &err), 0, "%s", err.msg);
    for (int g = 0; g < 4; g++) {
        const double *xa, *xb;
        int na, nb;
        cr_assert_eq(optimizer_ask(&a, &xa, &na, &err), 0);
        cr_assert_eq(optimizer_ask(&b, &xb, &nb, &err), 0);
        cr_assert(na == nb && !memcmp(xa, xb, (size_t)na * zdim * sizeof *xa), "the restored state asks otherwise");
        losses_of(xa, na, zdim, f);
        cr_assert_eq(optimizer_tell(&a, f, &err), 0);
        cr_assert_eq(optimizer_tell(&b, f, &err), 0);
    }
    /* a state for another shape, or a shallow run's, is refused with a message */
    tune_config other = deep_config(2);
    optimizer bad;
    cr_assert_eq(optimizer_open(&bad, &other, blob, len, &err), -1);
    cr_assert(strstr(err.msg, "does not match"), "%s", err.msg);
    cr_assert_eq(optimizer_open(&bad, &c, blob, len - 1, &err), -1);
    free(blob);
    free(best);
    optimizer_close(&a);
    optimizer_close(&b);
    tune_config_free(&c);
    tune_config_free(&other);
}
