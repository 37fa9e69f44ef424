/* route_completions.c — POST /v1/completions as vLLM answers it, for scoring: prompt_embeds (base64 torch.save'd
 * [tokens, hidden] tensors) or prompts (text, texts, token ids) with echo + logprobs, max_tokens 0 or 1.
 *
 * Embedding prompts go through the scoring queue as add-mode prompt rows (a row equal to a token's embedding is that
 * token, so that BBT sequences are scored exactly as the local scorer scores them); text prompts without echo too;
 * echo requests read every position with lm_logits. Log-probabilities are over the whole vocabulary.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/base64.h"
#include "bbt/serve/completions.h"
#include "bbt/serve/jsonin.h"
#include "bbt/serve/torchzip.h"
#include "bbt/util.h"
#include "optim/pcg.h"

#define MAX_LOGPROBS 20   /* vLLM's default --max-logprobs */

static int read_id_list(server *s, const cJSON *root, const char *key, int **ids, int *n, char *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    char what[64];
    snprintf(what, sizeof what, "field \"%s\"", key);
    return json_int_array(v, what, 0, s->info->vocab - 1, s->info->vocab, ids, n, msg);
}

static int read_params(server *s, const cJSON *root, comp_params *p, char *msg)
{
    memset(p, 0, sizeof *p);
    p->max_tokens = 1;
    p->logprobs = -1;
    int stream = 0, n = 1;
    double seed = 0;
    if (json_get_int(root, "max_tokens", 0, 1 << 30, &p->max_tokens, msg) < 0 ||
        json_get_double(root, "temperature", 0, 1e6, &p->temperature, msg) < 0 ||
        json_get_int(root, "logprobs", 0, MAX_LOGPROBS, &p->logprobs, msg) < 0 ||
        json_get_bool(root, "return_tokens_as_token_ids", &p->as_ids, msg) < 0 ||
        json_get_bool(root, "echo", &p->echo, msg) < 0 || json_get_bool(root, "stream", &stream, msg) < 0 ||
        json_get_int(root, "n", 1, 1 << 30, &n, msg) < 0 || json_get_double(root, "seed", -9.2e18, 9.2e18, &seed, msg) < 0 ||
        read_id_list(s, root, "logprob_token_ids", &p->logprob_ids, &p->n_logprob_ids, msg) ||
        read_id_list(s, root, "allowed_token_ids", &p->allowed, &p->n_allowed, msg))
        return -1;
    p->seed = (uint64_t)(int64_t)seed;
    if (p->max_tokens > 1)
        return snprintf(msg, JSONIN_MSG, "max_tokens is %d: this server scores and returns at most 1 token "
                        "(max_tokens 0 or 1)", p->max_tokens), -1;
    if (stream || n != 1)
        return snprintf(msg, JSONIN_MSG, "%s is not supported", stream ? "stream" : "n > 1"), -1;
    if (p->max_tokens == 0 && !p->echo)
        return snprintf(msg, JSONIN_MSG, "max_tokens 0 needs echo: true (otherwise there is nothing to return)"), -1;
    if (p->n_logprob_ids && p->logprobs < 0)
        return snprintf(msg, JSONIN_MSG, "logprob_token_ids needs logprobs to be set"), -1;
    if (p->n_logprob_ids && p->max_tokens == 0)
        return snprintf(msg, JSONIN_MSG, "logprob_token_ids needs a generated position (max_tokens 1)"), -1;
    if (p->n_logprob_ids > 1024)
        return snprintf(msg, JSONIN_MSG, "logprob_token_ids has %d ids (at most 1024)", p->n_logprob_ids), -1;
    return 0;
}

static void params_free(comp_params *p)
{
    free(p->logprob_ids);
    free(p->allowed);
}

/* ---- prompts ---- */

