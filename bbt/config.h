/* config.h — the resolved configuration of a tuning run, and the one table that describes its settings.
 *
 * Everything that determines a run is here, defaults written out, so that config.json in the run directory is enough to
 * resume it, evaluate it or rebuild its prompt. The defaults are the reference implementation's (bbt.py) where it has
 * one; see README for each option.
 *
 * Settings with a fixed set of values (projection, prompt mode, loss, optimizer, dtype) are enums of the modules that
 * use them; their names ("normal", "cat", "hinge", …) exist only in the table of config.c, which drives defaults,
 * checks, config.json (written and read with the same names as ever) and the command line of `bbt tune` (options and
 * --help). A new setting is one field here and one line in that table.
 */
#ifndef BBT_CONFIG_H
#define BBT_CONFIG_H

#include <stddef.h>

#include "bbt/error.h"
#include "bbt/metrics.h"
#include "bbt/projection.h"
#include "models/lm.h"

/* The most forward-pass threads an option may ask for: the engine's own limit. */
#define MAX_THREADS LM_MAX_THREADS

typedef enum optimizer_kind {
    OPTIMIZER_SEP = 0,      /* separable CMA-ES (diagonal covariance), the reference's choice */
    OPTIMIZER_FULL = 1,     /* CMA-ES with a full covariance matrix */
    OPTIMIZER_RANDOM = 2    /* random search: λ draws from N(0, σ0² I) per generation, the baseline */
} optimizer_kind;

/* A run without tuning (bbt/baseline.h): the task's template alone, or after labelled demonstrations (in-context
 * learning, causal LMs). BASELINE_NONE: the usual tuning run. */
typedef enum baseline_kind {
    BASELINE_NONE = 0,
    BASELINE_MANUAL = 1,    /* the template with no prompt: the paper's "manual prompt" row */
    BASELINE_ICL = 2        /* as many training demonstrations as fit the context (one per class at least), then the template */
} baseline_kind;

/* What answers at --endpoint (auto: ask GET /bbt/v1/info): bbt serve's native route, vLLM, SGLang. */
typedef enum endpoint_kind {
    ENDPOINT_AUTO = 0,
    ENDPOINT_BBT = 1,
    ENDPOINT_VLLM = 2,
    ENDPOINT_SGLANG = 3
} endpoint_kind;

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
    projection_kind projection; /* PROJ_NORMAL (default) or PROJ_UNIFORM (±1/√d) */
    lm_prompt_mode prompt_mode; /* LM_PROMPT_ADD (default): added onto L placeholder tokens; LM_PROMPT_CAT: L rows inserted */
    char *init_prompt;      /* cat mode: p0 from a prompt.safetensors; NULL = zero */
    loss_kind loss;         /* LOSS_CE (default), LOSS_HINGE, LOSS_ACC, LOSS_F1 */
    optimizer_kind optimizer; /* OPTIMIZER_SEP (default), OPTIMIZER_FULL, OPTIMIZER_RANDOM */
    int noise_handling;     /* CMA-ES uncertainty handling (0) */
    int label_space;        /* label words scored as " word": -1 auto (causal 1, masked 0), resolved before config.json is written */
    int first_token_only;   /* causal LM: score only the first token of each label word (0) */
    baseline_kind baseline; /* BASELINE_NONE (default): tune; otherwise score a baseline and stop (bbt/baseline.h) */

    /* bookkeeping */
    long dev_every;         /* evaluations between dev evaluations (100) */
    int checkpoint_every;   /* generations between checkpoints (10) */
    lm_dtype dtype;         /* LM_BF16 (default) or LM_F32 */
    int threads;            /* 0 = all cores */

    /* a remote model (README "Remote models"): scored at this URL instead of opening `model` (the API key is never
     * recorded: it comes from --api-key, --api-key-file or $BBT_API_KEY, see scorer.c) */
    char *endpoint;         /* NULL = the local model */
    endpoint_kind endpoint_kind; /* ENDPOINT_AUTO (default) */
    double timeout;         /* seconds per HTTP request (120) */
    int retries;            /* further attempts after a transient failure (3) */
    int max_inflight;       /* remote requests in flight at once, over all endpoints (0 = up to 8 per endpoint) */
    int request_seqs;       /* vllm/sglang: sequences per request (0 = 1024) */
    char *embeddings;       /* vllm/sglang: the served model's files (tokenizer, embedding table); NULL = none */
    char *endpoint_model;   /* vllm: the served model's name; NULL = the first GET /v1/models lists */
    lm_dtype wire;          /* vllm: prompt_embeds tensors' dtype, LM_BF16 (default) or LM_F32 */

    /* BBTv2 (bbt/deep.h): a prompt z_l per layer, tuned layer by layer */
    int deep;               /* 0: BBT (one prompt at the input); 1: BBTv2 (deep prompts) */
    int deep_layers;        /* layers 0 .. N-1 get a prompt; 0 = every layer, resolved before config.json is written */
} tune_config;

