/* deep.c — BBTv2's per-layer projections: their scales (σ̂_l), deep.json, and the prompts of deep vectors z. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_statistics_double.h>

#include "bbt/deep.h"
#include "bbt/files.h"
#include "bbt/util.h"

#define DEEP_FORMAT "bbt-deep-1"
#define CLIP_ROUNDS 5   /* the reference clips the hidden states five times to μ ± 3σ before taking σ */
#define CLIP_SIGMAS 3.0

int deep_zdim(const tune_config *cfg)
{
    return cfg->deep ? cfg->deep_layers * cfg->dim : cfg->dim;
}

void deep_defaults(tune_config *cfg, int sigma0_given, int alpha_given)
{
    if (!cfg->deep)
        return;
    if (!sigma0_given)
        cfg->sigma0 = DEEP_SIGMA0_DEFAULT;
    if (!alpha_given)
        cfg->alpha = DEEP_ALPHA_DEFAULT;
}

int deep_resolve_layers(tune_config *cfg, int model_layers, bbt_error *err)
{
    if (!cfg->deep)
        return 0;
    if (cfg->deep_layers == 0)
        cfg->deep_layers = model_layers;
    if (cfg->deep_layers > model_layers)
        return bbt_fail(err, "--deep-layers %d: the model %s has %d layers", cfg->deep_layers, cfg->model,
                        model_layers);
    if ((double)cfg->deep_layers * cfg->dim > 1e7)
        return bbt_fail(err, "--deep-layers %d × --dim %d: more than 10^7 values to search", cfg->deep_layers,
                        cfg->dim);
    return 0;
}

/* σ of v after clipping it CLIP_ROUNDS times to μ ± 3σ of what it has become (v is changed). */
static double clipped_std(double *v, size_t n)
{
    for (int round = 0; round < CLIP_ROUNDS; round++) {
        double mu = gsl_stats_mean(v, 1, n), sd = gsl_stats_sd_with_fixed_mean(v, 1, n, mu);
        double lo = mu - CLIP_SIGMAS * sd, hi = mu + CLIP_SIGMAS * sd;
        for (size_t i = 0; i < n; i++)
            v[i] = v[i] < lo ? lo : v[i] > hi ? hi : v[i];
    }
    double mu = gsl_stats_mean(v, 1, n);
    return gsl_stats_sd_with_fixed_mean(v, 1, n, mu); /* population σ, as σ̂ of the embedding table */
}

/* Layers whose hidden states are held at once while measuring: the training set's rows of a group of layers fit in
 * this many bytes (a big model on a big training set runs its examples once per group instead of keeping every
 * layer's states). */
#define MEASURE_BYTES ((size_t)512 << 20)

/* Layers [l0, l1)'s input rows of every training sequence into vals (layer after layer, total_rows × H each). */
static int collect_hidden(lm *m, const lm_batch *train, const float *prompt, int l0, int l1, float *hs,
                          size_t total_rows, double *vals, bbt_error *err)
{
    int H = lm_get_info(m)->hidden, L = train->prompt_len;
    size_t at = 0;
    for (int i = 0; i < train->n_seqs; i++) {
        lm_seq q = train->seqs[i];
        q.prompt = 0;
        lm_batch b = {0};
        b.n_prompts = 1;
        b.prompt_len = L;
        b.prompts = prompt;
        b.n_seqs = 1;
        b.seqs = &q;
        if (lm_hidden_states(m, &b, 0, hs) != LM_OK)
            return bbt_fail(err, "BBTv2: hidden states of training example %d: %s", i + 1, lm_errmsg(m));
        size_t rows = (size_t)q.n + (q.mode == LM_PROMPT_CAT ? (size_t)L : 0), per = rows * H;
        for (int l = l0; l < l1; l++)
            for (size_t k = 0; k < per; k++)
                vals[(size_t)(l - l0) * total_rows * H + at + k] = hs[(size_t)l * per + k];
        at += per;
    }
    return 0;
}

/* The measurement on this process's model (a local engine, or bbt serve's on behalf of a client). */
static int measure_here(lm *m, const lm_batch *train, int layers, double *std, bbt_error *err)
{
    const lm_info *info = lm_get_info(m);
    int H = info->hidden, L = train->prompt_len;
    size_t total_rows = 0, max_rows = 0;
    for (int i = 0; i < train->n_seqs; i++) {
        size_t r = (size_t)train->seqs[i].n + (train->seqs[i].mode == LM_PROMPT_CAT ? (size_t)L : 0);
        total_rows += r;
        max_rows = r > max_rows ? r : max_rows;
    }
    size_t layer_bytes = total_rows * H * sizeof(double);
    int group = layer_bytes ? (int)(MEASURE_BYTES / layer_bytes) : 1;
    group = group < 1 ? 1 : group > layers ? layers : group;
    float *prompt = xcalloc((size_t)L * H, sizeof *prompt);
    if (train->prompts)
        memcpy(prompt, train->prompts, (size_t)L * H * sizeof *prompt);
    float *hs = xmalloc((size_t)(info->layers + 1) * max_rows * H * sizeof *hs);
    double *vals = xmalloc((size_t)group * total_rows * H * sizeof *vals);
    int rc = 0;
    for (int l0 = 1; l0 < layers && !rc; l0 += group) {
        int l1 = l0 + group < layers ? l0 + group : layers;
        rc = collect_hidden(m, train, prompt, l0, l1, hs, total_rows, vals, err);
        for (int l = l0; l < l1 && !rc; l++) {
            std[l] = clipped_std(vals + (size_t)(l - l0) * total_rows * H, total_rows * H);
            if (!(std[l] > 0) || !isfinite(std[l]))
                rc = bbt_fail(err, "BBTv2: layer %d's input hidden states have standard deviation %g; cannot scale "
                                   "A_%d", l, std[l], l);
        }
    }
    free(vals);
    free(hs);
    free(prompt);
    return rc;
}