static int tokenize_text(server *s, const char *text, int **ids, int *n, int i, char *msg)
{
    size_t len = strlen(text);
    if (!utf8_valid(text, len))
        return snprintf(msg, JSONIN_MSG, "prompt[%d] is not valid UTF-8", i), -1;
    int cap = 256;
    *ids = xmalloc((size_t)cap * sizeof **ids);
    pthread_mutex_lock(&s->lm_lock);
    int got = lm_tokenize(s->model, text, len, LM_TOK_SPECIAL, *ids, cap);
    if (got > cap) {
        *ids = xrealloc(*ids, (size_t)got * sizeof **ids);
        got = lm_tokenize(s->model, text, len, LM_TOK_SPECIAL, *ids, got);
    }
    if (got < 0)
        snprintf(msg, JSONIN_MSG, "prompt[%d]: %s", i, lm_errmsg(s->model));
    pthread_mutex_unlock(&s->lm_lock);
    *n = got;
    return got < 0 ? -1 : 0;
}

/* prompt: "text" | ["text", …] | [id, …] | [[id, …], …] → count id lists. */
static int read_prompts(server *s, const cJSON *prompt, comp_prompt **out, int *count, char *msg)
{
    int single = cJSON_IsString(prompt) || (cJSON_IsArray(prompt) && prompt->child && cJSON_IsNumber(prompt->child));
    if (!single && !cJSON_IsArray(prompt))
        return snprintf(msg, JSONIN_MSG, "\"prompt\" must be a string, a list of strings, a list of token ids or a list "
                        "of token-id lists"), -1;
    *count = single ? 1 : cJSON_GetArraySize(prompt);
    if (*count < 1 || *count > s->cfg.max_batch)
        return snprintf(msg, JSONIN_MSG, "\"prompt\" holds %d prompts (1..%d allowed, the limit --max-batch)", *count,
                        s->cfg.max_batch), -1;
    *out = xcalloc((size_t)*count, sizeof **out);
    const cJSON *e = single ? prompt : prompt->child;
    for (int i = 0; i < *count; i++, e = e->next) {
        comp_prompt *pr = &(*out)[i];
        pr->gen = -1;
        char what[48];
        snprintf(what, sizeof what, "prompt[%d]", i);
        int rc = cJSON_IsString(e) ? tokenize_text(s, e->valuestring, &pr->ids, &pr->n, i, msg)
                                   : json_int_array(e, what, 0, s->info->vocab - 1, s->cfg.max_seq, &pr->ids, &pr->n,
                                                    msg);
        if (rc)
            return -1;
        if (pr->n < 1 || pr->n > s->cfg.max_seq || pr->n > s->info->max_pos - 1)
            return snprintf(msg, JSONIN_MSG, "prompt[%d] has %d tokens (1..%d allowed: --max-seq and the model's %d "
                            "positions, one kept for the next token)", i, pr->n,
                            s->cfg.max_seq < s->info->max_pos - 1 ? s->cfg.max_seq : s->info->max_pos - 1,
                            s->info->max_pos), -1;
    }
    return 0;
}

static void prompts_free(comp_prompt *pr, int count)
{
    for (int i = 0; pr && i < count; i++) {
        free(pr[i].ids);
        free(pr[i].lp);
    }
    free(pr);
}

/* ---- choosing the next token ---- */

static int allowed(const comp_params *p, int v)
{
    if (!p->n_allowed)
        return 1;
    for (int i = 0; i < p->n_allowed; i++)
        if (p->allowed[i] == v)
            return 1;
    return 0;
}

/* Greedy at temperature 0, else a draw from softmax(lp / T) over the allowed tokens (seeded by "seed"). */
static int choose(const comp_params *p, const float *lp, int vocab, int which)
{
    int best = -1;
    for (int v = 0; v < vocab; v++)
        if (allowed(p, v) && (best < 0 || lp[v] > lp[best]))
            best = v;
    if (p->temperature == 0 || best < 0)
        return best < 0 ? 0 : best;
    double total = 0;
    for (int v = 0; v < vocab; v++)
        if (allowed(p, v))
            total += exp((lp[v] - lp[best]) / p->temperature);
    pcg_rng rng;
    pcg_seed(&rng, p->seed, (uint64_t)which);
    double u = (double)(pcg_next(&rng) >> 11) * 0x1.0p-53 * total;
    for (int v = 0; v < vocab; v++)
        if (allowed(p, v) && (u -= exp((lp[v] - lp[best]) / p->temperature)) < 0)
            return v;
    return best;
}

