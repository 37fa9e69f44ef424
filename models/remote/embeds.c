/* embeds.c — sequences embedded on the client for the vLLM and SGLang kinds (see embeds.h). */
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
    memset(scores, 0, (size_t)b->n_seqs * b->n_labels * sizeof *scores);
    for (int first = 0; first < p.n && !rc; first += REMB_MAX_PER_REQUEST)
        rc = c->send(m, c, b, &p, first, p.n - first < REMB_MAX_PER_REQUEST ? p.n - first : REMB_MAX_PER_REQUEST,
                     scores);
    rplan_free(&p);
    if (!rc)
        c->stats->candidates += b->n_prompts;
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

int rembc_open(lm *m, rhttp *http, lm_remote_stats *stats, rembc_send send, const lm_ops *ops, const char *arch)
{
    rembc *c = calloc(1, sizeof *c);
    if (!c)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    int rc = remb_open(m, &c->emb, m->opts.embeddings_dir);
    if (rc) {
        free(c);
        return rc;
    }
    c->http = http, c->stats = stats, c->send = send, c->wire = m->opts.wire;
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
    cJSON *root = r.status == 200 ? cJSON_Parse(r.body ? r.body : "") : NULL;
    if (r.status != 200) {
        char text[400];
        rhttp_error_text(&r, text, sizeof text);
        *rc = lm_fail(m, LM_EREMOTE, "%s: %s %s answered %ld: %s", c->http->base, body ? "POST" : "GET", path,
                      r.status, text);
    } else if (!root) {
        *rc = lm_fail(m, LM_EREMOTE, "%s: %s answered 200 with a body that is not JSON: \"%.80s\"", c->http->base,
                      path, r.body ? r.body : "");
    }
    rhttp_reply_free(&r);
    return root;
}
