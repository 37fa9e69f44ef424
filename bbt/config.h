/* config.h — the resolved configuration of a tuning run.
 *
 * Everything that determines a run is here, defaults written out, so that config.json in the run directory is enough to
 * resume it, evaluate it or rebuild its prompt. The defaults are the reference implementation's (bbt.py) where it has
 * one; see README for each option.
 */
#ifndef BBT_CONFIG_H
#define BBT_CONFIG_H

#include "bbt/error.h"
#include "models/lm.h"

/* The most forward-pass threads an option may ask for: the engine's own limit. */
#define MAX_THREADS LM_MAX_THREADS

typedef struct tune_config {
    /* what to tune */
    char *model;            /* model directory or file */
    char *task;             /* built-in task name, or NULL when task_file is set */
    char *task_file;        /* user task JSON, or NULL */
    char *train, *dev, *test; /* data files; test may be NULL (a task without a test split) */
    int seed;               /* run seed: projection, optimizer, and (by default) the data split 16-<seed> */

    /* the method */
    long budget;            /* evaluations: candidate prompts scored on the whole training set (8000) */
    int popsize;            /* λ (20) */
    int dim;                /* d, intrinsic dimension (500) */
    int prompt_len;         /* L (50) */
    double sigma0;          /* CMA-ES initial step size (1) */
    double alpha;           /* scale of the normal projection: std = alpha·σ̂/(√d·σ0) (1) */
    char *projection;       /* "normal" (default) or "uniform" (±1/√d) */
    char *prompt_mode;      /* "add" (default): added onto L placeholder tokens; "cat": L rows inserted */
    char *init_prompt;      /* cat mode: p0 from a prompt.safetensors; NULL = zero */
    char *loss;             /* "ce" (default), "hinge", "acc", "f1" */
    char *optimizer;        /* "sep" (default), "full", "random" */
    int noise_handling;     /* CMA-ES uncertainty handling (0) */
    int label_space;        /* label words scored as " word": -1 auto (causal 1, masked 0), resolved before config.json is written */
    int first_token_only;   /* causal LM: score only the first token of each label word (0) */

    /* bookkeeping */
    long dev_every;         /* evaluations between dev evaluations (100) */
    int checkpoint_every;   /* generations between checkpoints (10) */
    char *dtype;            /* "bf16" (default) or "f32" */
    int threads;            /* 0 = all cores */
} tune_config;

/* Defaults; string fields are owned (tune_config_free). */
void tune_config_init(tune_config *c);
void tune_config_free(tune_config *c);

/* A deep copy (dst must not hold a configuration). */
void tune_config_copy(tune_config *dst, const tune_config *src);

/* Replace a string field (frees the old value). */
void config_set(char **field, const char *value);

/* Check ranges and choices; the message names the option and the value. */
int tune_config_check(const tune_config *c, bbt_error *err);

/* config.json: written with every field, read back strictly (unknown or missing keys are errors, naming the file). */
char *tune_config_to_json(const tune_config *c);
int tune_config_load(tune_config *c, const char *path, bbt_error *err);

#endif
