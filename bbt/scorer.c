/* scorer.c — from a run's configuration to scores of examples under candidate prompts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/prompt_file.h"
#include "bbt/scorer.h"
#include "bbt/util.h"

static const char *const endpoint_kind_names[] = {NULL, "bbt", "vllm", "sglang"};

static int open_model(scorer *s, const tune_config *cfg, bbt_error *err)
{
    lm_options o = {0};
    o.threads = cfg->threads;
    o.dtype = cfg->dtype;
    if (cfg->endpoint) { /* the key is never part of the configuration: the process's $BBT_API_KEY (cmd_tune sets it
                            from --api-key / --api-key-file) */
        o.api_key = getenv("BBT_API_KEY");
        o.remote_kind = endpoint_kind_names[cfg->endpoint_kind];
        o.timeout_s = cfg->timeout;
        o.retries = cfg->retries > 0 ? cfg->retries : -1;
        o.max_inflight = cfg->max_inflight;
        o.request_seqs = cfg->request_seqs;
        o.embeddings_dir = cfg->embeddings;
        o.endpoint_model = cfg->endpoint_model;
        o.wire = cfg->wire == LM_F32 ? LM_WIRE_F32 : LM_WIRE_BF16;
    }
    char msg[1024];
    int rc = lm_open(&s->model, cfg->endpoint ? cfg->endpoint : cfg->model, &o, msg, sizeof msg);
    if (rc != LM_OK)
        return bbt_fail(err, "%s", msg);
    s->info = lm_get_info(s->model);
    return 0;
}

static int open_task(scorer *s, const tune_config *cfg, bbt_error *err)
{
    if (cfg->task ? task_builtin(&s->task, cfg->task, err) : task_load_json(&s->task, cfg->task_file, err))
        return -1;
    int masked = s->info->kind == LM_MASKED;
    const char *why = masked ? s->task.no_masked : s->task.no_causal;
    if (why)
        return bbt_fail(err, "task %s cannot run on %s, a %s LM: %s", s->task.name, cfg->model,
                        masked ? "masked" : "causal", why);
    return 0;
}

/* A causal LM whose label words are one token each (or scored by their first token) needs only the label logits. */
static int labels_single_token(const lm_info *info, const encoded_labels *labels, int first_token_only)
{
    if (info->kind != LM_CAUSAL)
        return 0;
    if (first_token_only)
        return 1;
    for (int j = 0; j < labels->n; j++)
        if (labels->labels[j].n != 1)
            return 0;
    return 1;
}

int scorer_setup_encoding(lm *m, const task *t, lm_prompt_mode mode, int prompt_len, int label_space,
                          int first_token_only, encode_options *enc, int **placeholders, encoded_labels *labels,
                          int *raw_logits, bbt_error *err)
{
    const lm_info *info = lm_get_info(m);
    memset(enc, 0, sizeof *enc);
    *placeholders = NULL;
    memset(labels, 0, sizeof *labels);
    enc->mode = mode;
    enc->prompt_len = prompt_len;
    enc->label_space = label_space >= 0 ? label_space : info->kind == LM_CAUSAL;
    if (mode == LM_PROMPT_ADD) {
        *placeholders = xcalloc((size_t)prompt_len, sizeof **placeholders);
        if (encode_placeholders(m, prompt_len, *placeholders, err))
            return -1;
        enc->placeholders = *placeholders;
    }
    if (encode_labels(m, t, enc, labels, err))
        return -1;
    *raw_logits = labels_single_token(info, labels, first_token_only);
    if (info->kind == LM_CAUSAL && !first_token_only)
        for (int j = 0; j < labels->n; j++)
            if (labels->labels[j].n - 1 > enc->reserve)
                enc->reserve = labels->labels[j].n - 1;
    return 0;
}

static int setup_encoding(scorer *s, const tune_config *cfg, bbt_error *err)
{
    s->first_token_only = cfg->first_token_only;
    s->loss = cfg->loss;
    return scorer_setup_encoding(s->model, &s->task, cfg->prompt_mode, cfg->prompt_len, cfg->label_space,
                                 cfg->first_token_only, &s->enc, &s->placeholders, &s->labels, &s->raw_logits, err);
}

