/* sglang_wire.c — an SGLang server as an lm backend: POST /generate with batch-form `input_embeds`
 * ([batch][tokens][hidden] JSON numbers) and `token_ids_logprob` = the label ids, read from
 * meta_info.output_token_ids_logprobs (one [logprob, token_id, text] triple per asked id at the generated position).
 *
 * SGLang tells one sequence from a batch by whether input_embeds[0][0] is a number, so the batch form is always sent,
 * and every number is printed with a '.' or an exponent (never "0": a JSON integer). f32 values are printed with 9
 * significant digits, which read back to the same float: the wire is exact.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "models/remote/embeds.h"
#include "models/remote/remote.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *s, const char *t, size_t n)
{
    if (s->oom)
        return;
    if (s->n + n + 1 > s->cap) {
        size_t cap = (s->n + n + 1) * 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->oom = 1;
            return;
        }
        s->p = q, s->cap = cap;
    }
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = 0;
}

static void puts_(sbuf *s, const char *t) { put(s, t, strlen(t)); }

/* A float as a JSON number that SGLang reads as a float: "1.0", "-2.5e-07", never "1". */
static void put_float(sbuf *s, float v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%.9g", (double)v);
    if (!strpbrk(t, ".e"))
        n += snprintf(t + n, sizeof t - (size_t)n, ".0");
    put(s, t, (size_t)n);
}

static char *request(rembc *c, const lm_batch *b, const rplan *p, int first, int n, int hidden)
{
    sbuf s = {0};
    puts_(&s, "{\"input_embeds\":[");
    for (int i = first; i < first + n && !s.oom; i++) {
        float *rows = NULL;
        int nr = remb_rows(&c->emb, b, &p->q[i], &rows);
        if (nr < 0) {
            s.oom = 1;
            break;
        }
        puts_(&s, i > first ? ",[" : "[");
        for (int r = 0; r < nr; r++) {
            puts_(&s, r ? ",[" : "[");
            for (int h = 0; h < hidden; h++) {
                if (h)
                    put(&s, ",", 1);
                put_float(&s, rows[(size_t)r * hidden + h]);
            }
            put(&s, "]", 1);
        }
        put(&s, "]", 1);
        free(rows);
    }
    puts_(&s, "],\"sampling_params\":{\"max_new_tokens\":1,\"temperature\":0.0},\"return_logprob\":true,"
              "\"logprob_start_len\":-1,\"top_logprobs_num\":0,\"token_ids_logprob\":[");
    for (int k = 0; k < p->n_ids; k++) {
        char t[16];
        snprintf(t, sizeof t, "%s%d", k ? "," : "", p->ids[k]);
        puts_(&s, t);
    }
    puts_(&s, "]}");
    if (s.oom)
        free(s.p);
    return s.oom ? NULL : s.p;
}

/* One sequence's answer: lp[k] for the asked ids (NaN where absent). */
static int read_one(lm *m, const cJSON *e, int i, const rplan *p, float *lp)
{
    const char *base = ((rembc *)m->impl)->http->base;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(e, "meta_info");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(meta, "output_token_ids_logprobs");
    if (!cJSON_IsArray(pos) || !cJSON_IsArray(pos->child))
        return lm_fail(m, LM_EREMOTE, "%s: POST /generate: [%d].meta_info.output_token_ids_logprobs must be a list "
                       "holding the generated position's list", base, i);
    int t = 0;
    for (const cJSON *tr = pos->child->child; tr; tr = tr->next, t++) {
        const cJSON *v = cJSON_GetArrayItem(tr, 0), *id = cJSON_GetArrayItem(tr, 1);
        if (!cJSON_IsArray(tr) || !cJSON_IsNumber(id))
            return lm_fail(m, LM_EREMOTE, "%s: POST /generate: [%d].meta_info.output_token_ids_logprobs[0][%d] is not "
                           "[logprob, token_id, text]", base, i, t);
        int k = rplan_id_index(p, (int)id->valuedouble);
        if (k < 0 || id->valuedouble != floor(id->valuedouble))
            continue;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > 1e-3)
            return lm_fail(m, LM_EREMOTE, "%s: POST /generate: [%d].meta_info.output_token_ids_logprobs[0][%d][0] "
                           "(token %d) is not a log-probability", base, i, t, (int)id->valuedouble);
        lp[k] = (float)v->valuedouble;
    }
    return LM_OK;
}

static int sglang_send(lm *m, rembc *c, const lm_batch *b, const rplan *p, int first, int n, float *scores)
{
    char *body = request(c, b, p, first, n, m->info.hidden);
    float *lp = malloc((size_t)p->n_ids * sizeof *lp);
    if (!body || !lp) {
        free(body), free(lp);
        return lm_fail(m, LM_ENOMEM, "out of memory for a request of %d sequences", n);
    }
    c->stats->bytes_up_scoring += (long long)strlen(body);
    int rc;
    cJSON *o = rembc_call(m, "/generate", body, &rc);
    free(body);
    if (!rc && (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != n))
        rc = lm_fail(m, LM_EREMOTE, "%s: POST /generate must answer a list of %d objects, one per sequence",
                     c->http->base, n);
    int i = 0, ids[b->n_labels];
    for (const cJSON *e = o && !rc ? o->child : NULL; e && !rc; e = e->next, i++) {
        for (int k = 0; k < p->n_ids; k++)
            lp[k] = NAN;
        rc = read_one(m, e, i, p, lp);
        int nq = rc ? 0 : rplan_query_ids(p, b, first + i, ids);
        for (int k = 0; k < nq && !rc; k++)
            if (isnan(lp[rplan_id_index(p, ids[k])]))
                rc = lm_fail(m, LM_EREMOTE, "%s: POST /generate: label id %d did not come back for sequence %d "
                             "(token_ids_logprob)", c->http->base, ids[k], first + i);
        if (!rc)
            rplan_add(p, b, first + i, lp, scores);
    }
    cJSON_Delete(o);
    free(lp);
    return rc;
}

static const lm_ops sglang_ops = REMBC_OPS("remote:sglang");

int rsglang_open(lm *m, rhttp *http, lm_remote_stats *stats)
{
    return rembc_open(m, http, stats, sglang_send, &sglang_ops, "remote:sglang");
}
