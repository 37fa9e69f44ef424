/* runfiles.h — the files a finished run leaves for its users: prompt.json, prompt.safetensors, summary.json.
 *
 * prompt.json holds the kept z with everything needed to rebuild the dense prompt (projection seed and settings,
 * placeholders, the model's embedding std); its numbers read back bit for bit. prompt.safetensors holds the method's
 * dense L × H prompt p = A·z + p0, where p0 is zero or --init-prompt in cat mode and the placeholder tokens' rows of
 * the input embedding table in add mode. What that is to the model:
 *   - cat mode, any model: exactly the rows inserted into its input;
 *   - add mode, causal LMs (Llama, GPT-2): exactly the input rows at the prompt positions, at the token-embedding
 *     level (GPT-2 then adds its position embeddings, as to Hugging Face's inputs_embeds);
 *   - add mode, masked LMs (BERT, RoBERTa): not the rows the encoder sees. These models add A·z after the embedding
 *     LayerNorm, onto LayerNorm(word + position + type) of the placeholders, which depends on the position; the file
 *     holds p = word embeddings + A·z all the same (the method's p; A·z is the file minus the placeholders' rows).
 */
#ifndef BBT_RUNFILES_H
#define BBT_RUNFILES_H

#include "bbt/config.h"
#include "bbt/error.h"
#include "bbt/scorer.h"

#define CHECKPOINT_FILE "checkpoint.bin"
/* The checkpoint before a finished run's last generation: where `--resume RUN --budget N` starts from (tuner.h). */
#define CHECKPOINT_PREV_FILE "checkpoint.prev.bin"

/* What a run read from one split: the file (NULL: the run has no such split), its examples, how many of them are blank
 * (a text field empty or only white space) and how many were cut to fit the model's context. */
typedef struct run_split {
    const char *path;
    int examples, blank, truncated;
} run_split;

enum { RUN_TRAIN, RUN_DEV, RUN_TEST, RUN_N_SPLITS };
extern const char *const run_split_names[RUN_N_SPLITS]; /* "train", "dev", "test" */

typedef struct run_results {
    const double *best_z;     /* the kept prompt's z (d values) */
    const char *source;       /* "untuned", "mean" or "generation_best" */
    long best_dev_evals;      /* evaluations when it was found */
    long evals;
    double train_loss_initial, train_loss_best;
    double untuned_dev, dev_metric;
    double dev_acc, dev_f1;
    int has_test;
    double test_acc, test_f1, untuned_test_acc, untuned_test_f1;
    unsigned stop_bits;       /* optimizer stop reasons if it ended before the budget */
    double wall_s, forward_s;
    run_split splits[RUN_N_SPLITS]; /* summary.json's "data" */
} run_results;

/* 0 when dir is a directory holding a run (its config.json); otherwise a message that says what dir is instead. */
int runfiles_check_run_dir(const char *dir, bbt_error *err);

/* Write prompt.json, prompt.safetensors and summary.json into dir; *summary gets summary.json's text (caller frees). */
int runfiles_write_results(const char *dir, const tune_config *cfg, scorer *s, const run_results *r, char **summary,
                           bbt_error *err);

/* Read the kept z from a run's prompt.json (d values, malloc'ed), checking it against the run's configuration. */
int runfiles_read_prompt(const char *dir, const tune_config *cfg, double **z, bbt_error *err);

#endif
