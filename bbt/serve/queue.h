/* queue.h — the scoring queue: one worker thread owns every forward pass, merging compatible jobs into one batch.
 *
 * Request threads submit jobs and wait. The worker takes the oldest job and every queued job that can share its
 * lm_score call — the same prompt length, the same labels and scoring mode — up to max_merge sequences, runs one
 * forward pass for all of them (dynamic batching, as serving engines do) and hands each job its scores. Only this one
 * thread runs the model's thread pool, so concurrent clients never oversubscribe the cores. lm_score's contract
 * (sequences are independent; batching never changes a score) is what makes merging safe.
 */
#ifndef BBT_SERVE_QUEUE_H
#define BBT_SERVE_QUEUE_H

#include <pthread.h>

#include "bbt/serve/serve_metrics.h"
#include "models/lm.h"

typedef struct score_job {
    /* the job's batch; sequences index this job's own prompts */
    int n_prompts, prompt_len;
    const float *prompts;       /* n_prompts × prompt_len × hidden */
    const float *deep_prompts;  /* BBTv2: n_prompts × layers × prompt_len × hidden (lm_batch.deep_prompts), or NULL.
                                   Such a job runs alone: its batch is the client's whole generation, as locally */
    int n_seqs;
    const lm_seq *seqs;
    int n_labels;
    const lm_label *labels;
    int raw_logits, first_token_only;
    float *scores;              /* n_seqs × n_labels, written by the worker */
    /* the outcome */
    int rc;                     /* LM_OK or an lm_status */
    char err[512];
    double forward_s, queue_s;  /* the forward pass it rode in; time waiting before it */
    int batch_seqs;             /* sequences in that forward pass (this job's and others') */
    /* private to the queue */
    int done;
    double enqueued;
    struct score_job *next;
} score_job;

typedef struct score_queue {
    pthread_mutex_t lock;
    pthread_cond_t work, finished;
    score_job *head, *tail;
    int stopping;
    pthread_t worker;
    int started;
    lm *model;
    pthread_mutex_t *lm_lock;   /* also taken by request threads that call the model directly */
    int hidden, max_merge;
    serve_metrics *metrics;
} score_queue;

int queue_start(score_queue *q, lm *model, pthread_mutex_t *lm_lock, int max_merge, serve_metrics *metrics);

/* Queue the job and wait for it; returns job->rc. After queue_stop has begun, fails with LM_EIO ("shutting down"). */
int queue_run(score_queue *q, score_job *job);

/* Finish the jobs queued, then stop the worker. */
void queue_stop(score_queue *q);

#endif
