/* scorer.h — scores examples under candidate vectors z: the model, the task, the label words and the projection of a run,
 * put together from its configuration. The tuner, `bbt eval` and `bbt predict` all score through this.
 */
#ifndef BBT_SCORER_H
#define BBT_SCORER_H

#include "bbt/config.h"
#include "bbt/dataset.h"
#include "bbt/deep.h"
#include "bbt/encode.h"
#include "bbt/error.h"
#include "bbt/metrics.h"
#include "bbt/projection.h"
#include "bbt/task.h"
#include "models/lm.h"

typedef struct scorer {
    lm *model;
    const lm_info *info;
    task task;
    encode_options enc;
    int *placeholders;        /* L ids (add mode) */
    encoded_labels labels;
    projection proj;
    loss_kind loss;
    int raw_logits;           /* causal LM with one-token labels: logits suffice (see lm_batch.raw_logits) */
    int first_token_only;     /* causal LM: score each label by its first token only */
    double embedding_std;     /* σ̂ */
    double forward_s;         /* time spent in lm_score, accumulated */
    /* A's description, for a remote model that rebuilds A itself (lm_score_projected) */
    int seed;
    projection_kind projection_kind;
    double alpha, sigma0;
    deep_prompt *deep;        /* BBTv2 (--deep): z holds a block per layer (bbt/deep.h); NULL for BBT. Owned: set with
                                 deep_open after scorer_open, freed by scorer_close */
} scorer;

/* Open the model, load the task, tokenize the label words, choose the placeholders and draw the projection. With
 * cfg->prompt_mode LM_PROMPT_NONE (set by a program, never parsed: the baselines of bbt/baseline.h) there is no prompt:
 * no placeholders, no projection, and scorer_score scores the sequences as they are (z and count ignored). */
int scorer_open(scorer *s, const tune_config *cfg, bbt_error *err);
void scorer_close(scorer *s);

/* The encoding a run uses for a task on a model (the part of scorer_open that needs no configuration file, shared with
 * `bbt serve`): encode options for the mode, L and label space (-1: auto, " word" for causal LMs), the placeholders
 * (add mode; *placeholders is malloc'ed, NULL in cat mode), the label words' tokens, whether logits suffice
 * (*raw_logits) and the room multi-token labels need. On failure the caller frees what was filled. */
int scorer_setup_encoding(lm *m, const task *t, lm_prompt_mode mode, int prompt_len, int label_space,
                          int first_token_only, encode_options *enc, int **placeholders, encoded_labels *labels,
                          int *raw_logits, bbt_error *err);

/* Read a data file with the task's columns and encode it (labels required when need_labels). */
int scorer_load(scorer *s, const char *path, int need_labels, dataset *d, encoded_set *e, bbt_error *err);

/* scores[(c·n + i)·C + j] = score of label j for example i under candidate c (count candidates, z: count × d, or
 * count × N·d with deep prompts).
 * One lm_score call for the whole population. z == NULL scores the untuned prompt (z = 0) once. */
int scorer_score(scorer *s, const encoded_set *e, const double *z, int count, float *scores, bbt_error *err);

/* The examples of e as a batch without prompts (labels and scoring mode of the run): what lm_score_projected and
 * BBTv2's σ̂_l measurement (deep_open) take. */
lm_batch scorer_examples(const scorer *s, const encoded_set *e);

/* Loss of each candidate from its scores (count values). */
void scorer_losses(const scorer *s, const encoded_set *e, const float *scores, int count, double *losses);

/* The task's metric (accuracy, or F1 of the positive class) of one candidate's scores; −∞ when a score is not finite. */
double scorer_metric(const scorer *s, const encoded_set *e, const float *scores);

#endif
