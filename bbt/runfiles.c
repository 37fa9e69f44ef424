/* runfiles.c — prompt.json, prompt.safetensors and summary.json; what makes a directory a run. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "bbt/deep.h"
#include "bbt/files.h"
#include "bbt/prompt_file.h"
#include "bbt/remote_client.h"
#include "bbt/runfiles.h"
#include "bbt/util.h"
#include "models/safetensors.h"
#include "optim/cmaes.h"

#define PROMPT_FORMAT "bbt-prompt-1"

static int write_json(const char *dir, const char *name, cJSON *root, char **text_out, bbt_error *err)
{
    char *text = json_text(root);
    char *path = path_join(dir, name);
    int rc = write_file_atomic(path, text, strlen(text), err);
    free(path);
    if (text_out && !rc)
        *text_out = text;
    else
        free(text);
    return rc;
}

/* A number that reads back bit for bit: the shortest of 15, 16 or 17 significant digits that strtod turns back into
 * the same double. (cJSON's own printing accepts a 15-digit text that reads back within an ulp, which lost the last
 * bit of about one z entry in ten.) Not finite: null. */
static cJSON *exact_number(double v)
{
    if (!isfinite(v))
        return cJSON_CreateNull();
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return cJSON_CreateRaw(buf);
}

static cJSON *exact_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, exact_number(v[i]));
    return a;
}

static cJSON *prompt_json(const tune_config *cfg, const scorer *s, const run_results *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", PROMPT_FORMAT);
    cJSON_AddStringToObject(root, METHOD_KEY, tune_config_method(cfg));
    cJSON_AddStringToObject(root, "model", cfg->model);
    cJSON_AddStringToObject(root, "task", s->task.name);
    cJSON_AddNumberToObject(root, "seed", cfg->seed);
    cJSON_AddNumberToObject(root, "dim", cfg->dim);
    cJSON_AddNumberToObject(root, "prompt_len", cfg->prompt_len);
    cJSON_AddNumberToObject(root, "hidden", s->info->hidden);
    cJSON_AddStringToObject(root, "prompt_mode", tune_config_name(cfg, "prompt_mode"));
    cJSON_AddStringToObject(root, "projection", tune_config_name(cfg, "projection"));
    cJSON_AddNumberToObject(root, "alpha", cfg->alpha);
    cJSON_AddNumberToObject(root, "sigma0", cfg->sigma0);
    cJSON_AddItemToObject(root, "embedding_std", exact_number(s->embedding_std));
    cJSON_AddItemToObject(root, "projection_scale", exact_number(s->proj.scale));
    if (s->placeholders)
        cJSON_AddItemToObject(root, "placeholders", cJSON_CreateIntArray(s->placeholders, cfg->prompt_len));
    cJSON_AddItemToObject(root, "init_prompt", cfg->init_prompt ? cJSON_CreateString(cfg->init_prompt) : cJSON_CreateNull());
    cJSON_AddStringToObject(root, "source", r->source);
    cJSON_AddNumberToObject(root, "found_at_evals", (double)r->best_dev_evals);
    cJSON_AddNumberToObject(root, "dev_metric", r->dev_metric);
    if (s->deep) { /* z is N blocks of d; A_l's scale is layer_std[l] in place of embedding_std (bbt/deep.h) */
        cJSON_AddNumberToObject(root, "deep_layers", s->deep->layers);
        cJSON_AddItemToObject(root, "layer_std", exact_array(s->deep->layer_std, s->deep->layers));
    }
    cJSON_AddItemToObject(root, "z", exact_array(r->best_z, deep_zdim(cfg)));
    return root;
}

/* BBTv2's dense prompts: "prompt" as BBT's (layer 0), then "layer.<l>" = A_l·z_l, what is added to layer l's input
 * hidden states at the prompt rows, for l = 1 .. N−1. */
