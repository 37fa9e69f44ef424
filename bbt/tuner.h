/* tuner.h — the Black-Box Tuning loop.
 *
 * One generation: ask the optimizer for its candidates z; project them into soft prompts; score the whole training set
 * under every candidate in one lm_score call; turn the scores into one loss per candidate; tell the optimizer. Every
 * dev_every evaluations the distribution mean (when the method has one) and the generation's best candidate are scored
 * on the dev set, and the prompt with the best dev metric so far (the untuned prompt z = 0 included) is kept. An
 * evaluation is one candidate scored on the whole training set, as in the reference. The optimizer is any method of
 * bbt/optimizer.h (CMA-ES, random search).
 *
 * The run directory holds config.json, log.jsonl, checkpoint.bin, and at the end prompt.json, prompt.safetensors and
 * summary.json. The checkpoint is written atomically every checkpoint_every generations and when interrupted; a resumed
 * run continues bit for bit as an uninterrupted one would.
 */
#ifndef BBT_TUNER_H
#define BBT_TUNER_H

#include <signal.h>

#include "bbt/config.h"
#include "bbt/error.h"
#include "bbt/task.h"
#include "bbt/runfiles.h"

typedef struct tuner tuner;

/* What the progress callback sees after each generation. */
typedef struct tune_progress {
    long evals, budget, generation;
    double best_train_loss;
    double last_dev;        /* dev metric of the last dev evaluation (NaN before the first) */
    double best_dev;        /* the kept prompt's dev metric (log.jsonl's dev_kept) */
    const char *metric;     /* the dev metric's name: "acc", "f1" or "macro_f1" */
    double evals_per_s;     /* of this session */
    double eta_s;
    const char *log_line;   /* the log.jsonl line just written (no newline) */
} tune_progress;

typedef void (*tune_progress_fn)(const tune_progress *p, void *userdata);

/* Set up a new run in dir (which must not hold a run) from a checked configuration: load the model, task and data,
 * encode the splits, draw the projection, create the optimizer, write config.json. Returns 0; -1 on an error in the
 * configuration, model or data; TUNER_ESCORE when scoring the untuned prompt failed (a remote service gone after its
 * retries): config.json is written then, so tuner_resume starts the run again. */
#define TUNER_ESCORE (-2)
int tuner_create(tuner **out, const tune_config *cfg, const char *dir, bbt_error *err);

/* Reopen the run in dir from its config.json and checkpoint.bin (a run stopped before its first checkpoint, by
 * TUNER_ESCORE, starts again from config.json). threads > 0 overrides the configured thread count. */
int tuner_resume(tuner **out, const char *dir, int threads, bbt_error *err);

/* The same, and new_budget > 0 raises the run's budget (config.json is rewritten; a budget below the run's is an error).
 * A finished run goes on exactly as a run started with new_budget would: it is reopened from checkpoint.prev.bin, the
 * state before its last generation (written when a run finishes), because that generation was cut short of nothing but
 * got a dev round for being the last; its results (summary.json, prompt.*) go, to be written again at the end. A run
 * the optimizer ended before its budget cannot be extended. */
int tuner_resume_budget(tuner **out, const char *dir, int threads, long new_budget, bbt_error *err);

/* Evaluations spent so far; the optimizer's stop reasons when it ended the run before its budget (0: none). */
long tuner_evals(const tuner *t);
unsigned tuner_stop_bits(const tuner *t);

/* Run generations until the budget is spent or *interrupt becomes non-zero (then a checkpoint is written and 1 is
 * returned). Returns 0 when the budget is spent, -1 on error. */
int tuner_run(tuner *t, volatile sig_atomic_t *interrupt, tune_progress_fn progress, void *userdata, bbt_error *err);

/* What the run read from split RUN_TRAIN, RUN_DEV or RUN_TEST (path NULL: no such split); valid while t lives. */
void tuner_split(const tuner *t, int split, run_split *out);

/* After tuner_run returned 0: score the kept prompt on the test split, write prompt.json, prompt.safetensors and
 * summary.json (the latter's text is returned in *summary, caller frees). */
int tuner_finish(tuner *t, char **summary, bbt_error *err);

/* 1 when the run's budget is spent (a resumed finished run only needs tuner_finish). */
int tuner_done(const tuner *t);

const tune_config *tuner_config(const tuner *t);

/* The run's task (its classes, metric and label words). */
const task *tuner_task(const tuner *t);

void tuner_free(tuner *t);

#endif