int deep_measure_std(lm *m, const lm_batch *train, int layers, double *std, bbt_error *err)
{
    if (!lm_can_project(m))
        return measure_here(m, train, layers, std, err);
    /* bbt serve: its own model's hidden states, measured there by this file's measure_here (route_layer_std.c) */
    if (lm_layer_std(m, train, layers, std) != LM_OK)
        return bbt_fail(err, "BBTv2: measuring the layer scales σ̂_l: %s", lm_errmsg(m));
    return 0;
}

/* ---- deep.json ---- */

static cJSON *exact(double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v); /* 17 significant digits read back bit for bit */
    return cJSON_CreateRaw(buf);
}

static int write_deep_file(const char *dir, const tune_config *cfg, const double *std, bbt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", DEEP_FORMAT);
    cJSON_AddNumberToObject(o, "layers", cfg->deep_layers);
    cJSON_AddNumberToObject(o, "dim", cfg->dim);
    cJSON *a = cJSON_AddArrayToObject(o, "layer_std");
    for (int l = 0; l < cfg->deep_layers; l++)
        cJSON_AddItemToArray(a, exact(std[l]));
    char *text = json_text(o);
    cJSON_Delete(o);
    char *path = path_join(dir, DEEP_FILE);
    int rc = write_file_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    return rc;
}

static int read_deep_file(const char *dir, const tune_config *cfg, double *std, bbt_error *err)
{
    char *path = path_join(dir, DEEP_FILE);
    cJSON *o = read_json_object(path, "a BBTv2 run's layer scales", err);
    int rc = o ? 0 : -1;
    const cJSON *fmt = o ? cJSON_GetObjectItemCaseSensitive(o, "format") : NULL;
    const cJSON *layers = o ? cJSON_GetObjectItemCaseSensitive(o, "layers") : NULL;
    const cJSON *dim = o ? cJSON_GetObjectItemCaseSensitive(o, "dim") : NULL;
    const cJSON *a = o ? cJSON_GetObjectItemCaseSensitive(o, "layer_std") : NULL;
    if (!rc && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, DEEP_FORMAT)))
        rc = bbt_fail(err, "%s: field \"format\" is not \"%s\"", path, DEEP_FORMAT);
    if (!rc && (!cJSON_IsNumber(layers) || layers->valuedouble != cfg->deep_layers || !cJSON_IsNumber(dim) ||
                dim->valuedouble != cfg->dim))
        rc = bbt_fail(err, "%s: fields \"layers\" and \"dim\" must be the run's %d and %d", path, cfg->deep_layers,
                      cfg->dim);
    if (!rc && (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != cfg->deep_layers))
        rc = bbt_fail(err, "%s: field \"layer_std\" must be an array of %d numbers", path, cfg->deep_layers);
    int l = 0;
    for (const cJSON *v = rc ? NULL : a->child; v && !rc; v = v->next, l++) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
            rc = bbt_fail(err, "%s: field \"layer_std\"[%d] must be a positive number", path, l);
        else
            std[l] = v->valuedouble;
    }
    cJSON_Delete(o);
    free(path);
    return rc;
}

/* ---- the prompts ---- */

static deep_prompt *deep_alloc(const tune_config *cfg, const lm_info *info)
{
    deep_prompt *dp = xcalloc(1, sizeof *dp);
    dp->layers = cfg->deep_layers;
    dp->model_layers = info->layers;
    dp->dim = cfg->dim;
    dp->rows = cfg->prompt_len * info->hidden;
    dp->layer_std = xcalloc((size_t)dp->layers, sizeof *dp->layer_std);
    dp->proj = xcalloc((size_t)(dp->layers > 1 ? dp->layers - 1 : 1), sizeof *dp->proj);
    return dp;
}

