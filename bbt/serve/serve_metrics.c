/* serve_metrics.c — counters and their Prometheus text exposition. */
#include "bbt/serve/serve_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_init(serve_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void metrics_free(serve_metrics *m) { pthread_mutex_destroy(&m->lock); }

void metrics_request(serve_metrics *m, const char *route, int status, unsigned long long in, unsigned long long out)
{
    pthread_mutex_lock(&m->lock);
    m->bytes_in += in;
    m->bytes_out += out;
    metrics_series *s = NULL;
    for (int i = 0; i < m->n_series && !s; i++)
        if (m->series[i].status == status && !strcmp(m->series[i].route, route))
            s = &m->series[i];
    if (!s && m->n_series < METRICS_MAX_SERIES) { /* routes are a fixed set, so the series stay few */
        s = &m->series[m->n_series++];
        snprintf(s->route, sizeof s->route, "%s", route);
        s->status = status;
    }
    if (s)
        s->count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_queue_depth(serve_metrics *m, int delta)
{
    pthread_mutex_lock(&m->lock);
    m->queue_depth += delta;
    pthread_mutex_unlock(&m->lock);
}

void metrics_forward(serve_metrics *m, int seqs, double seconds)
{
    pthread_mutex_lock(&m->lock);
    int b = 0;
    while (b < METRICS_BATCH_BUCKETS && seqs > (1 << b))
        b++;
    m->batch_bucket[b]++;
    m->batches++;
    m->batch_seqs += (unsigned long long)seqs;
    m->forward_s += seconds;
    pthread_mutex_unlock(&m->lock);
}

typedef struct text {
    char *p;
    size_t n, cap;
} text;

static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (t->p && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = (t->cap + (size_t)k + 1) * 2;
        char *q = realloc(t->p, cap);
        if (!q)
            return;
        t->p = q;
        t->cap = cap;
    }
}

char *metrics_text(serve_metrics *m)
{
    text t = {0};
    pthread_mutex_lock(&m->lock);
    add(&t, "# HELP bbt_requests_total HTTP requests by route and status.\n# TYPE bbt_requests_total counter\n");
    for (int i = 0; i < m->n_series; i++)
        add(&t, "bbt_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->series[i].route, m->series[i].status,
            m->series[i].count);
    add(&t, "# HELP bbt_request_bytes_total Request body bytes received.\n# TYPE bbt_request_bytes_total counter\n"
            "bbt_request_bytes_total %llu\n", m->bytes_in);
    add(&t, "# HELP bbt_response_bytes_total Response body bytes sent.\n# TYPE bbt_response_bytes_total counter\n"
            "bbt_response_bytes_total %llu\n", m->bytes_out);
    add(&t, "# HELP bbt_queue_depth Scoring jobs waiting or running.\n# TYPE bbt_queue_depth gauge\n"
            "bbt_queue_depth %d\n", m->queue_depth);
    add(&t, "# HELP bbt_batch_sequences Sequences per forward batch (merged requests).\n"
            "# TYPE bbt_batch_sequences histogram\n");
    unsigned long long cum = 0;
    for (int b = 0; b < METRICS_BATCH_BUCKETS; b++) {
        cum += m->batch_bucket[b];
        add(&t, "bbt_batch_sequences_bucket{le=\"%d\"} %llu\n", 1 << b, cum);
    }
    cum += m->batch_bucket[METRICS_BATCH_BUCKETS];
    add(&t, "bbt_batch_sequences_bucket{le=\"+Inf\"} %llu\nbbt_batch_sequences_sum %llu\nbbt_batch_sequences_count %llu\n",
        cum, m->batch_seqs, m->batches);
    add(&t, "# HELP bbt_forward_seconds_total Time in forward passes.\n# TYPE bbt_forward_seconds_total counter\n"
            "bbt_forward_seconds_total %.6f\n", m->forward_s);
    pthread_mutex_unlock(&m->lock);
    return t.p;
}
