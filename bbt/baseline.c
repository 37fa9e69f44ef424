/* baseline.c — the untuned baselines (see baseline.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/baseline.h"
#include "bbt/files.h"
#include "bbt/icl.h"
#include "bbt/remote_client.h"
#include "bbt/scorer.h"
#include "bbt/util.h"

enum { SPLIT_TRAIN, SPLIT_DEV, SPLIT_TEST, N_SPLITS };
static const char *const split_names[N_SPLITS] = {"train", "dev", "test"};

/* The splits, read and encoded, and what the model made of them. */
typedef struct split {
    int present;
    dataset data;
    encoded_set enc;
    int plain_truncated;  /* examples shortened without demonstrations (icl compares) */
    double loss, acc, f1, metric;
} split;

typedef struct baseline {
    tune_config cfg;      /* the run as scored: no prompt */
    scorer sc;
    split sp[N_SPLITS];
    icl_demos demos;
    double t0;
} baseline;

static void baseline_free(baseline *b)
{
    for (int i = 0; i < N_SPLITS; i++) {
        encoded_set_free(&b->sp[i].enc);
        dataset_free(&b->sp[i].data);
    }
    icl_demos_free(&b->demos);
    scorer_close(&b->sc);
    tune_config_free(&b->cfg);
}

static int encode_splits(baseline *b, bbt_error *err)
{
    for (int i = 0; i < N_SPLITS; i++) {
        split *s = &b->sp[i];
        encoded_set_free(&s->enc);
        if (s->present && encode_dataset(b->sc.model, &b->sc.task, &s->data, &b->sc.enc, &s->enc, err))
            return -1;
    }
    return 0;
}

static int load_splits(baseline *b, bbt_error *err)
{
    const char *paths[N_SPLITS] = {b->cfg.train, b->cfg.dev, b->cfg.test};
    for (int i = 0; i < N_SPLITS; i++) {
        if (!paths[i])
            continue;
        if (dataset_load(&b->sp[i].data, paths[i], &b->sc.task, DATA_NEED_LABELS, err))
            return -1;
        b->sp[i].present = 1;
    }
    if (encode_splits(b, err))
        return -1;
    for (int i = 0; i < N_SPLITS; i++)
        b->sp[i].plain_truncated = b->sp[i].enc.n_truncated;
    return 0;
}

/* The demonstrations must fit beside this share of the examples (of every split); the few longer ones lose words from
 * their end instead (summary.json counts them). Fitting beside the very longest would leave no room at all whenever a
 * split holds one example that alone fills the context, as RTE's and AG's News's test sets do on a 512-position model. */
#define ICL_FIT_SHARE 0.95

/* Examples of split s that may lose words to the demonstrations. */
static int allowed_truncations(const split *s)
{
    return (int)((1.0 - ICL_FIT_SHARE) * s->enc.n);
}

