/* embeds.c — sequences embedded on the client for the vLLM and SGLang kinds (see embeds.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "models/remote/embeds.h"

int remb_open(lm *m, remb *e, const char *dir)
{
    memset(e, 0, sizeof *e);
    if (!dir)
        return lm_fail(m, LM_EINVAL, "%s: the %s kind embeds sequences on the client: give the served model's files "
                       "with --embeddings DIR (its tokenizer and input-embedding table)", m->path, m->opts.remote_kind);
    lm_options o = {.threads = 1, .dtype = LM_F32};
    char err[1024];
    int rc = lm_open(&e->local, dir, &o, err, sizeof err);
    if (rc)
        return lm_fail(m, rc, "--embeddings %s: %s", dir, err);
    const lm_info *in = lm_get_info(e->local);
    if (in->kind != LM_CAUSAL) {
        remb_close(e);
        return lm_fail(m, LM_EUNSUPPORTED, "--embeddings %s is a masked LM; the %s kind answers next-token "
                       "log-probabilities, so it serves causal LMs only", dir, m->opts.remote_kind);
    }
    if (!lm_embeddings(e->local)) {
        rc = lm_fail(m, LM_EFORMAT, "--embeddings %s: no input-embedding table: %s", dir, lm_errmsg(e->local));
        remb_close(e);
    }
    return rc;
}

void remb_close(remb *e)
{
    lm_close(e->local);
    e->local = NULL;
}

void remb_adopt_info(lm *m, const remb *e, const char *arch)
{
    m->info = *lm_get_info(e->local);
    m->info.arch = arch;
    m->embeddings = lm_embeddings(e->local);
}

/* ---- the sequences a batch needs ---- */

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

int rplan_build(lm *m, rplan *p, const lm_batch *b)
{
    memset(p, 0, sizeof *p);
    int C = b->n_labels, per_seq = 1, tokens = 0;
    for (int j = 0; j < C; j++) {
        if (!b->first_token_only)
            per_seq += b->labels[j].n - 1;
        tokens += b->first_token_only ? 1 : b->labels[j].n;
    }
    p->q = malloc((size_t)b->n_seqs * per_seq * sizeof *p->q);
    p->ids = malloc((size_t)tokens * sizeof *p->ids);
    if (!p->q || !p->ids) {
        rplan_free(p);
        return lm_fail(m, LM_ENOMEM, "out of memory for %d sequences", b->n_seqs * per_seq);
    }
    for (int s = 0; s < b->n_seqs; s++) {
        p->q[p->n++] = (rquery){s, -1, 0};
        for (int j = 0; j < C && !b->first_token_only; j++)
            for (int k = 1; k < b->labels[j].n; k++)
                p->q[p->n++] = (rquery){s, j, k};
    }
    for (int j = 0; j < C; j++)
        for (int k = 0; k < (b->first_token_only ? 1 : b->labels[j].n); k++)
            p->ids[p->n_ids++] = b->labels[j].ids[k];
    qsort(p->ids, (size_t)p->n_ids, sizeof *p->ids, cmp_int);
    int n = 0;
    for (int i = 0; i < p->n_ids; i++)
        if (!n || p->ids[n - 1] != p->ids[i])
            p->ids[n++] = p->ids[i];
    p->n_ids = n;
    return LM_OK;
}

void rplan_free(rplan *p)
{
    free(p->q);
    free(p->ids);
    memset(p, 0, sizeof *p);
}

int rplan_id_index(const rplan *p, int id)
{
    const int *at = bsearch(&id, p->ids, (size_t)p->n_ids, sizeof id, cmp_int);
    return at ? (int)(at - p->ids) : -1;
}

int rplan_query_ids(const rplan *p, const lm_batch *b, int qi, int *ids)
{
    const rquery *q = &p->q[qi];
    if (q->label >= 0) {
        ids[0] = b->labels[q->label].ids[q->extra];
        return 1;
    }
    for (int j = 0; j < b->n_labels; j++)
        ids[j] = b->labels[j].ids[0];
    return b->n_labels;
}

