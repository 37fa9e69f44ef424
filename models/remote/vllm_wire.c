/* vllm_wire.c — a vLLM server (or bbt serve, which speaks the same route) as an lm backend: POST /v1/completions with
 * `prompt_embeds`, one torch.save'd [tokens, hidden] tensor per sequence (base64), read for the label tokens'
 * log-probabilities at the one generated position.
 *
 * How the label ids are asked for (../shared/reference/service-protocols.md), tried in this order until every label
 * id comes back, and kept once one works:
 *   0. `logprob_token_ids` = the label ids, with `logprobs` set and `return_tokens_as_token_ids` (vLLM ≥ 2026-05);
 *   1. `allowed_token_ids` = the label ids (a server started with --logprobs-mode processed_logprobs answers them;
 *      only when there are at most 20);
 *   2. plain `logprobs: 20`, hoping every label id is among the 20 most likely.
 * Older servers ignore unknown fields silently, so every answer is checked: each prompt's index once, each label id
 * present, every value a finite number ≤ 0 (−9999.0 is vLLM's −∞). A log-probability differs from a logit by a
 * per-sequence constant, which cancels in the losses and the argmax (lm.h, raw_logits).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/base64.h"
#include "common/torchsave.h"
#include "models/remote/embeds.h"
#include "models/remote/remote.h"

#define MAX_LOGPROBS 20 /* vLLM's default --max-logprobs */
#define N_STAGES 3

static const char *const stage_names[N_STAGES] = {"logprob_token_ids", "allowed_token_ids", "the top 20 log-probabilities"};

/* The request for queries first .. first+n-1 of p, asking for the label ids the stage's way. NULL: no memory. */
static char *request(lm *m, rembc *c, const lm_batch *b, const rplan *p, int first, int n, int stage)
{
    cJSON *req = cJSON_CreateObject(), *embeds = cJSON_AddArrayToObject(req, "prompt_embeds");
    cJSON_AddStringToObject(req, "model", c->model);
    int ok = req && embeds;
    for (int i = first; i < first + n && ok; i++) {
        float *rows = NULL;
        unsigned char *pt = NULL;
        size_t len = 0;
        int nr = remb_rows(&c->emb, b, &p->q[i], &rows);
        ok = nr > 0 && !common_torchsave(rows, nr, m->info.hidden, c->wire == LM_WIRE_F32 ? COMMON_T_F32 : COMMON_T_BF16,
                                         &pt, &len);
        char *b64 = ok ? common_b64_encode(pt, len) : NULL;
        ok = b64 && cJSON_AddItemToArray(embeds, cJSON_CreateString(b64));
        free(b64);
        free(pt);
        free(rows);
    }
    cJSON_AddNumberToObject(req, "max_tokens", 1);
    cJSON_AddNumberToObject(req, "temperature", 0.0);
    int k = p->n_ids < MAX_LOGPROBS ? p->n_ids : MAX_LOGPROBS;
    cJSON_AddNumberToObject(req, "logprobs", stage == 2 ? MAX_LOGPROBS : k);
    if (stage == 0)
        cJSON_AddItemToObject(req, "logprob_token_ids", cJSON_CreateIntArray(p->ids, p->n_ids));
    if (stage == 1)
        cJSON_AddItemToObject(req, "allowed_token_ids", cJSON_CreateIntArray(p->ids, p->n_ids));
    cJSON_AddBoolToObject(req, "return_tokens_as_token_ids", 1);
    char *body = ok ? cJSON_PrintUnformatted(req) : NULL;
    cJSON_Delete(req);
    return body;
}

/* "token_id:N" → N, or -1 */
static int key_id(const char *key)
{
    if (strncmp(key, "token_id:", 9) || !key[9])
        return -1;
    char *end;
    long v = strtol(key + 9, &end, 10);
    return *end || v < 0 || v > (1L << 30) ? -1 : (int)v;
}

/* The answer's log-probabilities into lp[i·n_ids + k] for choice index i (NaN: not answered). Returns LM_OK, or LM_EREMOTE
 * for an answer of the wrong shape or with a value that is not a log-probability (the message quotes the field). */