int deep_layer_projection(projection *p, int rows, int dim, uint64_t seed, int layer, projection_kind kind,
                          double alpha, double sigma0, double layer_std, bbt_error *err)
{
    if (projection_init_stream(p, rows, dim, seed, PROJECTION_STREAM + (uint64_t)layer, kind, alpha, sigma0,
                               layer_std, NULL, err))
        return bbt_prefix(err, "BBTv2 layer %d: ", layer);
    return 0;
}

static int draw_projections(deep_prompt *dp, const tune_config *cfg, bbt_error *err)
{
    for (int l = 1; l < dp->layers; l++)
        if (deep_layer_projection(&dp->proj[l - 1], dp->rows, dp->dim, (uint64_t)cfg->seed, l, cfg->projection,
                                  cfg->alpha, cfg->sigma0, dp->layer_std[l], err))
            return -1;
    return 0;
}

/* A_1..A_{N−1} in memory: (N − 1)·L·H·d floats. */
#define MAX_DEEP_PROJECTION_BYTES ((size_t)16 << 30)

int deep_open(deep_prompt **out, const tune_config *cfg, lm *m, const lm_batch *train, double embedding_std,
              const char *dir, bbt_error *err)
{
    *out = NULL;
    if (!cfg->deep)
        return 0;
    const lm_info *info = lm_get_info(m);
    if (!strncmp(info->arch, "remote:", 7) && !lm_can_project(m))
        return bbt_fail(err, "BBTv2: %s takes input embeddings only (a vLLM or SGLang endpoint), not prompts at every "
                             "layer; BBTv2 runs remotely on bbt serve's native route", cfg->endpoint);
    if (cfg->deep_layers < 1 || cfg->deep_layers > info->layers)
        return bbt_fail(err, "BBTv2: deep_layers %d: the model has %d layers", cfg->deep_layers, info->layers);
    size_t bytes = (size_t)(cfg->deep_layers - 1) * (size_t)cfg->prompt_len * (size_t)info->hidden *
                   (size_t)cfg->dim * sizeof(float);
    if (bytes > MAX_DEEP_PROJECTION_BYTES)
        return bbt_fail(err, "BBTv2: the projections A_1..A_%d would take %.1f GiB; lower --deep-layers, --dim or "
                             "--prompt-len",
                        cfg->deep_layers - 1, (double)bytes / (1 << 30));
    deep_prompt *dp = deep_alloc(cfg, info);
    dp->layer_std[0] = embedding_std;
    int rc = train ? deep_measure_std(m, train, dp->layers, dp->layer_std, err) ||
                         write_deep_file(dir, cfg, dp->layer_std, err)
                   : read_deep_file(dir, cfg, dp->layer_std, err);
    if (!rc)
        rc = draw_projections(dp, cfg, err);
    if (rc) {
        deep_free(dp);
        return -1;
    }
    *out = dp;
    return 0;
}

void deep_free(deep_prompt *dp)
{
    if (!dp)
        return;
    for (int l = 1; l < dp->layers; l++)
        projection_free(&dp->proj[l - 1]);
    free(dp->proj);
    free(dp->layer_std);
    free(dp);
}

/* Block l of count deep vectors, contiguous (count × d). */
static void gather_block(int layers, int dim, const double *z, int count, int l, double *out)
{
    size_t d = (size_t)dim, zdim = (size_t)layers * d;
    for (int c = 0; c < count; c++)
        memcpy(out + (size_t)c * d, z + (size_t)c * zdim + (size_t)l * d, d * sizeof *out);
}

void deep_apply_projections(const projection *const *proj, int layers, int model_layers, const double *z, int count,
                            float *prompts, float *deep)
{
    int dim = proj[0]->dim;
    size_t rows = (size_t)proj[0]->rows, per = (size_t)model_layers * rows;
    double *block = xmalloc((size_t)count * dim * sizeof *block);
    float *layer = xmalloc((size_t)count * rows * sizeof *layer);
    gather_block(layers, dim, z, count, 0, block);
    projection_apply(proj[0], block, count, prompts);
    memset(deep, 0, (size_t)count * per * sizeof *deep);
    for (int l = 1; l < layers; l++) {
        gather_block(layers, dim, z, count, l, block);
        projection_apply(proj[l], block, count, layer);
        for (int c = 0; c < count; c++)
            memcpy(deep + (size_t)c * per + (size_t)l * rows, layer + (size_t)c * rows, rows * sizeof *deep);
    }
    free(layer);
    free(block);
}

void deep_apply(const deep_prompt *dp, const projection *proj0, const double *z, int count, float *prompts,
                float *deep)
{
    const projection **proj = xmalloc((size_t)dp->layers * sizeof *proj);
    proj[0] = proj0;
    for (int l = 1; l < dp->layers; l++)
        proj[l] = &dp->proj[l - 1];
    deep_apply_projections(proj, dp->layers, dp->model_layers, z, count, prompts, deep);
    free(proj);
}

void deep_layer_prompt(const deep_prompt *dp, const double *z, int layer, float *out)
{
    projection_apply(&dp->proj[layer - 1], z + (size_t)layer * dp->dim, 1, out);
}