static int write_deep_prompt(const char *path, const scorer *s, const float *p, const double *z, int L, int H,
                             bbt_error *err)
{
    int n = s->deep->layers;
    st_out *t = xcalloc((size_t)n, sizeof *t);
    char(*names)[32] = xcalloc((size_t)n, sizeof *names);
    float *deep = xmalloc((size_t)n * L * H * sizeof *deep);
    for (int l = 0; l < n; l++) {
        if (l == 0)
            snprintf(names[l], sizeof names[l], "%s", PROMPT_TENSOR);
        else {
            snprintf(names[l], sizeof names[l], "layer.%d", l);
            deep_layer_prompt(s->deep, z, l, deep + (size_t)l * L * H);
        }
        t[l] = (st_out){names[l], ST_F32, 2, {L, H}, l == 0 ? p : deep + (size_t)l * L * H};
    }
    char msg[512];
    int rc = st_write(path, t, n, msg, sizeof msg) ? bbt_fail(err, "%s", msg) : 0;
    free(deep);
    free(names);
    free(t);
    return rc;
}

/* The dense prompt p = A·z + p0 (what it is to each kind of model: runfiles.h). */
static int write_dense_prompt(const char *dir, const tune_config *cfg, const scorer *s, const double *z, bbt_error *err)
{
    int H = s->info->hidden, L = cfg->prompt_len;
    float *p = xmalloc((size_t)L * H * sizeof *p);
    projection_apply(&s->proj, z, 1, p); /* BBTv2: z's first block is z_0, and this is layer 0's prompt */
    if (s->placeholders) { /* add mode: p0 is the placeholders' rows of the embedding table */
        const float *emb = lm_embeddings(s->model);
        for (int i = 0; i < L; i++)
            for (int h = 0; h < H; h++)
                p[(size_t)i * H + h] += emb[(size_t)s->placeholders[i] * H + h];
    }
    char *path = path_join(dir, "prompt.safetensors");
    int rc = s->deep ? write_deep_prompt(path, s, p, z, L, H, err) : prompt_file_write(path, p, L, H, err);
    free(path);
    free(p);
    return rc;
}

static void add_number_or_null(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

const char *const run_split_names[RUN_N_SPLITS] = {"train", "dev", "test"};

/* "data": {"train": {"path": …, "examples": N, "blank": N, "truncated": N}, "dev": {…}, "test": {…} or null} */
static cJSON *data_json(const run_results *r)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < RUN_N_SPLITS; i++) {
        const run_split *sp = &r->splits[i];
        if (!sp->path) {
            cJSON_AddNullToObject(o, run_split_names[i]);
            continue;
        }
        cJSON *d = cJSON_AddObjectToObject(o, run_split_names[i]);
        cJSON_AddStringToObject(d, "path", sp->path);
        cJSON_AddNumberToObject(d, "examples", sp->examples);
        cJSON_AddNumberToObject(d, "blank", sp->blank);
        cJSON_AddNumberToObject(d, "truncated", sp->truncated);
    }
    return o;
}

