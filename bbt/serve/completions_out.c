/* completions_out.c — the vLLM/OpenAI text_completion response: choices, logprobs with vLLM's conventions (keys
 * "token_id:N" with return_tokens_as_token_ids, −9999.0 for −∞, the sampled token always among top_logprobs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bbt/serve/completions.h"
#include "bbt/util.h"

#define CLAMP_LOGPROB (-9999.0)

static double clamp(float lp) { return isfinite(lp) ? (double)lp : CLAMP_LOGPROB; }

/* A token as the response names it: "token_id:N", or the text it adds after the token before it (prev, -1 if none), so
 * that " time" keeps its space as in the decoded text. */
static void token_text(server *s, const comp_params *p, int prev, int id, char *buf, size_t cap)
{
    if (p->as_ids) {
        snprintf(buf, cap, "token_id:%d", id);
        return;
    }
    char one[256], two[512];
    int pair[2] = {prev, id};
    pthread_mutex_lock(&s->lm_lock);
    int n1 = prev >= 0 ? lm_detokenize(s->model, &prev, 1, one, sizeof one) : 0;
    int n2 = lm_detokenize(s->model, prev >= 0 ? pair : &id, prev >= 0 ? 2 : 1, two, sizeof two);
    pthread_mutex_unlock(&s->lm_lock);
    if (n2 < 0 || n1 < 0 || n2 >= (int)sizeof two) {
        buf[0] = '\0';
        return;
    }
    if (prev < 0 || strncmp(two, one, (size_t)n1))
        n1 = 0;
    snprintf(buf, cap, "%s", two + n1);
}

/* The k best ids of a row (k ≤ 64), best first, ties by lower id. */
static int top_k(const float *row, int vocab, int k, int *out)
{
    if (k <= 0)
        return 0; /* logprobs 0: only the actual token is reported */
    int n = 0;
    for (int v = 0; v < vocab; v++) {
        if (n < k)
            n++;
        else if (!(row[v] > row[out[n - 1]]))
            continue;
        int at = n - 1;
        while (at > 0 && row[v] > row[out[at - 1]]) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = v;
    }
    return n;
}

static void add_entry(server *s, const comp_params *p, cJSON *dict, const float *row, int prev, int id)
{
    char key[512];
    token_text(s, p, prev, id, key, sizeof key);
    if (!cJSON_GetObjectItemCaseSensitive(dict, key))
        cJSON_AddNumberToObject(dict, key, clamp(row[id]));
}

/* top_logprobs at one position: the natural top-k (or the listed ids, at generated positions) plus the actual token. */
static cJSON *top_dict(server *s, const comp_params *p, const float *row, int prev, int actual, int generated)
{
    cJSON *d = cJSON_CreateObject();
    if (generated && p->n_logprob_ids) {
        for (int i = 0; i < p->n_logprob_ids; i++)
            add_entry(s, p, d, row, prev, p->logprob_ids[i]);
    } else {
        int best[64], n = top_k(row, s->info->vocab, p->logprobs < 64 ? p->logprobs : 64, best);
        for (int i = 0; i < n; i++)
            add_entry(s, p, d, row, prev, best[i]);
    }
    if (actual >= 0)
        add_entry(s, p, d, row, prev, actual);
    return d;
}

typedef struct lp_arrays {
    cJSON *tokens, *token_lp, *top, *offset;
} lp_arrays;

static void add_position(server *s, const comp_params *p, lp_arrays *a, int prev, int id, const char *piece,
                         size_t offset, const float *row, int generated)
{
    char name[32];
    if (p->as_ids)
        snprintf(name, sizeof name, "token_id:%d", id);
    cJSON_AddItemToArray(a->tokens, cJSON_CreateString(p->as_ids ? name : piece));
    cJSON_AddItemToArray(a->offset, cJSON_CreateNumber((double)offset));
    if (row) {
        cJSON_AddItemToArray(a->token_lp, cJSON_CreateNumber(clamp(row[id])));
        cJSON_AddItemToArray(a->top, top_dict(s, p, row, prev, id, generated));
    } else {
        cJSON_AddItemToArray(a->token_lp, cJSON_CreateNull());
        cJSON_AddItemToArray(a->top, cJSON_CreateNull());
    }
}

/* ids[0..n) decoded (caller frees). */
static char *decode(server *s, const int *ids, int n)
{
    size_t cap = 256;
    char *text = xmalloc(cap);
    text[0] = '\0';
    if (n == 0)
        return text;
    pthread_mutex_lock(&s->lm_lock);
    int len = lm_detokenize(s->model, ids, n, text, cap);
    if (len >= (int)cap) { /* the first try was too short: now the length is known */
        cap = (size_t)len + 1;
        text = xrealloc(text, cap);
        len = lm_detokenize(s->model, ids, n, text, cap);
    }
    if (len < 0)
        text[0] = '\0';
    pthread_mutex_unlock(&s->lm_lock);
    return text;
}