/* Sizes that depend on the model: the prompt must leave room for text, A (L·H × d floats) must fit in memory. */
#define MAX_PROJECTION_BYTES ((size_t)4 << 30)
static int check_sizes(const scorer *s, const tune_config *cfg, bbt_error *err)
{
    if (cfg->prompt_len >= s->info->max_pos)
        return bbt_fail(err, "--prompt-len %d: the model %s takes at most %d positions in all", cfg->prompt_len,
                        cfg->model, s->info->max_pos);
    size_t bytes = (size_t)cfg->prompt_len * (size_t)s->info->hidden * (size_t)cfg->dim * sizeof(float);
    if (bytes > MAX_PROJECTION_BYTES)
        return bbt_fail(err, "the projection A (L·H × d = %d·%d × %d floats) would take %.1f GiB; lower --dim or "
                             "--prompt-len",
                        cfg->prompt_len, s->info->hidden, cfg->dim, (double)bytes / (1 << 30));
    return 0;
}

static int setup_projection(scorer *s, const tune_config *cfg, bbt_error *err)
{
    const float *emb = lm_embeddings(s->model);
    if (!emb)
        return bbt_fail(err, "%s: %s", cfg->model, lm_errmsg(s->model));
    s->embedding_std = table_std(emb, (long)s->info->vocab * s->info->hidden);
    int rows = cfg->prompt_len * s->info->hidden;
    float *p0 = NULL;
    if (cfg->init_prompt && prompt_file_read(cfg->init_prompt, cfg->prompt_len, s->info->hidden, &p0, err))
        return -1;
    s->seed = cfg->seed;
    s->projection_kind = cfg->projection;
    s->alpha = cfg->alpha;
    s->sigma0 = cfg->sigma0;
    int rc = projection_init(&s->proj, rows, cfg->dim, (uint64_t)cfg->seed, cfg->projection, cfg->alpha, cfg->sigma0,
                             s->embedding_std, p0, err);
    free(p0);
    return rc;
}

int scorer_open(scorer *s, const tune_config *cfg, bbt_error *err)
{
    memset(s, 0, sizeof *s);
    int no_prompt = cfg->prompt_mode == LM_PROMPT_NONE; /* a baseline (bbt/baseline.h): no projection to draw */
    if (open_model(s, cfg, err) || check_sizes(s, cfg, err) || open_task(s, cfg, err) || setup_encoding(s, cfg, err) ||
        (!no_prompt && setup_projection(s, cfg, err))) {
        scorer_close(s);
        return -1;
    }
    return 0;
}

void scorer_close(scorer *s)
{
    if (s->model)
        lm_close(s->model);
    task_free(&s->task);
    free(s->placeholders);
    encoded_labels_free(&s->labels);
    projection_free(&s->proj);
    deep_free(s->deep);
    memset(s, 0, sizeof *s);
}

int scorer_load(scorer *s, const char *path, int need_labels, dataset *d, encoded_set *e, bbt_error *err)
{
    if (dataset_load(d, path, &s->task, need_labels ? DATA_NEED_LABELS : 0, err))
        return -1;
    if (encode_dataset(s->model, &s->task, d, &s->enc, e, err)) {
        dataset_free(d);
        return -1;
    }
    return 0;
}

lm_batch scorer_examples(const scorer *s, const encoded_set *e)
{
    lm_batch b = {0};
    b.prompt_len = s->enc.prompt_len;
    b.n_seqs = e->n;
    b.seqs = e->seqs;
    b.n_labels = s->labels.n;
    b.labels = s->labels.labels;
    b.raw_logits = s->raw_logits;
    b.first_token_only = s->first_token_only;
    return b;
}

/* The compressed route: z and A's description instead of prompts (lm_score_projected); with --deep, z's blocks and
 * the scales σ̂_l, from which the service draws every A_l. */
