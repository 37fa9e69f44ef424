/* multi.c — several endpoints of the same model as one lm: the candidates of a projected call (bbt serve), or the
 * sequences of a dense one (vllm, sglang), are split across them (contiguous parts, sized by each endpoint's measured
 * speed), scored concurrently and put back in order. Each endpoint is a whole backend of its own (its handle, its
 * uploads, its libcurl multi handle with that endpoint's requests in flight together), driven by one thread per
 * endpoint: the endpoints' backends keep state between calls (example handles, the way label ids are asked for), so
 * a thread each keeps them apart without splitting every backend's calls into send and receive halves. Every
 * candidate's scores come from one forward pass on one server and do not depend on its neighbours, so the result does
 * not depend on the number of endpoints, the split or the order in which answers arrive.
 *
 * lm_options.max_inflight bounds the requests in flight over all endpoints: min(N, endpoints) endpoints work at once
 * (in waves when N is smaller), each with N / that many requests of its own in flight.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/remote/remote.h"

#define MAX_ENDPOINTS 64

typedef struct multi {
    int n;
    lm *ep[MAX_ENDPOINTS];
    double per_candidate_s[MAX_ENDPOINTS]; /* measured seconds per candidate, or per sequence for endpoints that take
                                              embedded sequences (0: not yet measured) */
    long long dense_candidates; /* prompts of the dense calls split here (each endpoint counts those it saw) */
} multi;

/* How one endpoint's part of a call went; the first member of every kind of part, so that run_parts can read it. */
typedef struct part_result {
    int rc;
    double seconds;
} part_result;

typedef struct part {
    part_result res;
    lm *m;
    const lm_batch *ex;
    const lm_projection *p;
    const double *z;
    int first, count;
    float *scores;
} part;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void multi_close(void *p)
{
    multi *mu = p;
    if (!mu)
        return;
    for (int i = 0; i < mu->n; i++)
        lm_close(mu->ep[i]);
    free(mu);
}

static void *run_part(void *arg)
{
    part *pt = arg;
    double t0 = now_s();
    size_t per = (size_t)pt->p->dim * (size_t)(pt->p->layers > 1 ? pt->p->layers : 1); /* z's values per candidate */
    pt->res.rc = lm_score_projected(pt->m, pt->ex, pt->p, pt->z + (size_t)pt->first * per, pt->count,
                                    pt->scores + (size_t)pt->first * pt->ex->n_seqs * pt->ex->n_labels);
    pt->res.seconds = now_s() - t0;
    return NULL;
}

/* Part sizes proportional to each endpoint's speed (equal until measured), every endpoint at least one when possible. */
static void split(const multi *mu, int count, int *sizes)
{
    double speed[MAX_ENDPOINTS], total = 0;
    int measured = 1;
    for (int i = 0; i < mu->n; i++)
        measured &= mu->per_candidate_s[i] > 0;
    for (int i = 0; i < mu->n; i++)
        total += speed[i] = measured ? 1.0 / mu->per_candidate_s[i] : 1.0;
    int given = 0, floor_one = count >= mu->n;
    for (int i = 0; i < mu->n; i++) {
        sizes[i] = (int)((double)count * speed[i] / total);
        if (floor_one && sizes[i] < 1)
            sizes[i] = 1;
        given += sizes[i];
    }
    for (int i = 0; given > count; i = (i + 1) % mu->n) /* rounding: take back from the largest parts … */
        if (sizes[i] > (floor_one ? 1 : 0))
            sizes[i]--, given--;
    for (int i = 0; given < count; i = (i + 1) % mu->n) /* … or give the rest round the ring */
        sizes[i]++, given++;
}

/* Run fn on every part that has work (parts[i] of `stride` bytes, a part_result first, for endpoint i; sizes[i] its
 * candidates or sequences), one thread per endpoint, at most max_inflight endpoints at once (waves of that many
 * threads). Then fold each part's seconds per item into its endpoint's measured speed (a moving average, so that a
 * slow moment does not swing the next split) and report the first failure as m's error. */