void rplan_add(const rplan *p, const lm_batch *b, int qi, const float *lp, float *scores)
{
    const rquery *q = &p->q[qi];
    float *row = scores + (size_t)q->seq * b->n_labels;
    if (q->label >= 0) {
        row[q->label] += lp[rplan_id_index(p, b->labels[q->label].ids[q->extra])];
        return;
    }
    for (int j = 0; j < b->n_labels; j++)
        row[j] += lp[rplan_id_index(p, b->labels[j].ids[0])];
}

int rplan_missing(const rplan *p, const lm_batch *b, int qi, const float *lp)
{
    int ids[b->n_labels];
    int n = rplan_query_ids(p, b, qi, ids);
    for (int k = 0; k < n; k++)
        if (isnan(lp[rplan_id_index(p, ids[k])]))
            return ids[k];
    return -1;
}

/* ---- a sequence's rows ---- */

int remb_rows(const remb *e, const lm_batch *b, const rquery *q, float **out)
{
    const lm_seq *s = &b->seqs[q->seq];
    const lm_info *in = lm_get_info(e->local);
    const float *E = lm_embeddings(e->local);
    size_t H = (size_t)in->hidden;
    int r = lm_read_pos(e->local, s), L = b->prompt_len, pp = s->prompt_pos;
    int cat = s->mode == LM_PROMPT_CAT && pp <= r, add = s->mode == LM_PROMPT_ADD;
    int rows = r + 1 + (cat ? L : 0) + q->extra;
    float *x = malloc((size_t)rows * H * sizeof *x);
    if (!x)
        return -1;
    const float *P = b->prompts ? b->prompts + (size_t)s->prompt * L * H : NULL;
    int at = 0;
    for (int k = 0; k <= r; k++) {
        if (cat && k == pp)
            for (int i = 0; i < L; i++, at++)
                memcpy(x + (size_t)at * H, P + (size_t)i * H, H * sizeof *x);
        memcpy(x + (size_t)at * H, E + (size_t)s->ids[k] * H, H * sizeof *x);
        if (add && P && k >= pp && k < pp + L) /* the prompt added onto the placeholders' embeddings */
            for (size_t h = 0; h < H; h++)
                x[(size_t)at * H + h] += P[(size_t)(k - pp) * H + h];
        at++;
    }
    for (int k = 0; k < q->extra; k++, at++)
        memcpy(x + (size_t)at * H, E + (size_t)b->labels[q->label].ids[k] * H, H * sizeof *x);
    *out = x;
    return rows;
}

/* ---- the shared backend ---- */

void rembc_close(void *p)
{
    rembc *c = p;
    if (!c)
        return;
    remb_close(&c->emb);
    if (c->http) /* (NULL after rembc_abandon: the caller keeps it) */
        rhttp_free(c->http);
    free(c->http);
    free(c->stats);
    free(c->model);
    free(c);
}

/* The first way at or after `stage` that the kind may use for this plan, or n_stages. */
static int next_stage(const rembc_kind *k, const rplan *p, int stage)
{
    while (stage < k->n_stages && k->usable && !k->usable(p, stage))
        stage++;
    return stage;
}

/* One round: every request still unanswered (stage[r] < n_stages, done[r] 0) sent together; the answers read in
 * request order into lp. A request whose answer lacks a label id moves to the next way (noted in why); one that ran
 * out of ways fails the call. Returns LM_OK (*sent: how many went out) or the failure. */