/* 1 when the demonstrations cost more examples words than allowed. */
static int demos_truncate(const baseline *b)
{
    for (int i = 0; i < N_SPLITS; i++)
        if (b->sp[i].present &&
            b->sp[i].enc.n_truncated - b->sp[i].plain_truncated > allowed_truncations(&b->sp[i]))
            return 1;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The length (tokens) that ICL_FIT_SHARE of each split's examples do not exceed: the largest over the splits. */
static int fitted_length(const baseline *b)
{
    int longest = 0;
    for (int i = 0; i < N_SPLITS; i++) {
        const encoded_set *e = &b->sp[i].enc;
        if (!b->sp[i].present || e->n == 0)
            continue;
        int *len = xmalloc((size_t)e->n * sizeof *len);
        for (int k = 0; k < e->n; k++)
            len[k] = e->seqs[k].n;
        qsort(len, (size_t)e->n, sizeof *len, cmp_int);
        int at = e->n - 1 - allowed_truncations(&b->sp[i]);
        if (len[at] > longest)
            longest = len[at];
        free(len);
    }
    return longest;
}

/* Put the demonstrations in front of the task's pristine causal template (source), and encode every split again. */
static int apply_demos(baseline *b, const char *source, bbt_error *err)
{
    task *t = &b->sc.task;
    template_spec fresh;
    if (template_parse(&fresh, source, t->pair, err))
        return -1;
    for (int i = 0; i < t->causal.n_parts; i++)
        free(t->causal.parts[i].literal);
    free(t->causal.parts);
    free(t->causal.source);
    t->causal = fresh;
    icl_prepend(t, b->demos.text);
    return encode_splits(b, err);
}

static int choose_demos(baseline *b, bbt_error *err)
{
    const lm_info *info = b->sc.info;
    if (info->kind != LM_CAUSAL)
        return bbt_fail(err, "--baseline icl is for causal LMs; %s is a masked LM (it reads one <mask>)", b->cfg.model);
    int room = info->max_pos - b->sc.enc.reserve - fitted_length(b);
    if (icl_choose(b->sc.model, &b->sc.task, &b->sp[SPLIT_TRAIN].data, b->sc.enc.label_space, (uint64_t)b->cfg.seed,
                   room, &b->demos, err))
        return -1;
    char *source = xstrdup(b->sc.task.causal.source);
    int rc = apply_demos(b, source, err);
    /* tokens at the joins may differ from the demonstrations' own count: give up demonstrations until few enough are cut */
    while (!rc && demos_truncate(b) &&
           !icl_drop_one(&b->demos, &b->sp[SPLIT_TRAIN].data, &b->sc.task, b->sc.enc.label_space))
        rc = apply_demos(b, source, err);
    free(source);
    return rc;
}

static int score_splits(baseline *b, bbt_error *err)
{
    int C = b->sc.labels.n;
    for (int i = 0; i < N_SPLITS; i++) {
        split *s = &b->sp[i];
        if (!s->present)
            continue;
        float *scores = xmalloc((size_t)s->enc.n * C * sizeof *scores);
        int rc = scorer_score(&b->sc, &s->enc, NULL, 1, scores, err);
        if (!rc) {
            scorer_losses(&b->sc, &s->enc, scores, 1, &s->loss);
            s->acc = metric_accuracy(scores, s->enc.labels, s->enc.n, C);
            s->f1 = metric_task_f1(scores, s->enc.labels, s->enc.n, C, b->sc.task.positive_class);
            s->metric = scorer_metric(&b->sc, &s->enc, scores);
        }
        free(scores);
        if (rc)
            return bbt_prefix(err, "%s split: ", split_names[i]);
    }
    return 0;
}

static void add_number_or_null(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

/* summary.json: a tuned run's fields (so that the benchmark reads both alike), and the baseline's own. */
static cJSON *summary_json(const tune_config *cfg, const baseline *b)
{
    int f1 = b->sc.task.metric == METRIC_F1, has_test = b->sp[SPLIT_TEST].present;
    const char *f1_name = metric_f1_name(b->sc.labels.n); /* "macro_f1" for more than two classes, as tuned runs say */
    const split *tr = &b->sp[SPLIT_TRAIN], *dv = &b->sp[SPLIT_DEV], *te = &b->sp[SPLIT_TEST];
    char key[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", b->sc.task.name);
    cJSON_AddStringToObject(o, "model", cfg->endpoint ? cfg->endpoint : cfg->model);
    cJSON_AddNumberToObject(o, "seed", cfg->seed);
    cJSON_AddStringToObject(o, METHOD_KEY, tune_config_method(cfg));
    cJSON_AddStringToObject(o, "baseline", tune_config_name(cfg, "baseline"));
    cJSON_AddStringToObject(o, "optimizer", "none");
    cJSON_AddNumberToObject(o, "budget", 0);
    cJSON_AddNumberToObject(o, "evals", 0);
    cJSON_AddNumberToObject(o, "train_loss_initial", tr->loss);
    cJSON_AddNumberToObject(o, "train_loss_best", tr->loss);
    cJSON_AddNumberToObject(o, "train_acc", tr->acc);
    snprintf(key, sizeof key, "train_%s", f1_name);
    if (f1)
        cJSON_AddNumberToObject(o, key, tr->f1);
    cJSON_AddNumberToObject(o, "dev_loss", dv->loss);
    cJSON_AddNumberToObject(o, "dev_acc", dv->acc);
    snprintf(key, sizeof key, "dev_%s", f1_name);
    if (f1)
        cJSON_AddNumberToObject(o, key, dv->f1);
    add_number_or_null(o, "test_acc", has_test ? te->acc : NAN);
    snprintf(key, sizeof key, "test_%s", f1_name);
    if (f1)
        add_number_or_null(o, key, has_test ? te->f1 : NAN);
    add_number_or_null(o, "untuned_test_acc", has_test ? te->acc : NAN);
    snprintf(key, sizeof key, "untuned_test_%s", f1_name);
    if (f1)
        add_number_or_null(o, key, has_test ? te->f1 : NAN);
    cJSON_AddNumberToObject(o, "untuned_dev_metric", dv->metric);
    cJSON_AddStringToObject(o, "dev_metric_name", f1 ? f1_name : "acc");
    cJSON_AddStringToObject(o, "kept_prompt", "none");
    cJSON_AddNumberToObject(o, "kept_at_evals", 0);
    cJSON_AddStringToObject(o, "stop", "baseline");
    cJSON *trunc = cJSON_AddObjectToObject(o, "truncated_examples");
    for (int i = 0; i < N_SPLITS; i++)
        if (b->sp[i].present)
            cJSON_AddNumberToObject(trunc, split_names[i], b->sp[i].enc.n_truncated);
    if (cfg->baseline == BASELINE_ICL) {
        cJSON_AddNumberToObject(o, "demonstrations", b->demos.n);
        cJSON_AddNumberToObject(o, "demonstration_tokens", b->demos.n_tokens);
        cJSON *lines = cJSON_AddArrayToObject(o, "demonstration_lines");
        for (int i = 0; i < b->demos.n; i++)
            cJSON_AddItemToArray(lines, cJSON_CreateNumber(tr->data.ex[b->demos.index[i]].line));
    }
    double wall = now_seconds() - b->t0;
    cJSON_AddNumberToObject(o, "wall_s", wall);
    cJSON_AddNumberToObject(o, "forward_s", b->sc.forward_s);
    cJSON_AddNumberToObject(o, "other_s", wall - b->sc.forward_s);
    remote_cost_add(o, b->sc.model);
    cJSON_AddNumberToObject(o, "evals_per_s", 0);
    return o;
}

static int write_text_file(const char *dir, const char *name, const char *text, bbt_error *err)
{
    char *path = path_join(dir, name);
    int rc = write_file_atomic(path, text, strlen(text), err);
    free(path);
    return rc;
}

int baseline_run(const tune_config *cfg, const char *dir, char **summary, bbt_error *err)
{
    *summary = NULL;
    baseline b;
    memset(&b, 0, sizeof b);
    b.t0 = now_seconds();
    tune_config_copy(&b.cfg, cfg);
    b.cfg.prompt_mode = LM_PROMPT_NONE; /* no soft prompt at all: not even the placeholders */
    b.cfg.prompt_len = 0;
    config_set(&b.cfg.init_prompt, NULL);
    tune_config written;
    tune_config_copy(&written, cfg);
    int rc = scorer_open(&b.sc, &b.cfg, err) || load_splits(&b, err);
    if (!rc) {
        written.label_space = b.sc.enc.label_space; /* "auto" resolved: config.json says what was run */
        char *json = tune_config_to_json(&written);
        rc = write_text_file(dir, "config.json", json, err);
        free(json);
    }
    if (!rc && cfg->baseline == BASELINE_ICL)
        rc = choose_demos(&b, err) || write_text_file(dir, "demonstrations.txt", b.demos.text, err);
    if (!rc)
        rc = score_splits(&b, err);
    if (!rc) {
        cJSON *sum = summary_json(&written, &b);
        char *text = json_text(sum);
        cJSON_Delete(sum);
        rc = write_text_file(dir, "summary.json", text, err);
        if (!rc)
            *summary = text;
        else
            free(text);
    }
    tune_config_free(&written);
    baseline_free(&b);
    return rc ? -1 : 0;
}