static int run_parts(lm *m, multi *mu, const int *sizes, void *parts, size_t stride, void *(*fn)(void *))
{
    pthread_t th[MAX_ENDPOINTS];
    int started[MAX_ENDPOINTS] = {0};
    int wave = m->opts.max_inflight > 0 && m->opts.max_inflight < mu->n ? m->opts.max_inflight : mu->n;
    for (int w = 0; w < mu->n; w += wave) {
        for (int i = w; i < w + wave && i < mu->n; i++) {
            void *pt = (char *)parts + (size_t)i * stride;
            if (sizes[i] > 0)
                started[i] = pthread_create(&th[i], NULL, fn, pt) == 0 ? 1 : (fn(pt), 0);
        }
        for (int i = w; i < w + wave && i < mu->n; i++)
            if (started[i])
                pthread_join(th[i], NULL), started[i] = 0;
    }
    int rc = LM_OK;
    for (int i = 0; i < mu->n; i++) {
        const part_result *r = (const part_result *)((const char *)parts + (size_t)i * stride);
        if (sizes[i] > 0 && r->rc == LM_OK) {
            double per = r->seconds / sizes[i];
            mu->per_candidate_s[i] = mu->per_candidate_s[i] > 0 ? 0.7 * mu->per_candidate_s[i] + 0.3 * per : per;
        }
        if (sizes[i] > 0 && r->rc != LM_OK && rc == LM_OK)
            rc = lm_fail(m, r->rc, "%s", lm_errmsg(mu->ep[i]));
    }
    return rc;
}

static int multi_score_projected(lm *m, const lm_batch *ex, const lm_projection *p, const double *z, int count,
                                 float *scores)
{
    multi *mu = m->impl;
    int sizes[MAX_ENDPOINTS];
    split(mu, count, sizes);
    part parts[MAX_ENDPOINTS];
    int first = 0;
    for (int i = 0; i < mu->n; i++) {
        parts[i] = (part){{LM_OK, 0}, mu->ep[i], ex, p, z, first, sizes[i], scores};
        first += sizes[i];
    }
    return run_parts(m, mu, sizes, parts, sizeof parts[0], run_part);
}

typedef struct seq_part {
    part_result res;
    lm *m;
    lm_batch b;   /* the batch restricted to a run of its sequences (prompt indices still index all prompts) */
    float *scores;
} seq_part;

static void *run_seq_part(void *arg)
{
    seq_part *pt = arg;
    double t0 = now_s();
    pt->res.rc = lm_score(pt->m, &pt->b, pt->scores);
    pt->res.seconds = now_s() - t0;
    return NULL;
}

/* Dense prompts. Endpoints that project (bbt serve) get every dense call on the first one (the untuned prompt only:
 * generations go the projected way). Endpoints that take embedded sequences (vllm, sglang) share every call: its
 * sequences, which are scored independently, are split into runs sized by measured speed, as candidates are above. */
static int multi_score(lm *m, const lm_batch *b, float *scores)
{
    multi *mu = m->impl;
    if (lm_can_project(mu->ep[0]) || mu->n == 1) {
        int rc = lm_score(mu->ep[0], b, scores);
        return rc ? lm_fail(m, rc, "%s", lm_errmsg(mu->ep[0])) : LM_OK;
    }
    int sizes[MAX_ENDPOINTS], first = 0;
    split(mu, b->n_seqs, sizes);
    seq_part parts[MAX_ENDPOINTS];
    for (int i = 0; i < mu->n; i++) {
        parts[i] = (seq_part){{LM_OK, 0}, mu->ep[i], *b, scores + (size_t)first * b->n_labels};
        parts[i].b.seqs = b->seqs + first;
        parts[i].b.n_seqs = sizes[i];
        first += sizes[i];
    }
    int rc = run_parts(m, mu, sizes, parts, sizeof parts[0], run_seq_part);
    if (rc == LM_OK)
        mu->dense_candidates += b->n_prompts;
    return rc;
}

static int multi_logits(lm *m, const int *ids, int n, float *out)
{
    multi *mu = m->impl;
    int rc = lm_logits(mu->ep[0], ids, n, out);
    return rc ? lm_fail(m, rc, "%s", lm_errmsg(mu->ep[0])) : LM_OK;
}

static int multi_tokenize(lm *m, const char *text, size_t len, int flags, int *ids, int cap)
{
    multi *mu = m->impl;
    int rc = lm_tokenize(mu->ep[0], text, len, flags, ids, cap);
    return rc < 0 ? lm_fail(m, rc, "%s", lm_errmsg(mu->ep[0])) : rc;
}

static int multi_detokenize(lm *m, const int *ids, int n, char *buf, size_t cap)
{
    multi *mu = m->impl;
    int rc = lm_detokenize(mu->ep[0], ids, n, buf, cap);
    return rc < 0 ? lm_fail(m, rc, "%s", lm_errmsg(mu->ep[0])) : rc;
}

/* BBTv2's layer scales: one endpoint measures them (every endpoint serves the same model, so any gives the same) */
static int multi_layer_std(lm *m, const lm_batch *ex, int layers, double *std)
{
    multi *mu = m->impl;
    int rc = lm_layer_std(mu->ep[0], ex, layers, std);
    return rc ? lm_fail(m, rc, "%s", lm_errmsg(mu->ep[0])) : LM_OK;
}