/* Each token's text is what it adds to the decoded prefix (so " upon", with its space), and its offset is where
 * that starts in the choice's text; a token that changes earlier text (a partial UTF-8 sequence) adds "". */
static void token_piece(server *s, const int *ids, int t, char **prev, char *piece, size_t cap, size_t *offset)
{
    char *next = decode(s, ids, t + 1);
    size_t np = strlen(*prev);
    *offset = np;
    if (!strncmp(next, *prev, np))
        snprintf(piece, cap, "%s", next + np);
    else
        piece[0] = '\0';
    free(*prev);
    *prev = next;
}

static cJSON *logprobs_json(server *s, const comp_params *p, const comp_prompt *pr)
{
    lp_arrays a = {cJSON_CreateArray(), cJSON_CreateArray(), cJSON_CreateArray(), cJSON_CreateArray()};
    int V = s->info->vocab, n = (p->echo ? pr->n : 0) + (pr->gen >= 0);
    int *ids = xmalloc((size_t)(n + 1) * sizeof *ids);
    if (p->echo)
        memcpy(ids, pr->ids, (size_t)pr->n * sizeof *ids);
    if (pr->gen >= 0)
        ids[n - 1] = pr->gen;
    char *prev = xstrdup(""), piece[512];
    size_t offset;
    for (int t = 0; t < n; t++) {
        token_piece(s, ids, t, &prev, piece, sizeof piece, &offset);
        int generated = pr->gen >= 0 && t == n - 1;
        /* prompt token t is predicted by row t − 1 (the first has no log-probability); the generated one by the last */
        const float *row = generated ? pr->lp + (size_t)(pr->rows - 1) * V : t ? pr->lp + (size_t)(t - 1) * V : NULL;
        int prev = t ? ids[t - 1] : -1;
        add_position(s, p, &a, prev, ids[t], piece, offset, row, generated);
    }
    free(prev);
    free(ids);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "text_offset", a.offset);
    cJSON_AddItemToObject(o, "token_logprobs", a.token_lp);
    cJSON_AddItemToObject(o, "tokens", a.tokens);
    cJSON_AddItemToObject(o, "top_logprobs", a.top);
    return o;
}

/* The choice's text: with echo the prompt and the new token decoded together; without, what the new token adds to
 * the decoded prompt (so " time", with its space, after "Once upon a"). */
static char *choice_text(server *s, const comp_params *p, const comp_prompt *pr)
{
    int np = pr->ids ? pr->n : 0, n = np + (pr->gen >= 0);
    int *ids = xmalloc((size_t)(n + 1) * sizeof *ids);
    memcpy(ids, pr->ids ? pr->ids : ids, (size_t)np * sizeof *ids);
    if (pr->gen >= 0)
        ids[n - 1] = pr->gen;
    char *all = decode(s, ids, n);
    if (!p->echo && np) {
        char *prompt = decode(s, ids, np);
        size_t k = strlen(prompt);
        if (!strncmp(all, prompt, k))
            memmove(all, all + k, strlen(all + k) + 1);
        free(prompt);
    }
    free(ids);
    return all;
}

cJSON *completions_response(server *s, const comp_params *p, const comp_prompt *pr, int count)
{
    cJSON *o = cJSON_CreateObject();
    unsigned char r[12] = {0};
    if (getrandom(r, sizeof r, 0) < 0)
        memset(r, 0, sizeof r);
    char id[40];
    int k = snprintf(id, sizeof id, "cmpl-");
    for (size_t i = 0; i < sizeof r; i++)
        k += snprintf(id + k, sizeof id - (size_t)k, "%02x", r[i]);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", s->name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    long prompt_tokens = 0, completion = 0;
    for (int i = 0; i < count; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i);
        char *text = pr[i].ids || pr[i].gen >= 0 ? choice_text(s, p, &pr[i]) : xstrdup("");
        cJSON_AddStringToObject(c, "text", text);
        free(text);
        cJSON_AddItemToObject(c, "logprobs", p->logprobs >= 0 ? logprobs_json(s, p, &pr[i]) : cJSON_CreateNull());
        cJSON_AddStringToObject(c, "finish_reason", "length");
        cJSON_AddNullToObject(c, "stop_reason");
        cJSON_AddItemToArray(choices, c);
        prompt_tokens += pr[i].n;
        completion += pr[i].gen >= 0;
    }
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt_tokens + completion));
    return o;
}