/* ---- computing ---- */

/* Echo: every position's distribution, from the full logits. */
#define ECHO_MAX_FLOATS ((size_t)32 << 20) /* 128 MiB of log-probabilities per prompt */

static int run_echo(server *s, comp_prompt *pr, char *msg)
{
    int V = s->info->vocab;
    if ((size_t)pr->n * (size_t)V > ECHO_MAX_FLOATS)
        return snprintf(msg, JSONIN_MSG, "echo of %d tokens over a vocabulary of %d needs more than 128 MiB of "
                        "log-probabilities; send at most %zu tokens per prompt", pr->n, V, ECHO_MAX_FLOATS / V), -1;
    pr->rows = pr->n;
    pr->lp = xmalloc((size_t)pr->n * V * sizeof *pr->lp);
    pthread_mutex_lock(&s->lm_lock);
    int rc = lm_logits(s->model, pr->ids, pr->n, pr->lp);
    if (rc != LM_OK)
        snprintf(msg, JSONIN_MSG, "the forward pass failed: %s", lm_errmsg(s->model));
    pthread_mutex_unlock(&s->lm_lock);
    for (int t = 0; rc == LM_OK && t < pr->n; t++) { /* log-softmax, in double */
        float *row = pr->lp + (size_t)t * V;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++)
            mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < V; v++)
            sum += exp(row[v] - mx);
        double norm = mx + log(sum);
        for (int v = 0; v < V; v++)
            row[v] = (float)(row[v] - norm);
    }
    return rc == LM_OK ? 0 : -1;
}

/* One queued job for the prompts whose sequences are given: the distribution of the next token of each. */
static int run_next(server *s, comp_prompt *pr, int count, lm_seq *seqs, int prompt_len, const float *prompts,
                    char *msg, int *status)
{
    int V = s->info->vocab;
    float *scores = xmalloc((size_t)count * V * sizeof *scores);
    score_job job = {.n_prompts = prompts ? count : 0, .prompt_len = prompt_len, .prompts = prompts,
                     .n_seqs = count, .seqs = seqs, .n_labels = V, .labels = s->vocab_labels, .scores = scores};
    int rc = queue_run(&s->queue, &job);
    if (rc != LM_OK) {
        snprintf(msg, JSONIN_MSG, "the forward pass failed: %s", job.err);
        *status = rc == LM_EINVAL ? 400 : 503;
    }
    for (int i = 0; rc == LM_OK && i < count; i++) {
        pr[i].rows = 1;
        pr[i].lp = xmalloc((size_t)V * sizeof *pr[i].lp);
        memcpy(pr[i].lp, scores + (size_t)i * V, (size_t)V * sizeof *scores);
    }
    free(scores);
    return rc == LM_OK ? 0 : -1;
}

static int run_token_prompts(server *s, const comp_params *p, comp_prompt *pr, int count, char *msg, int *status)
{
    if (p->echo) {
        for (int i = 0; i < count; i++)
            if (run_echo(s, &pr[i], msg))
                return (*status = pr[i].lp ? 503 : 400), -1;
        return 0;
    }
    lm_seq *seqs = xcalloc((size_t)count, sizeof *seqs);
    for (int i = 0; i < count; i++)
        seqs[i] = (lm_seq){.ids = pr[i].ids, .n = pr[i].n, .mode = LM_PROMPT_NONE, .read_pos = -1};
    int rc = run_next(s, pr, count, seqs, 0, NULL, msg, status);
    free(seqs);
    return rc;
}

/* ---- prompt_embeds ---- */

typedef struct embed_prompt {
    int rows;
    int *ids;       /* per row: the token whose embedding it is, or the base token the row is added onto */
    float *delta;   /* rows × hidden: what is added onto those tokens' embeddings (0 for exact token rows) */
} embed_prompt;

