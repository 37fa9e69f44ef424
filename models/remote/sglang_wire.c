/* sglang_wire.c — an SGLang server as an lm backend: POST /generate with batch-form `input_embeds`
 * ([batch][tokens][hidden] JSON numbers) and `token_ids_logprob` = the label ids, read from
 * meta_info.output_token_ids_logprobs (one [logprob, token_id, text] triple per asked id at the generated position).
 * A server that ignores token_ids_logprob (older SGLang) answers without them; then the request is sent again asking
 * also for the 20 most likely tokens (`top_logprobs_num`, read from meta_info.output_top_logprobs, the same triples),
 * and only a label id missing from both stops the call.
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

#define TOP_N "20" /* the fallback: the most likely tokens asked for (SGLang's usual cap) */

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

static char *request(lm *m, rembc *c, const lm_batch *b, const rplan *p, int first, int n, int stage)
{
    int hidden = m->info.hidden;
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
              "\"logprob_start_len\":-1,\"top_logprobs_num\":");
    puts_(&s, stage == 0 ? "0" : TOP_N);
    puts_(&s, ",\"token_ids_logprob\":[");
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

/* The triples [logprob, token_id, text] of meta_info.<field>[0] (the generated position) into lp[k] for the asked
 * ids. An absent or null field is no answer (lp stays NaN: a server that ignored the request); anything else that is
 * not that shape, or a value that is not a log-probability, is an error quoting the field. */
static int read_triples(lm *m, const cJSON *meta, const char *field, int i, const rplan *p, float *lp)
{
    const char *base = ((rembc *)m->impl)->http->base;
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(meta, field);
    if (!pos || cJSON_IsNull(pos))
        return LM_OK;
    if (!cJSON_IsArray(pos) || !cJSON_IsArray(pos->child))
        return lm_fail(m, LM_EREMOTE, "%s: POST /generate: [%d].meta_info.%s must be a list holding the generated "
                       "position's list", base, i, field);
    int t = 0;
    for (const cJSON *tr = pos->child->child; tr; tr = tr->next, t++) {
        const cJSON *v = cJSON_GetArrayItem(tr, 0), *id = cJSON_GetArrayItem(tr, 1);
        if (!cJSON_IsArray(tr) || !cJSON_IsNumber(id))
            return lm_fail(m, LM_EREMOTE, "%s: POST /generate: [%d].meta_info.%s[0][%d] is not [logprob, token_id, "
                           "text]", base, i, field, t);
        int k = rplan_id_index(p, (int)id->valuedouble);
        if (k < 0 || id->valuedouble != floor(id->valuedouble))
            continue;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > 1e-3)
            return lm_fail(m, LM_EREMOTE, "%s: POST /generate: [%d].meta_info.%s[0][%d][0] (token %d) is not a "
                           "log-probability", base, i, field, t, (int)id->valuedouble);
        lp[k] = (float)v->valuedouble;
    }
    return LM_OK;
}

/* The answer: a list of n objects, one per sequence, each read into lp[i·n_ids + k]. */
static int read_answer(lm *m, const cJSON *o, const rplan *p, int n, int stage, float *lp)
{
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != n)
        return lm_fail(m, LM_EREMOTE, "%s: POST /generate must answer a list of %d objects, one per sequence",
                       ((rembc *)m->impl)->http->base, n);
    int i = 0, rc = LM_OK;
    for (const cJSON *e = o->child; e && !rc; e = e->next, i++) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(e, "meta_info");
        rc = read_triples(m, meta, "output_token_ids_logprobs", i, p, lp + (size_t)i * p->n_ids);
        if (!rc && stage > 0)
            rc = read_triples(m, meta, "output_top_logprobs", i, p, lp + (size_t)i * p->n_ids);
    }
    return rc;
}

static const char *const stage_names[] = {"token_ids_logprob", "token_ids_logprob and top_logprobs_num " TOP_N};

static const rembc_kind sglang_kind = {
    .path = "/generate",
    .n_stages = 2,
    .stage_names = stage_names,
    .hint = "an SGLang that supports token_ids_logprob answers them",
    .build = request,
    .read = read_answer,
};

static const lm_ops sglang_ops = REMBC_OPS("remote:sglang");

int rsglang_open(lm *m, rhttp *http, lm_remote_stats *stats)
{
    return rembc_open(m, http, stats, &sglang_kind, &sglang_ops, "remote:sglang");
}