static int round_trip(lm *m, rembc *c, const lm_batch *b, const rplan *p, int n_req, int *stage, char *done,
                      float *lp, char *why, size_t why_cap, int *sent)
{
    const rembc_kind *k = c->kind;
    rhttp_req *reqs = calloc((size_t)n_req, sizeof *reqs);
    int *which = malloc((size_t)n_req * sizeof *which), n = 0, rc = LM_OK;
    if (!reqs || !which) {
        free(reqs), free(which);
        return lm_fail(m, LM_ENOMEM, "out of memory");
    }
    for (int r = 0; r < n_req && !rc; r++) {
        if (done[r])
            continue;
        int first = r * c->per_request, cnt = p->n - first < c->per_request ? p->n - first : c->per_request;
        char *body = k->build(m, c, b, p, first, cnt, stage[r]);
        if (!body)
            rc = lm_fail(m, LM_ENOMEM, "out of memory for a request of %d sequences", cnt);
        else {
            c->stats->bytes_up_scoring += (long long)strlen(body);
            reqs[n] = (rhttp_req){.path = k->path, .body = body};
            which[n++] = r;
        }
    }
    if (!rc)
        rhttp_perform(c->http, reqs, n);
    for (int j = 0; j < n && !rc; j++) {
        int r = which[j], first = r * c->per_request;
        int cnt = p->n - first < c->per_request ? p->n - first : c->per_request;
        cJSON *o = rembc_answer(m, &reqs[j], &rc);
        float *mine = lp + (size_t)first * p->n_ids;
        for (size_t i = 0; i < (size_t)cnt * p->n_ids; i++)
            mine[i] = NAN;
        if (!rc)
            rc = k->read(m, o, p, cnt, stage[r], mine);
        cJSON_Delete(o);
        int miss = -1, at = 0;
        for (; !rc && at < cnt && miss < 0; at++)
            miss = rplan_missing(p, b, first + at, mine + (size_t)at * p->n_ids);
        if (rc || miss < 0) {
            done[r] = !rc;
            continue;
        }
        if (!strstr(why, k->stage_names[stage[r]])) /* each way said once: by its first request, in order */
            snprintf(why + strlen(why), why_cap - strlen(why), "%sasked with %s, label id %d of sequence %d did not "
                     "come back", why[0] ? "; " : "", k->stage_names[stage[r]], miss, first + at - 1);
        stage[r] = next_stage(k, p, stage[r] + 1);
        if (stage[r] == k->n_stages)
            rc = lm_fail(m, LM_EREMOTE, "%s: POST %s: %s (%s)", c->http->base, k->path, why, k->hint);
    }
    for (int j = 0; j < n; j++) {
        free((char *)reqs[j].body);
        rhttp_reply_free(&reqs[j].reply);
    }
    free(reqs), free(which);
    *sent = n;
    return rc;
}

int rembc_score(lm *m, const lm_batch *b, float *scores)
{
    rembc *c = m->impl;
    for (int i = 0; i < b->n_seqs; i++)
        if (b->seqs[i].type_ids)
            return lm_fail(m, LM_EUNSUPPORTED, "%s: token types cannot be sent as input embeddings", m->path);
    if (b->deep_prompts)
        return lm_fail(m, LM_EUNSUPPORTED, "%s: %s engines take input-layer prompts only (no deep prompts)", m->path,
                       m->info.arch);
    rplan p;
    int rc = rplan_build(m, &p, b);
    if (rc)
        return rc;
    int n_req = (p.n + c->per_request - 1) / c->per_request, sent = 1;
    float *lp = malloc(((size_t)p.n * p.n_ids + 1) * sizeof *lp);
    int *stage = malloc(((size_t)n_req + 1) * sizeof *stage);
    char *done = calloc((size_t)n_req + 1, 1), why[600] = "";
    if (!lp || !stage || !done)
        rc = lm_fail(m, LM_ENOMEM, "out of memory for %d sequences", p.n);
    for (int r = 0; r < n_req && !rc; r++)
        stage[r] = next_stage(c->kind, &p, c->stage);
    if (!rc && n_req && stage[0] == c->kind->n_stages)
        rc = lm_fail(m, LM_EUNSUPPORTED, "%s: no way to ask for %d label ids (%s)", m->path, p.n_ids, c->kind->hint);
    while (!rc && sent)
        rc = round_trip(m, c, b, &p, n_req, stage, done, lp, why, sizeof why, &sent);
    if (!rc) { /* added in sequence order, whatever order the answers came in */
        memset(scores, 0, (size_t)b->n_seqs * b->n_labels * sizeof *scores);
        for (int q = 0; q < p.n; q++)
            rplan_add(&p, b, q, lp + (size_t)q * p.n_ids, scores);
        for (int r = 0; r < n_req; r++)
            c->stage = stage[r] > c->stage ? stage[r] : c->stage;
        c->stats->candidates += b->n_prompts;
    }
    free(lp), free(stage), free(done);
    rplan_free(&p);
    return rc;
}