static int decode_embeds(server *s, const char *b64, int i, embed_prompt *e, char *msg)
{
    size_t len = strlen(b64), bad;
    unsigned char *raw = xmalloc(common_b64_decoded_max(len));
    long n = common_b64_decode(b64, len, raw, &bad);
    tz_tensor t = {0};
    char err[400];
    int rc = 0, H = s->info->hidden;
    if (n < 0)
        rc = snprintf(msg, JSONIN_MSG, "prompt_embeds[%d] is not valid base64 (at character %zu)", i, bad);
    else if (tz_read(raw, (size_t)n, &t, err, sizeof err))
        rc = snprintf(msg, JSONIN_MSG, "prompt_embeds[%d]: not a readable torch.save tensor: %s", i, err);
    else if (t.cols != H)
        rc = snprintf(msg, JSONIN_MSG, "prompt_embeds[%d] has shape [%d, %d]; the model's hidden size is %d", i, t.rows,
                      t.cols, H);
    else if (t.rows > s->cfg.max_seq || t.rows > s->info->max_pos)
        rc = snprintf(msg, JSONIN_MSG, "prompt_embeds[%d] has %d rows (at most %d: --max-seq and the model's positions)",
                      i, t.rows, s->cfg.max_seq < s->info->max_pos ? s->cfg.max_seq : s->info->max_pos);
    for (size_t k = 0; !rc && k < (size_t)t.rows * H; k++)
        if (!isfinite(t.data[k]))
            rc = snprintf(msg, JSONIN_MSG, "prompt_embeds[%d][%zu][%zu] is not finite", i, k / H, k % H);
    free(raw);
    if (rc) {
        tz_tensor_free(&t);
        return -1;
    }
    e->rows = t.rows;
    e->ids = xmalloc((size_t)t.rows * sizeof *e->ids);
    e->delta = t.data; /* reused in place */
    int base = s->info->unk >= 0 ? s->info->unk : 0;
    for (int r = 0; r < t.rows; r++) {
        float *row = e->delta + (size_t)r * H;
        int tok = row_index_find(&s->rows, s->emb, H, row);
        e->ids[r] = tok >= 0 ? tok : base;
        const float *er = s->emb + (size_t)e->ids[r] * H;
        for (int k = 0; k < H; k++)
            row[k] = tok >= 0 ? 0.0f : row[k] - er[k];
    }
    return 0;
}

/* Every prompt of one length in one queued job: all rows are added prompt rows (mode add at position 0). */
static int run_embed_group(server *s, embed_prompt *ep, comp_prompt *pr, int count, int rows, char *msg, int *status)
{
    int k = 0, H = s->info->hidden;
    for (int i = 0; i < count; i++)
        k += ep[i].rows == rows;
    float *prompts = xmalloc((size_t)k * rows * H * sizeof *prompts);
    lm_seq *seqs = xcalloc((size_t)k, sizeof *seqs);
    comp_prompt **who = xmalloc((size_t)k * sizeof *who);
    comp_prompt *tmp = xcalloc((size_t)k, sizeof *tmp);
    for (int i = 0, j = 0; i < count; i++) {
        if (ep[i].rows != rows)
            continue;
        memcpy(prompts + (size_t)j * rows * H, ep[i].delta, (size_t)rows * H * sizeof *prompts);
        seqs[j] = (lm_seq){.ids = ep[i].ids, .n = rows, .prompt = j, .mode = LM_PROMPT_ADD, .prompt_pos = 0,
                           .read_pos = -1};
        who[j++] = &pr[i];
    }
    int rc = run_next(s, tmp, k, seqs, rows, prompts, msg, status);
    for (int j = 0; j < k; j++) {
        who[j]->lp = tmp[j].lp;
        who[j]->rows = tmp[j].rows;
    }
    free(tmp), free(who), free(seqs), free(prompts);
    return rc;
}