static cJSON *summary_json(const tune_config *cfg, const scorer *s, const run_results *r)
{
    int f1 = s->task.metric == METRIC_F1;
    const char *f1_name = metric_f1_name(s->labels.n); /* "macro_f1" for more than two classes */
    char key[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", s->task.name);
    cJSON_AddStringToObject(o, "model", cfg->model);
    cJSON_AddNumberToObject(o, "seed", cfg->seed);
    cJSON_AddStringToObject(o, METHOD_KEY, tune_config_method(cfg));
    if (cfg->deep)
        cJSON_AddNumberToObject(o, "deep_layers", cfg->deep_layers);
    cJSON_AddStringToObject(o, "optimizer", tune_config_name(cfg, "optimizer"));
    cJSON_AddNumberToObject(o, "budget", (double)cfg->budget);
    cJSON_AddNumberToObject(o, "evals", (double)r->evals);
    cJSON_AddNumberToObject(o, "train_loss_initial", r->train_loss_initial);
    cJSON_AddNumberToObject(o, "train_loss_best", r->train_loss_best);
    cJSON_AddNumberToObject(o, "dev_acc", r->dev_acc);
    snprintf(key, sizeof key, "dev_%s", f1_name);
    if (f1)
        cJSON_AddNumberToObject(o, key, r->dev_f1);
    add_number_or_null(o, "test_acc", r->has_test ? r->test_acc : NAN);
    snprintf(key, sizeof key, "test_%s", f1_name);
    if (f1)
        add_number_or_null(o, key, r->has_test ? r->test_f1 : NAN);
    add_number_or_null(o, "untuned_test_acc", r->has_test ? r->untuned_test_acc : NAN);
    snprintf(key, sizeof key, "untuned_test_%s", f1_name);
    if (f1)
        add_number_or_null(o, key, r->has_test ? r->untuned_test_f1 : NAN);
    cJSON_AddNumberToObject(o, "untuned_dev_metric", r->untuned_dev);
    cJSON_AddStringToObject(o, "dev_metric_name", f1 ? f1_name : "acc");
    cJSON_AddStringToObject(o, "kept_prompt", r->source);
    cJSON_AddNumberToObject(o, "kept_at_evals", (double)r->best_dev_evals);
    char stop[256];
    cmaes_stop_describe(r->stop_bits, stop, sizeof stop);
    cJSON_AddStringToObject(o, "stop", r->stop_bits ? stop : "budget");
    cJSON_AddNumberToObject(o, "wall_s", r->wall_s);
    cJSON_AddNumberToObject(o, "forward_s", r->forward_s);
    cJSON_AddNumberToObject(o, "other_s", r->wall_s - r->forward_s);
    remote_cost_add(o, s->model);
    cJSON_AddNumberToObject(o, "evals_per_s", r->wall_s > 0 ? (double)r->evals / r->wall_s : 0);
    cJSON_AddItemToObject(o, "data", data_json(r));
    return o;
}

int runfiles_write_results(const char *dir, const tune_config *cfg, scorer *s, const run_results *r, char **summary,
                           bbt_error *err)
{
    cJSON *prompt = prompt_json(cfg, s, r);
    int rc = write_json(dir, "prompt.json", prompt, NULL, err);
    cJSON_Delete(prompt);
    if (!rc)
        rc = write_dense_prompt(dir, cfg, s, r->best_z, err);
    if (!rc) {
        cJSON *sum = summary_json(cfg, s, r);
        rc = write_json(dir, "summary.json", sum, summary, err);
        cJSON_Delete(sum);
    }
    return rc;
}

static int check_prompt_fields(const cJSON *root, const tune_config *cfg, const char *path, bbt_error *err)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, PROMPT_FORMAT))
        return bbt_fail(err, "%s: field \"format\" is not \"%s\"", path, PROMPT_FORMAT);
    const char *ints[] = {"seed", "dim", "prompt_len"};
    const int want[] = {cfg->seed, cfg->dim, cfg->prompt_len};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, ints[i]);
        if (!cJSON_IsNumber(v) || v->valuedouble != want[i])
            return bbt_fail(err, "%s: field \"%s\" does not match the run's config.json (%d)", path, ints[i], want[i]);
    }
    return 0;
}

int runfiles_read_prompt(const char *dir, const tune_config *cfg, double **z, bbt_error *err)
{
    *z = NULL;
    char *path = path_join(dir, "prompt.json");
    cJSON *root = read_json_object(path, "a prompt written by bbt tune", err);
    int rc = root ? check_prompt_fields(root, cfg, path, err) : -1;
    const cJSON *zs = root ? cJSON_GetObjectItemCaseSensitive(root, "z") : NULL;
    int zdim = deep_zdim(cfg);
    if (!rc && (!cJSON_IsArray(zs) || cJSON_GetArraySize(zs) != zdim))
        rc = bbt_fail(err, "%s: field \"z\" must be an array of %d numbers", path, zdim);
    if (!rc) {
        *z = xmalloc((size_t)zdim * sizeof **z);
        int i = 0;
        for (const cJSON *v = zs->child; v && !rc; v = v->next, i++) {
            if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= FLT_MAX))
                rc = bbt_fail(err, "%s: field \"z\"[%d] is not a number a prompt can hold (finite, |z| <= %g)", path, i,
                              FLT_MAX);
            else
                (*z)[i] = v->valuedouble;
        }
        if (rc) {
            free(*z);
            *z = NULL;
        }
    }
    cJSON_Delete(root);
    free(path);
    return rc;
}

int runfiles_check_run_dir(const char *dir, bbt_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return bbt_fail(err, "%s: no such run directory (%s)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bbt_fail(err, "%s: a file, not a run directory", dir);
    char *config = path_join(dir, "config.json");
    int has_config = stat(config, &st) == 0;
    free(config);
    if (!has_config)
        return bbt_fail(err, "%s is not a run directory: it has no config.json (bbt tune --out DIR makes one)", dir);
    return 0;
}
