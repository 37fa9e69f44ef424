/* serve_metrics.h — the server's counters, exported in the Prometheus text format at GET /metrics.
 *
 * Requests by route and status, bytes in and out, the scoring queue's depth, forward batch sizes (sequences per
 * forward pass, a histogram) and forward seconds. One mutex; every update is a few additions.
 */
#ifndef BBT_SERVE_METRICS_H
#define BBT_SERVE_METRICS_H

#include <pthread.h>

#define METRICS_MAX_SERIES 96
#define METRICS_BATCH_BUCKETS 14 /* 1, 2, 4, … 8192 sequences, then +Inf */

typedef struct metrics_series {
    char route[40];
    int status;
    unsigned long long count;
} metrics_series;

typedef struct serve_metrics {
    pthread_mutex_t lock;
    metrics_series series[METRICS_MAX_SERIES];
    int n_series;
    unsigned long long bytes_in, bytes_out;
    int queue_depth;
    unsigned long long batch_bucket[METRICS_BATCH_BUCKETS + 1];
    unsigned long long batches, batch_seqs;
    double forward_s;
} serve_metrics;

void metrics_init(serve_metrics *m);
void metrics_free(serve_metrics *m);
void metrics_request(serve_metrics *m, const char *route, int status, unsigned long long in, unsigned long long out);
void metrics_queue_depth(serve_metrics *m, int delta);
void metrics_forward(serve_metrics *m, int seqs, double seconds);

/* The exposition text (malloc'ed, caller frees). */
char *metrics_text(serve_metrics *m);

#endif