/* ---- the table of settings ---- */

typedef enum config_type {
    CFG_STR,     /* char * (owned); null in config.json when the field is nullable */
    CFG_INT,     /* int */
    CFG_LONG,    /* long */
    CFG_DBL,     /* double */
    CFG_FLAG,    /* int 0/1: a flag (no value) on the command line, a number in config.json */
    CFG_CHOICE,  /* an enum (int-sized): one of its choices' names, on the command line and in config.json */
    CFG_AUTO     /* int 1/0/-1: yes|no|auto on the command line, a number in config.json (auto is resolved first) */
} config_type;

typedef struct config_choice {
    const char *name;
    int value;
} config_choice;

typedef struct config_field {
    const char *key;        /* config.json key */
    const char *option;     /* command-line option, without the dashes */
    config_type type;
    size_t offset;          /* of the value in tune_config */
    int nullable;           /* CFG_STR: may be null (unset) */
    const char *def;        /* default, as the command line would write it; NULL: none, or found later (see help) */
    const config_choice *choices; /* CFG_CHOICE, CFG_AUTO: the values, ended by a NULL name */
    const char *metavar;    /* what the value is, for --help ("DIR"); NULL for flags */
    const char *help;       /* one line (a '\n' continues it); choices and default are appended by config_field_help */
    int optional;           /* may be missing from config.json (a setting added later): the default applies */
    int repeatable;         /* CFG_STR: the option may be given several times, the values joined with commas (the
                               list is recorded in that form) */
} config_field;

/* The settings in config.json's order; *n gets their count. */
const config_field *tune_config_fields(int *n);

/* The setting with this command-line option name, or NULL. */
const config_field *tune_config_field(const char *option);

/* Set one setting of c from text as the command line gives it ("8000", "hinge", "yes"; a flag takes "0" or "1").
 * The message names the option and the value: "--loss mse: expected ce, hinge, acc or f1". */
int tune_config_set(tune_config *c, const config_field *f, const char *text, bbt_error *err);

/* The name of an enum setting's value in c ("normal", "add", "ce", "sep", "bf16"), by its config.json key. */
const char *tune_config_name(const tune_config *c, const char *key);

/* The settings' names on their own, for other readers of the same words (bbt serve's request fields): the value of the
 * choice called name of the setting key (e.g. "prompt_mode", "cat" → LM_PROMPT_CAT), or -1 when it is none of them;
 * and the name of a value ("?" when it has none). */
int config_choice_value(const char *key, const char *name);
const char *config_choice_name(const char *key, int value);

/* The method a configuration runs, "bbt" or "bbtv2" (deep prompts), or its baseline ("manual", "icl"). config.json
 * carries it under METHOD_KEY for its readers; it is derived from "deep" and "baseline", and a file where they disagree
 * is refused. */
#define METHOD_KEY "method"
const char *tune_config_method(const tune_config *c);

/* The --help text of a setting: its help, its choices and its default. malloc'ed (caller frees). */
char *config_field_help(const config_field *f);

/* ---- whole configurations ---- */

/* Defaults (from the table); string fields are owned (tune_config_free). */
void tune_config_init(tune_config *c);
void tune_config_free(tune_config *c);

/* A deep copy (dst must not hold a configuration). */
void tune_config_copy(tune_config *dst, const tune_config *src);

/* Replace a string field (frees the old value). */
void config_set(char **field, const char *value);

/* Check ranges and combinations; the message names the option and the value. */
int tune_config_check(const tune_config *c, bbt_error *err);

/* config.json: written with every field, read back strictly (unknown or missing keys are errors, naming the file). */
char *tune_config_to_json(const tune_config *c);
int tune_config_load(tune_config *c, const char *path, bbt_error *err);

#endif