static void multi_stats(const lm *m, lm_remote_stats *out)
{
    const multi *mu = m->impl;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < mu->n; i++) {
        lm_remote_stats s;
        lm_get_remote_stats(mu->ep[i], &s);
        out->calls += s.calls, out->retries += s.retries, out->uploads += s.uploads;
        out->bytes_up += s.bytes_up, out->bytes_down += s.bytes_down, out->bytes_up_scoring += s.bytes_up_scoring;
        out->candidates += s.candidates, out->server_s += s.server_s;
        if (s.network_s > out->network_s) /* the endpoints work at the same time: the longest is the wait */
            out->network_s = s.network_s;
    }
    if (!lm_can_project(mu->ep[0]) && mu->n > 1)
        out->candidates = mu->dense_candidates;
}

static const lm_ops multi_ops = {
    .name = "remote:multi",
    .close = multi_close,
    .score = multi_score,
    .logits = multi_logits,
    .tokenize = multi_tokenize,
    .detokenize = multi_detokenize,
    .score_projected = multi_score_projected,
    .layer_std = multi_layer_std,
    .remote_stats = multi_stats,
};

/* endpoints that take embedded sequences (vllm, sglang): no projected route, so lm_can_project says 0 */
static const lm_ops multi_dense_ops = {
    .name = "remote:multi",
    .close = multi_close,
    .score = multi_score,
    .logits = multi_logits,
    .tokenize = multi_tokenize,
    .detokenize = multi_detokenize,
    .remote_stats = multi_stats,
};

/* The endpoints must serve the same model: the same sizes, special tokens and embedding table. */
static int same_model(lm *m, lm *a, lm *b)
{
    const lm_info *x = lm_get_info(a), *y = lm_get_info(b);
    if (x->hidden != y->hidden || x->vocab != y->vocab || x->max_pos != y->max_pos || x->kind != y->kind ||
        x->bos != y->bos || x->eos != y->eos || x->layers != y->layers)
        return lm_fail(m, LM_EINVAL, "%s and %s do not serve the same model (sizes or special tokens differ)",
                       x->path, y->path);
    const float *ea = lm_embeddings(a), *eb = lm_embeddings(b);
    if (!ea || !eb || memcmp(ea, eb, (size_t)x->vocab * (size_t)x->hidden * sizeof(float)))
        return lm_fail(m, LM_EINVAL, "%s and %s do not serve the same model (their embedding tables differ)",
                       x->path, y->path);
    return LM_OK;
}

int remote_open_multi(lm *m, const char *urls)
{
    multi *mu = calloc(1, sizeof *mu);
    char *list = strdup(urls), *save = NULL;
    if (!mu || !list) {
        free(mu);
        free(list);
        return lm_fail(m, LM_ENOMEM, "out of memory");
    }
    m->impl = mu;
    m->ops = &multi_ops;
    int rc = LM_OK, n_urls = 1;
    for (const char *c = urls; *c; c++)
        n_urls += *c == ',';
    lm_options o = m->opts; /* each endpoint's share of the requests in flight */
    int at_once = o.max_inflight > 0 && o.max_inflight < n_urls ? o.max_inflight : n_urls;
    if (o.max_inflight > 0)
        o.max_inflight = o.max_inflight / at_once;
    for (char *u = strtok_r(list, ",", &save); u && !rc; u = strtok_r(NULL, ",", &save)) {
        if (mu->n == MAX_ENDPOINTS) {
            rc = lm_fail(m, LM_EINVAL, "more than %d endpoints", MAX_ENDPOINTS);
            break;
        }
        char err[1024];
        rc = lm_open(&mu->ep[mu->n], u, &o, err, sizeof err);
        if (rc)
            lm_fail(m, rc, "%s", err);
        else if (++mu->n > 1)
            rc = same_model(m, mu->ep[0], mu->ep[mu->n - 1]);
    }
    free(list);
    if (!rc && mu->n == 0)
        rc = lm_fail(m, LM_EINVAL, "no endpoint URL in \"%s\"", urls);
    if (rc) {
        multi_close(mu);
        m->impl = NULL, m->ops = NULL;
        return rc;
    }
    if (!lm_can_project(mu->ep[0]))
        m->ops = &multi_dense_ops;
    m->info = *lm_get_info(mu->ep[0]);
    m->info.arch = "remote:multi";
    m->embeddings = lm_embeddings(mu->ep[0]);
    return LM_OK;
}