static int score_projected(scorer *s, const encoded_set *e, const double *z, int count, float *scores, bbt_error *err)
{
    lm_batch b = scorer_examples(s, e);
    lm_projection p = {(uint64_t)s->seed, s->projection_kind == PROJ_UNIFORM ? "uniform" : "normal", s->proj.dim,
                       s->alpha, s->sigma0, 0, NULL};
    if (s->deep) {
        p.layers = s->deep->layers;
        p.layer_std = s->deep->layer_std;
    }
    double t0 = now_seconds();
    int rc = lm_score_projected(s->model, &b, &p, z, count, scores);
    s->forward_s += now_seconds() - t0;
    if (rc != LM_OK)
        return bbt_fail(err, "scoring failed: %s", lm_errmsg(s->model));
    return 0;
}

/* One forward call of the model on batch b, its time counted in forward_s. */
static int forward(scorer *s, const lm_batch *b, float *scores, bbt_error *err)
{
    double t0 = now_seconds();
    int rc = lm_score(s->model, b, scores);
    s->forward_s += now_seconds() - t0;
    if (rc != LM_OK)
        return bbt_fail(err, "scoring failed: %s", lm_errmsg(s->model));
    return 0;
}

/* Sequences without a prompt (LM_PROMPT_NONE: the baselines): one pass over the set, whatever z says. */
static int score_plain(scorer *s, const encoded_set *e, float *scores, bbt_error *err)
{
    lm_batch b = scorer_examples(s, e);
    b.prompt_len = 0;
    return forward(s, &b, scores, err);
}

int scorer_score(scorer *s, const encoded_set *e, const double *z, int count, float *scores, bbt_error *err)
{
    if (s->enc.mode == LM_PROMPT_NONE)
        return score_plain(s, e, scores, err);
    int untuned = z == NULL;
    if (!untuned && !s->proj.p0 && lm_can_project(s->model)) /* a remote model that builds A (and every A_l) itself */
        return score_projected(s, e, z, count, scores, err);
    if (untuned)
        count = 1;
    size_t rows = (size_t)s->proj.rows;
    float *prompts = xcalloc((size_t)count * rows, sizeof *prompts);
    float *deep = NULL; /* the untuned prompt has no deep part: exactly BBT's untuned scores */
    if (!untuned && s->deep) {
        deep = xmalloc((size_t)count * (size_t)s->deep->model_layers * rows * sizeof *deep);
        deep_apply(s->deep, &s->proj, z, count, prompts, deep);
    } else if (!untuned)
        projection_apply(&s->proj, z, count, prompts);
    else if (s->proj.p0)
        memcpy(prompts, s->proj.p0, rows * sizeof *prompts);
    lm_seq *seqs = xmalloc((size_t)count * (size_t)e->n * sizeof *seqs);
    for (int c = 0; c < count; c++)
        for (int i = 0; i < e->n; i++) {
            seqs[(size_t)c * e->n + i] = e->seqs[i];
            seqs[(size_t)c * e->n + i].prompt = c;
        }
    lm_batch b = scorer_examples(s, e);
    b.n_prompts = count;
    b.prompts = prompts;
    b.deep_prompts = deep;
    b.n_seqs = count * e->n;
    b.seqs = seqs;
    int rc = forward(s, &b, scores, err);
    free(seqs);
    free(prompts);
    free(deep);
    return rc;
}

void scorer_losses(const scorer *s, const encoded_set *e, const float *scores, int count, double *losses)
{
    size_t per = (size_t)e->n * (size_t)s->labels.n;
    for (int c = 0; c < count; c++)
        losses[c] = loss_value(s->loss, scores + c * per, e->labels, e->n, s->labels.n, s->task.positive_class);
}

double scorer_metric(const scorer *s, const encoded_set *e, const float *scores)
{
    for (size_t i = 0; i < (size_t)e->n * (size_t)s->labels.n; i++)
        if (!isfinite(scores[i]))
            return -INFINITY; /* a broken prompt must never be kept, whatever argmax makes of its NaNs */
    if (s->task.metric == METRIC_F1)
        return metric_task_f1(scores, e->labels, e->n, s->labels.n, s->task.positive_class);
    return metric_accuracy(scores, e->labels, e->n, s->labels.n);
}