static int read_choices(lm *m, const cJSON *o, const rplan *p, int n, float *lp, char *seen)
{
    const char *base = ((rembc *)m->impl)->http->base;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!cJSON_IsObject(o) || !cJSON_IsArray(ch) || cJSON_GetArraySize(ch) != n)
        return lm_fail(m, LM_EREMOTE, "%s: POST /v1/completions: \"choices\" must hold one entry per prompt (%d)", base,
                       n);
    int c = 0;
    for (const cJSON *e = ch->child; e; e = e->next, c++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(e, "index");
        const cJSON *lps = cJSON_GetObjectItemCaseSensitive(e, "logprobs");
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(lps, "top_logprobs");
        if (!cJSON_IsNumber(idx) || idx->valuedouble != floor(idx->valuedouble) || idx->valuedouble < 0 ||
            idx->valuedouble >= n || seen[(int)idx->valuedouble])
            return lm_fail(m, LM_EREMOTE, "%s: POST /v1/completions: choices[%d].index is missing, out of 0..%d or "
                           "repeated", base, c, n - 1);
        int i = (int)idx->valuedouble;
        seen[i] = 1;
        if (!cJSON_IsArray(top) || !cJSON_IsObject(top->child))
            return lm_fail(m, LM_EREMOTE, "%s: POST /v1/completions: choices[%d].logprobs.top_logprobs must be a list "
                           "holding an object", base, c);
        for (const cJSON *v = top->child->child; v; v = v->next) {
            int k = rplan_id_index(p, key_id(v->string));
            if (k < 0)
                continue; /* another token (the sampled one, or the natural top-k) */
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > 1e-3)
                return lm_fail(m, LM_EREMOTE, "%s: POST /v1/completions: choices[%d].logprobs.top_logprobs[0][\"%s\"] "
                               "is not a log-probability", base, c, v->string);
            lp[(size_t)i * p->n_ids + k] = (float)v->valuedouble;
        }
    }
    return LM_OK;
}

static int read_answer(lm *m, const cJSON *o, const rplan *p, int n, int stage, float *lp)
{
    (void)stage; /* every way answers in the same shape */
    char *seen = calloc((size_t)n + 1, 1);
    int rc = seen ? read_choices(m, o, p, n, lp, seen) : lm_fail(m, LM_ENOMEM, "out of memory");
    free(seen);
    return rc;
}

static int usable(const rplan *p, int stage) { return stage != 1 || p->n_ids <= MAX_LOGPROBS; }

static const rembc_kind vllm_kind = {
    .path = "/v1/completions",
    .n_stages = N_STAGES,
    .stage_names = stage_names,
    .hint = "a vLLM with logprob_token_ids, or one started with --logprobs-mode processed_logprobs, answers them",
    .usable = usable,
    .build = request,
    .read = read_answer,
};

/* The served model's name: the one given, which must be listed, or the first GET /v1/models lists. */
static int find_model(lm *m, rembc *c)
{
    int rc;
    cJSON *o = rembc_call(m, "/v1/models", NULL, &rc);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
    const char *want = m->opts.endpoint_model, *found = NULL;
    for (const cJSON *e = cJSON_IsArray(data) ? data->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsString(id) && (!found || (want && !strcmp(id->valuestring, want))))
            found = id->valuestring;
    }
    if (!rc && want && (!found || strcmp(found, want)))
        rc = lm_fail(m, LM_EINVAL, "%s: GET /v1/models does not list --endpoint-model %s%s%s%s", c->http->base, want,
                     found ? " (it lists " : "", found ? found : "", found ? ")" : "");
    if (!rc && !found)
        rc = lm_fail(m, LM_EREMOTE, "%s: GET /v1/models lists no model; name it with --endpoint-model", c->http->base);
    if (!rc && !(c->model = strdup(found)))
        rc = lm_fail(m, LM_ENOMEM, "out of memory");
    cJSON_Delete(o);
    return rc;
}

static const lm_ops vllm_ops = REMBC_OPS("remote:vllm");

int rvllm_open(lm *m, rhttp *http, lm_remote_stats *stats)
{
    int rc = rembc_open(m, http, stats, &vllm_kind, &vllm_ops, "remote:vllm");
    if (!rc && (rc = find_model(m, m->impl)))
        rembc_abandon(m);
    return rc;
}