static int run_embeds(server *s, const cJSON *embeds, comp_prompt **out, int *count, char *msg, int *status)
{
    int single = cJSON_IsString(embeds);
    if (!single && !cJSON_IsArray(embeds))
        return snprintf(msg, JSONIN_MSG, "\"prompt_embeds\" must be a base64 string or a list of them"), -1;
    *count = single ? 1 : cJSON_GetArraySize(embeds);
    if (*count < 1 || *count > s->cfg.max_batch)
        return snprintf(msg, JSONIN_MSG, "\"prompt_embeds\" holds %d prompts (1..%d allowed, the limit --max-batch)",
                        *count, s->cfg.max_batch), -1;
    *out = xcalloc((size_t)*count, sizeof **out);
    embed_prompt *ep = xcalloc((size_t)*count, sizeof *ep);
    const cJSON *e = single ? embeds : embeds->child;
    int rc = 0;
    for (int i = 0; i < *count && !rc; i++, e = e->next) {
        (*out)[i].gen = -1;
        rc = cJSON_IsString(e) ? decode_embeds(s, e->valuestring, i, &ep[i], msg)
                               : (snprintf(msg, JSONIN_MSG, "prompt_embeds[%d] must be a base64 string", i), -1);
        (*out)[i].n = ep[i].rows;
    }
    for (int i = 0; i < *count && !rc; i++)
        if (!(*out)[i].lp) /* the first prompt of a length not yet run */
            rc = run_embed_group(s, ep, *out, *count, ep[i].rows, msg, status);
    for (int i = 0; i < *count; i++) {
        free(ep[i].ids);
        free(ep[i].delta);
    }
    free(ep);
    return rc ? -1 : 0;
}

/* ---- the route ---- */

static int check_model(server *s, const cJSON *root, reply *rp)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (m && !cJSON_IsNull(m) && (!cJSON_IsString(m) || strcmp(m->valuestring, s->name))) {
        reply_error(rp, 404, "The model `%.200s` does not exist (this server serves `%s`).",
                    cJSON_IsString(m) ? m->valuestring : "?", s->name);
        return -1;
    }
    if (s->info->kind != LM_CAUSAL) {
        reply_error(rp, 400, "completions need a causal (next-token) model; %s is a masked LM (%s), which has no next "
                    "token: use the native routes /bbt/v1/examples and /bbt/v1/score", s->name, s->info->arch);
        return -1;
    }
    return 0;
}

static int compute(server *s, const cJSON *root, comp_params *p, comp_prompt **pr, int *count, char *msg, int *status)
{
    const cJSON *embeds = cJSON_GetObjectItemCaseSensitive(root, "prompt_embeds");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (embeds && cJSON_IsNull(embeds))
        embeds = NULL;
    if (prompt && cJSON_IsNull(prompt))
        prompt = NULL;
    if (!embeds == !prompt)
        return snprintf(msg, JSONIN_MSG, "give either \"prompt\" or \"prompt_embeds\"%s", embeds ? ", not both" : ""), -1;
    if (embeds && p->echo)
        return snprintf(msg, JSONIN_MSG, "echo is not allowed with prompt_embeds"), -1;
    if (embeds)
        return run_embeds(s, embeds, pr, count, msg, status);
    if (read_prompts(s, prompt, pr, count, msg))
        return -1;
    return run_token_prompts(s, p, *pr, *count, msg, status);
}

void route_completions(server *s, const request *rq, reply *rp)
{
    cJSON *root = request_json(rq, rp);
    if (!root)
        return;
    char msg[JSONIN_MSG] = "";
    comp_params p;
    comp_prompt *pr = NULL;
    int count = 0, status = 400;
    if (check_model(s, root, rp)) {
        cJSON_Delete(root);
        return;
    }
    if (read_params(s, root, &p, msg) || compute(s, root, &p, &pr, &count, msg, &status)) {
        reply_error(rp, status, "%s", msg);
    } else {
        for (int i = 0; i < count && p.max_tokens == 1; i++)
            pr[i].gen = choose(&p, pr[i].lp + (size_t)(pr[i].rows - 1) * s->info->vocab, s->info->vocab, i);
        reply_json(rp, 200, completions_response(s, &p, pr, count));
    }
    prompts_free(pr, count);
    params_free(&p);
    cJSON_Delete(root);
}