int rembc_logits(lm *m, const int *ids, int n, float *out)
{
    (void)ids, (void)n, (void)out;
    return lm_fail(m, LM_EUNSUPPORTED, "%s: a %s endpoint scores label words only (no full logits)", m->path,
                   m->info.arch);
}

int rembc_tokenize(lm *m, const char *text, size_t len, int flags, int *ids, int cap)
{
    rembc *c = m->impl;
    int rc = lm_tokenize(c->emb.local, text, len, flags, ids, cap);
    return rc < 0 ? lm_fail(m, rc, "%s", lm_errmsg(c->emb.local)) : rc;
}

int rembc_detokenize(lm *m, const int *ids, int n, char *buf, size_t cap)
{
    rembc *c = m->impl;
    int rc = lm_detokenize(c->emb.local, ids, n, buf, cap);
    return rc < 0 ? lm_fail(m, rc, "%s", lm_errmsg(c->emb.local)) : rc;
}

void rembc_stats(const lm *m, lm_remote_stats *out) { *out = *((const rembc *)m->impl)->stats; }

int rembc_open(lm *m, rhttp *http, lm_remote_stats *stats, const rembc_kind *kind, const lm_ops *ops, const char *arch)
{
    rembc *c = calloc(1, sizeof *c);
    if (!c)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    int rc = remb_open(m, &c->emb, m->opts.embeddings_dir);
    if (rc) {
        free(c);
        return rc;
    }
    c->http = http, c->stats = stats, c->kind = kind, c->wire = m->opts.wire;
    c->per_request = m->opts.request_seqs > 0 ? m->opts.request_seqs : REMB_MAX_PER_REQUEST;
    remb_adopt_info(m, &c->emb, arch);
    m->impl = c;
    m->ops = ops;
    return LM_OK;
}

void rembc_abandon(lm *m)
{
    rembc *c = m->impl;
    c->http = NULL, c->stats = NULL;
    rembc_close(c);
    m->impl = NULL, m->ops = NULL;
}

static cJSON *parse_answer(lm *m, const char *path, const char *verb, const rhttp_reply *r, int *rc)
{
    rembc *c = m->impl;
    cJSON *root = r->status == 200 ? cJSON_Parse(r->body ? r->body : "") : NULL;
    if (r->status != 200) {
        char text[400];
        rhttp_error_text(r, text, sizeof text);
        *rc = lm_fail(m, LM_EREMOTE, "%s: %s %s answered %ld: %s", c->http->base, verb, path, r->status, text);
    } else if (!root) {
        *rc = lm_fail(m, LM_EREMOTE, "%s: %s answered 200 with a body that is not JSON: \"%.80s\"", c->http->base,
                      path, r->body ? r->body : "");
    }
    return root;
}

cJSON *rembc_call(lm *m, const char *path, const char *body, int *rc)
{
    rembc *c = m->impl;
    rhttp_reply r;
    char msg[1024];
    *rc = LM_OK;
    if (rhttp_call(c->http, path, body, &r, msg, sizeof msg)) {
        rhttp_reply_free(&r);
        *rc = lm_fail(m, LM_EIO, "%s", msg);
        return NULL;
    }
    cJSON *root = parse_answer(m, path, body ? "POST" : "GET", &r, rc);
    rhttp_reply_free(&r);
    return root;
}

cJSON *rembc_answer(lm *m, const rhttp_req *q, int *rc)
{
    *rc = LM_OK;
    if (q->failed) {
        *rc = lm_fail(m, LM_EIO, "%s", q->msg);
        return NULL;
    }
    return parse_answer(m, q->path, q->body ? "POST" : "GET", &q->reply, rc);
}
