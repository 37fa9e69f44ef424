/* queue.c — the scoring worker and its job queue (see queue.h). */
#include "bbt/serve/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int labels_equal(const score_job *a, const score_job *b)
{
    if (a->n_labels != b->n_labels)
        return 0;
    if (a->labels == b->labels)
        return 1;
    for (int j = 0; j < a->n_labels; j++)
        if (a->labels[j].n != b->labels[j].n ||
            memcmp(a->labels[j].ids, b->labels[j].ids, (size_t)a->labels[j].n * sizeof(int)))
            return 0;
    return 1;
}

static int compatible(const score_job *a, const score_job *b)
{
    return a->prompt_len == b->prompt_len && a->raw_logits == b->raw_logits &&
           a->first_token_only == b->first_token_only && (a->prompts != NULL) == (b->prompts != NULL) &&
           !a->deep_prompts && !b->deep_prompts && labels_equal(a, b);
}

/* Take the oldest job and the queued jobs that can share its forward pass (lock held). Returns the count. */
static int take_batch(score_queue *q, score_job **out, int cap)
{
    score_job *first = q->head;
    q->head = first->next;
    out[0] = first;
    int n = 1, seqs = first->n_seqs;
    score_job **link = &q->head;
    while (*link && n < cap) {
        score_job *j = *link;
        if (compatible(first, j) && seqs + j->n_seqs <= q->max_merge) {
            *link = j->next;
            out[n++] = j;
            seqs += j->n_seqs;
        } else {
            link = &j->next;
        }
    }
    q->tail = NULL;
    for (score_job *j = q->head; j; j = j->next)
        q->tail = j;
    return n;
}

/* One lm_score call for jobs[0..n): prompts and sequences concatenated, each job's prompt indices shifted. */
static int run_merged(score_queue *q, score_job **jobs, int n, double *seconds)
{
    int P = 0, S = 0;
    for (int k = 0; k < n; k++) {
        P += jobs[k]->n_prompts;
        S += jobs[k]->n_seqs;
    }
    const score_job *f = jobs[0];
    size_t per_prompt = (size_t)f->prompt_len * (size_t)q->hidden;
    float *prompts = f->prompts && n > 1 ? malloc((size_t)P * per_prompt * sizeof *prompts) : NULL;
    lm_seq *seqs = malloc((size_t)(S ? S : 1) * sizeof *seqs);
    float *scores = malloc((size_t)(S ? S : 1) * (size_t)f->n_labels * sizeof *scores);
    if (!seqs || !scores || (f->prompts && n > 1 && !prompts)) {
        free(prompts), free(seqs), free(scores);
        return LM_ENOMEM;
    }
    int p_at = 0, s_at = 0;
    for (int k = 0; k < n; k++) {
        const score_job *j = jobs[k];
        if (prompts)
            memcpy(prompts + (size_t)p_at * per_prompt, j->prompts, (size_t)j->n_prompts * per_prompt * sizeof *prompts);
        for (int i = 0; i < j->n_seqs; i++) {
            seqs[s_at + i] = j->seqs[i];
            seqs[s_at + i].prompt += p_at;
        }
        p_at += j->n_prompts;
        s_at += j->n_seqs;
    }
    lm_batch b = {0};
    b.n_prompts = P;
    b.prompt_len = f->prompt_len;
    b.prompts = prompts ? prompts : f->prompts;
    b.deep_prompts = f->deep_prompts; /* a deep job is never merged (compatible), so n is 1 */
    b.n_seqs = S;
    b.seqs = seqs;
    b.n_labels = f->n_labels;
    b.labels = f->labels;
    b.raw_logits = f->raw_logits;
    b.first_token_only = f->first_token_only;
    pthread_mutex_lock(q->lm_lock);
    double t0 = now();
    int rc = lm_score(q->model, &b, scores);
    *seconds = now() - t0;
    if (rc != LM_OK)
        for (int k = 0; k < n; k++)
            snprintf(jobs[k]->err, sizeof jobs[k]->err, "%s", lm_errmsg(q->model));
    pthread_mutex_unlock(q->lm_lock);
    s_at = 0;
    for (int k = 0; k < n && rc == LM_OK; k++) {
        memcpy(jobs[k]->scores, scores + (size_t)s_at * f->n_labels,
               (size_t)jobs[k]->n_seqs * (size_t)f->n_labels * sizeof *scores);
        s_at += jobs[k]->n_seqs;
    }
    free(prompts), free(seqs), free(scores);
    return rc;
}

static void finish(score_queue *q, score_job **jobs, int n, int rc, double seconds, int seqs)
{
    pthread_mutex_lock(&q->lock);
    for (int k = 0; k < n; k++) {
        jobs[k]->rc = rc;
        jobs[k]->forward_s = seconds;
        jobs[k]->batch_seqs = seqs;
        jobs[k]->done = 1;
    }
    pthread_cond_broadcast(&q->finished);
    pthread_mutex_unlock(&q->lock);
}

static void run_jobs(score_queue *q, score_job **jobs, int n)
{
    double start = now(), seconds = 0;
    int seqs = 0;
    for (int k = 0; k < n; k++) {
        jobs[k]->queue_s = start - jobs[k]->enqueued;
        seqs += jobs[k]->n_seqs;
    }
    int rc = run_merged(q, jobs, n, &seconds);
    if (rc == LM_OK || n == 1) {
        metrics_forward(q->metrics, seqs, seconds);
        finish(q, jobs, n, rc, seconds, seqs);
        return;
    }
    /* One job of the merge was bad: score each alone so that only that one fails. */
    for (int k = 0; k < n; k++) {
        rc = run_merged(q, &jobs[k], 1, &seconds);
        metrics_forward(q->metrics, jobs[k]->n_seqs, seconds);
        finish(q, &jobs[k], 1, rc, seconds, jobs[k]->n_seqs);
    }
}

#define MERGE_CAP 256

static void *worker_main(void *arg)
{
    score_queue *q = arg;
    score_job *jobs[MERGE_CAP];
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->work, &q->lock);
        if (!q->head)
            break; /* stopping, and nothing left */
        int n = take_batch(q, jobs, MERGE_CAP);
        pthread_mutex_unlock(&q->lock);
        run_jobs(q, jobs, n);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int queue_start(score_queue *q, lm *model, pthread_mutex_t *lm_lock, int max_merge, serve_metrics *metrics)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->finished, NULL);
    q->model = model;
    q->lm_lock = lm_lock;
    q->hidden = lm_get_info(model)->hidden;
    q->max_merge = max_merge;
    q->metrics = metrics;
    if (pthread_create(&q->worker, NULL, worker_main, q))
        return -1;
    q->started = 1;
    return 0;
}

int queue_run(score_queue *q, score_job *job)
{
    job->done = 0;
    job->next = NULL;
    job->err[0] = '\0';
    job->enqueued = now();
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        snprintf(job->err, sizeof job->err, "the server is shutting down");
        return job->rc = LM_EIO;
    }
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    pthread_cond_signal(&q->work);
    metrics_queue_depth(q->metrics, 1);
    while (!job->done)
        pthread_cond_wait(&q->finished, &q->lock);
    pthread_mutex_unlock(&q->lock);
    metrics_queue_depth(q->metrics, -1);
    return job->rc;
}

void queue_stop(score_queue *q)
{
    if (!q->started)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->worker, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->finished);
    q->started = 0;
}
