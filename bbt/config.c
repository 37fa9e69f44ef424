/* config.c — the table of a run's settings: defaults, checks, the config.json form and the command line's view. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/config.h"
#include "bbt/files.h"
#include "bbt/util.h"

/* Enum settings are read and written as int. */
_Static_assert(sizeof(projection_kind) == sizeof(int) && sizeof(lm_prompt_mode) == sizeof(int) &&
                   sizeof(loss_kind) == sizeof(int) && sizeof(optimizer_kind) == sizeof(int) &&
                   sizeof(lm_dtype) == sizeof(int) && sizeof(endpoint_kind) == sizeof(int) &&
                   sizeof(baseline_kind) == sizeof(int),
               "enum settings must be int-sized");

static const config_choice projections[] = {{"normal", PROJ_NORMAL}, {"uniform", PROJ_UNIFORM}, {NULL, 0}};
static const config_choice prompt_modes[] = {{"add", LM_PROMPT_ADD}, {"cat", LM_PROMPT_CAT}, {NULL, 0}};
static const config_choice losses[] = {{"ce", LOSS_CE}, {"hinge", LOSS_HINGE}, {"acc", LOSS_ACC}, {"f1", LOSS_F1},
                                       {NULL, 0}};
static const config_choice optimizers[] = {{"sep", OPTIMIZER_SEP}, {"full", OPTIMIZER_FULL},
                                           {"random", OPTIMIZER_RANDOM}, {NULL, 0}};
static const config_choice dtypes[] = {{"bf16", LM_BF16}, {"f32", LM_F32}, {NULL, 0}};
static const config_choice endpoint_kinds[] = {{"auto", ENDPOINT_AUTO}, {"bbt", ENDPOINT_BBT},
                                               {"vllm", ENDPOINT_VLLM}, {"sglang", ENDPOINT_SGLANG}, {NULL, 0}};
static const config_choice baselines[] = {{"none", BASELINE_NONE}, {"manual", BASELINE_MANUAL}, {"icl", BASELINE_ICL},
                                          {NULL, 0}};
static const config_choice yes_no_auto[] = {{"yes", 1}, {"no", 0}, {"auto", -1}, {NULL, 0}};

/* One line per setting, in config.json's order. */
#define F(key, option, type, nullable, def, choices, metavar, help) \
    {#key, option, type, offsetof(tune_config, key), nullable, def, choices, metavar, help, 0, 0}
/* settings that runs written before them lack */
#define F_OPT(key, option, type, nullable, def, choices, metavar, help) \
    {#key, option, type, offsetof(tune_config, key), nullable, def, choices, metavar, help, 1, 0}
/* … a string option that may be repeated (its values recorded as one comma-separated list) */
#define F_LIST(key, option, metavar, help) \
    {#key, option, CFG_STR, offsetof(tune_config, key), 1, NULL, NULL, metavar, help, 1, 1}
static const config_field fields[] = {
    F(model, "model", CFG_STR, 0, NULL, NULL, "DIR", "model directory or file (default: <assets>/models/stories260K)"),
    F(task, "task", CFG_STR, 1, NULL, NULL, "NAME", "built-in task (default sst2; see `bbt tasks`)"),
    F(task_file, "task-file", CFG_STR, 1, NULL, NULL, "F", "a task defined in a JSON file (see README)"),
    F(train, "train", CFG_STR, 0, NULL, NULL, "F", "training file (TSV, CSV or JSONL)"),
    F(dev, "dev", CFG_STR, 0, NULL, NULL, "F", "dev file"),
    F(test, "test", CFG_STR, 1, NULL, NULL, "F", "test file"),
    F(seed, "seed", CFG_INT, 0, "13", NULL, "S", "run seed and data split 16-S"),
    F(budget, "budget", CFG_LONG, 0, "8000", NULL, "N",
      "evaluations: candidates scored on the training set;\nthe last generation may go past it by less than λ"),
    F(popsize, "popsize", CFG_INT, 0, "20", NULL, "N", "population size λ"),
    F(dim, "dim", CFG_INT, 0, "500", NULL, "D", "intrinsic dimension d"),
    F(prompt_len, "prompt-len", CFG_INT, 0, "50", NULL, "L", "prompt tokens"),
    F(sigma0, "sigma0", CFG_DBL, 0, "1", NULL, "S", "initial CMA-ES step size"),
    F(alpha, "alpha", CFG_DBL, 0, "1", NULL, "A", "projection scale α"),
    F(projection, "projection", CFG_CHOICE, 0, "normal", projections, "KIND", "random projection A"),
    F(prompt_mode, "prompt-mode", CFG_CHOICE, 0, "add", prompt_modes, "MODE", "prompt added onto tokens or inserted"),
    F(init_prompt, "init-prompt", CFG_STR, 1, NULL, NULL, "F", "cat mode: start from this prompt.safetensors"),
    F(loss, "loss", CFG_CHOICE, 0, "ce", losses, "NAME", "training loss"),
    F(optimizer, "optimizer", CFG_CHOICE, 0, "sep", optimizers, "NAME", "CMA-ES variant, or random search (baseline)"),
    F(noise_handling, "noise-handling", CFG_FLAG, 0, NULL, NULL, NULL, "CMA-ES uncertainty handling on"),
    F(label_space, "label-space", CFG_AUTO, 0, "auto", yes_no_auto, "yes|no|auto",
      "score label words as \" word\" (auto: causal yes)"),
    F(first_token_only, "first-token-only", CFG_FLAG, 0, NULL, NULL, NULL,
      "causal LM: score only each label's first token"),
    F(dev_every, "dev-every", CFG_LONG, 0, "100", NULL, "N", "evaluations between dev evaluations"),
    F(checkpoint_every, "checkpoint-every", CFG_INT, 0, "10", NULL, "N", "generations between checkpoints"),
    F(dtype, "dtype", CFG_CHOICE, 0, "bf16", dtypes, "T", "compute type of the forward pass"),
    F(threads, "threads", CFG_INT, 0, "0", NULL, "N", "forward-pass threads, 0 = all cores"),
    F_LIST(endpoint, "endpoint", "URL",
           "score on this remote model (bbt serve, vLLM, SGLang) instead of --model;\nrepeat it (or give URL,URL,…) for "
           "several servers of the same model: they\nshare each generation; key: --api-key, --api-key-file or "
           "$BBT_API_KEY"),
    F_OPT(endpoint_kind, "endpoint-kind", CFG_CHOICE, 0, "auto", endpoint_kinds, "KIND",
          "what answers at --endpoint: bbt serve's native route, vLLM's /v1/completions\nwith prompt_embeds, SGLang's /generate with input_embeds (auto: bbt if\nGET /bbt/v1/info answers)"),
    F_OPT(timeout, "timeout", CFG_DBL, 0, "120", NULL, "S", "seconds per remote request"),
    F_OPT(retries, "retries", CFG_INT, 0, "3", NULL, "N",
          "remote: further attempts after a connection error, timeout, 429 or 5xx\n(exponential backoff); then the run "
          "stops resumably (exit 3)"),
    F_OPT(max_inflight, "max-inflight", CFG_INT, 0, "0", NULL, "N",
          "remote: requests in flight at once over all endpoints (0 = up to 8 per\nendpoint); results never depend on it"),
    F_OPT(baseline, "baseline", CFG_CHOICE, 0, "none", baselines, "KIND",
          "score without tuning: manual = the template alone, icl = after as\nmany labelled training examples as fit "
          "(causal LMs); none = tune"),
    F_OPT(embeddings, "embeddings", CFG_STR, 1, NULL, NULL, "DIR",
          "vllm/sglang: the served model's files (tokenizer and input-embedding table:\nthe client embeds each sequence)"),
    F_OPT(endpoint_model, "endpoint-model", CFG_STR, 1, NULL, NULL, "NAME",
          "vllm: the served model's name (default: the first GET /v1/models lists)"),
    F_OPT(wire, "wire", CFG_CHOICE, 0, "bf16", dtypes, "T", "vllm: the dtype of the prompt_embeds tensors sent"),
    F_OPT(request_seqs, "request-seqs", CFG_INT, 0, "1024", NULL, "N",
          "vllm/sglang: sequences per request (vLLM's limit; lower for a server with a\nsmaller batch limit); results "
          "never depend on it"),
    F_OPT(deep, "deep", CFG_FLAG, 0, NULL, NULL, NULL,
          "BBTv2: a prompt z_l per layer, tuned layer by layer (divide and conquer);\nthen --sigma0 and --alpha "
          "default to 0.2 (see README)"),
    F_OPT(deep_layers, "deep-layers", CFG_INT, 0, "0", NULL, "N",
          "with --deep: prompts at layers 0 .. N-1 (0 = every layer of the model)"),
};
#undef F
#undef F_OPT
#define N_FIELDS ((int)(sizeof fields / sizeof fields[0]))

#define AT(c, f, T) ((T *)((char *)(c) + (f)->offset))

const config_field *tune_config_fields(int *n)
{
    *n = N_FIELDS;
    return fields;
}

const config_field *tune_config_field(const char *option)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (!strcmp(fields[i].option, option))
            return &fields[i];
    return NULL;
}

static const config_field *field_by_key(const char *key)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (!strcmp(fields[i].key, key))
            return &fields[i];
    return NULL;
}

/* "a, b or c" */
static void choice_list(const config_choice *ch, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; ch[i].name && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i == 0 ? "" : ch[i + 1].name ? ", " : " or ", ch[i].name);
}

static const char *choice_name(const config_choice *ch, int value)
{
    for (; ch->name; ch++)
        if (ch->value == value)
            return ch->name;
    return "?";
}

const char *tune_config_name(const tune_config *c, const char *key)
{
    const config_field *f = field_by_key(key);
    return f && f->choices ? choice_name(f->choices, *AT(c, f, int)) : NULL;
}

int config_choice_value(const char *key, const char *name)
{
    const config_field *f = field_by_key(key);
    for (const config_choice *ch = f && f->choices ? f->choices : NULL; ch && ch->name; ch++)
        if (!strcmp(ch->name, name))
            return ch->value;
    return -1;
}

const char *tune_config_method(const tune_config *c)
{
    if (c->baseline != BASELINE_NONE)
        return choice_name(baselines, c->baseline); /* "manual" or "icl" */
    return c->deep ? "bbtv2" : "bbt";
}

const char *config_choice_name(const char *key, int value)
{
    const config_field *f = field_by_key(key);
    return f && f->choices ? choice_name(f->choices, value) : "?";
}

char *config_field_help(const config_field *f)
{
    char list[128] = "", def[64] = "", buf[512];
    if (f->type == CFG_CHOICE) /* (CFG_AUTO's choices are its metavar, and its help says what auto does) */
        choice_list(f->choices, list, sizeof list);
    if (f->def && f->type != CFG_AUTO)
        snprintf(def, sizeof def, " (default %s)", f->def);
    snprintf(buf, sizeof buf, "%s%s%s%s", f->help, *list ? ": " : "", list, def);
    return xstrdup(buf);
}

static int parse_number(const config_field *f, const char *text, void *out)
{
    char *end;
    errno = 0;
    if (f->type == CFG_DBL) {
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            return -1;
        *(double *)out = v;
        return 0;
    }
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno)
        return -1;
    if (f->type == CFG_LONG) {
        *(long *)out = v;
        return 0;
    }
    if (v > 2147483647L || v < -2147483647L || (f->type == CFG_FLAG && v != 0 && v != 1))
        return -1;
    *(int *)out = (int)v;
    return 0;
}

int tune_config_set(tune_config *c, const config_field *f, const char *text, bbt_error *err)
{
    if (f->type == CFG_STR) {
        config_set(AT(c, f, char *), text);
        return 0;
    }
    if (f->choices) {
        for (const config_choice *ch = f->choices; ch->name; ch++)
            if (!strcmp(ch->name, text)) {
                *AT(c, f, int) = ch->value;
                return 0;
            }
        char list[128];
        choice_list(f->choices, list, sizeof list);
        return bbt_fail(err, "--%s %s: expected %s", f->option, text, list);
    }
    if (parse_number(f, text, AT(c, f, char)))
        return bbt_fail(err, "--%s: \"%s\" is not a valid %s", f->option, text,
                        f->type == CFG_DBL ? "number" : f->type == CFG_FLAG ? "flag (0 or 1)" : "integer");
    return 0;
}

void config_set(char **field, const char *value)
{
    free(*field);
    *field = value ? xstrdup(value) : NULL;
}

void tune_config_init(tune_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_FIELDS; i++)
        if (fields[i].def)
            tune_config_set(c, &fields[i], fields[i].def, NULL); /* the table's own defaults cannot fail */
}

void tune_config_free(tune_config *c)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (fields[i].type == CFG_STR)
            free(*AT(c, &fields[i], char *));
    memset(c, 0, sizeof *c);
}

void tune_config_copy(tune_config *dst, const tune_config *src)
{
    memcpy(dst, src, sizeof *dst);
    for (int i = 0; i < N_FIELDS; i++)
        if (fields[i].type == CFG_STR) {
            char **s = AT(dst, &fields[i], char *);
            *s = *s ? xstrdup(*s) : NULL;
        }
}

int tune_config_check(const tune_config *c, bbt_error *err)
{
    if (c->budget < 1 || c->budget > 1000000000000L)
        return bbt_fail(err, "--budget %ld: must be 1 .. 10^12 evaluations", c->budget);
    if (c->popsize < 2 || c->popsize > 100000)
        return bbt_fail(err, "--popsize %d: must be 2 .. 100000", c->popsize);
    if (c->dim < 1 || c->dim > 1000000)
        return bbt_fail(err, "--dim %d: must be 1 .. 1000000", c->dim);
    if (c->prompt_len < 1 || c->prompt_len > 100000)
        return bbt_fail(err, "--prompt-len %d: must be 1 .. 100000 (and leave room in the model's positions)",
                        c->prompt_len);
    if (!(c->sigma0 > 0) || !isfinite(c->sigma0))
        return bbt_fail(err, "--sigma0 %g: must be a positive number", c->sigma0);
    if (!(c->alpha > 0) || !isfinite(c->alpha))
        return bbt_fail(err, "--alpha %g: must be a positive number", c->alpha);
    for (int i = 0; i < N_FIELDS; i++) /* an enum set by a program rather than parsed */
        if (fields[i].choices && !strcmp(choice_name(fields[i].choices, *AT(c, &fields[i], int)), "?"))
            return bbt_fail(err, "--%s: value %d is none of its choices", fields[i].option, *AT(c, &fields[i], int));
    if (c->init_prompt && c->prompt_mode != LM_PROMPT_CAT)
        return bbt_fail(err, "--init-prompt is for --prompt-mode cat (add mode starts from the placeholder tokens)");
    if (c->dev_every < 1)
        return bbt_fail(err, "--dev-every %ld: must be at least 1", c->dev_every);
    if (c->checkpoint_every < 1)
        return bbt_fail(err, "--checkpoint-every %d: must be at least 1", c->checkpoint_every);
    if (!(c->timeout > 0) || c->timeout > 86400)
        return bbt_fail(err, "--timeout %g: must be 0 < S <= 86400 seconds", c->timeout);
    if (c->max_inflight < 0 || c->max_inflight > 64)
        return bbt_fail(err, "--max-inflight %d: must be 0 (up to 8 per endpoint) .. 64", c->max_inflight);
    if (c->request_seqs < 1 || c->request_seqs > 65536)
        return bbt_fail(err, "--request-seqs %d: must be 1 .. 65536", c->request_seqs);
    if (c->retries < 0 || c->retries > 100)
        return bbt_fail(err, "--retries %d: must be 0 .. 100", c->retries);
    if (c->endpoint && (c->endpoint_kind == ENDPOINT_VLLM || c->endpoint_kind == ENDPOINT_SGLANG) && !c->embeddings)
        return bbt_fail(err, "--endpoint-kind %s embeds sequences on the client: give the served model's files with "
                        "--embeddings DIR", c->endpoint_kind == ENDPOINT_VLLM ? "vllm" : "sglang");
    for (const char *u = c->endpoint; u; u = strchr(u, ',') ? strchr(u, ',') + 1 : NULL) /* URL[,URL…] */
        if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
            return bbt_fail(err, "--endpoint %s: expected http:// or https:// URLs (--endpoint repeated, or URL,URL,…)",
                            c->endpoint);
    if (c->threads < 0 || c->threads > MAX_THREADS)
        return bbt_fail(err, "--threads %d: must be 0 (all cores) .. %d", c->threads, MAX_THREADS);
    if (c->deep_layers < 0 || c->deep_layers > 100000)
        return bbt_fail(err, "--deep-layers %d: must be 0 (every layer) .. the model's layers", c->deep_layers);
    if (c->deep && c->baseline != BASELINE_NONE)
        return bbt_fail(err, "--deep with --baseline: a baseline tunes no prompt, deep or not");
    if (c->deep && c->endpoint && (c->endpoint_kind == ENDPOINT_VLLM || c->endpoint_kind == ENDPOINT_SGLANG))
        return bbt_fail(err, "--deep with --endpoint-kind %s: that engine takes input embeddings only, not BBTv2's "
                             "prompts at every layer; BBTv2 runs remotely on bbt serve's native route "
                             "(--endpoint-kind bbt or auto)", choice_name(endpoint_kinds, c->endpoint_kind));
    if (c->deep && c->endpoint && c->init_prompt) /* the native route rebuilds A_l·z_l, not a given p0 */
        return bbt_fail(err, "--deep with --endpoint and --init-prompt: bbt serve's native route rebuilds the "
                             "projections but takes no initial prompt p0; run this one on a local model");
    if (c->deep_layers && !c->deep)
        return bbt_fail(err, "--deep-layers %d is for BBTv2: give --deep too", c->deep_layers);
    return 0;
}

static cJSON *field_json(const tune_config *c, const config_field *f)
{
    switch (f->type) {
    case CFG_STR: {
        const char *s = *AT(c, f, char *);
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    case CFG_CHOICE: return cJSON_CreateString(choice_name(f->choices, *AT(c, f, int)));
    case CFG_LONG: return cJSON_CreateNumber((double)*AT(c, f, long));
    case CFG_DBL: return cJSON_CreateNumber(*AT(c, f, double));
    default: return cJSON_CreateNumber(*AT(c, f, int)); /* CFG_INT, CFG_FLAG, CFG_AUTO */
    }
}

char *tune_config_to_json(const tune_config *c)
{
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; i < N_FIELDS; i++)
        cJSON_AddItemToObject(root, fields[i].key, field_json(c, &fields[i]));
    cJSON_AddStringToObject(root, METHOD_KEY, tune_config_method(c)); /* for the reader; "deep" decides */
    char *text = json_text(root);
    cJSON_Delete(root);
    return text;
}

static int read_field(tune_config *c, const config_field *f, const cJSON *v, const char *path, bbt_error *err)
{
    if (f->type == CFG_STR || f->type == CFG_CHOICE) {
        if (f->type == CFG_STR && f->nullable && cJSON_IsNull(v)) {
            config_set(AT(c, f, char *), NULL);
            return 0;
        }
        if (!cJSON_IsString(v))
            return bbt_fail(err, "%s: field \"%s\" must be a string%s", path, f->key, f->nullable ? " or null" : "");
        if (f->type == CFG_CHOICE && tune_config_set(c, f, v->valuestring, NULL)) {
            char list[128];
            choice_list(f->choices, list, sizeof list);
            return bbt_fail(err, "%s: field \"%s\" is \"%s\"; expected %s", path, f->key, v->valuestring, list);
        }
        if (f->type == CFG_STR)
            config_set(AT(c, f, char *), v->valuestring);
        return 0;
    }
    if (!cJSON_IsNumber(v))
        return bbt_fail(err, "%s: field \"%s\" must be a number", path, f->key);
    double x = v->valuedouble;
    if (f->type != CFG_DBL && (x != floor(x) || fabs(x) > 9e15))
        return bbt_fail(err, "%s: field \"%s\" must be an integer (got %g)", path, f->key, x);
    /* an int field beyond int's range: converting it would be undefined (found by fuzzing) */
    if (f->type != CFG_LONG && f->type != CFG_DBL && (x < INT_MIN || x > INT_MAX))
        return bbt_fail(err, "%s: field \"%s\" is out of range (got %.17g)", path, f->key, x);
    if (f->type == CFG_LONG)
        *AT(c, f, long) = (long)x;
    else if (f->type == CFG_DBL)
        *AT(c, f, double) = x;
    else
        *AT(c, f, int) = (int)x;
    return 0;
}

static int config_from_json(tune_config *c, const cJSON *root, const char *path, bbt_error *err)
{
    for (const cJSON *v = root->child; v; v = v->next)
        if (!field_by_key(v->string) && strcmp(v->string, METHOD_KEY))
            return bbt_fail(err, "%s: unknown field \"%s\"", path, v->string);
    for (int i = 0; i < N_FIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, fields[i].key);
        if (!v && fields[i].optional)
            continue;
        if (!v)
            return bbt_fail(err, "%s: missing field \"%s\"", path, fields[i].key);
        if (read_field(c, &fields[i], v, path, err))
            return -1;
    }
    if (!c->task == !c->task_file)
        return bbt_fail(err, "%s: exactly one of \"task\" and \"task_file\" must be set", path);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, METHOD_KEY);
    if (method && (!cJSON_IsString(method) || strcmp(method->valuestring, tune_config_method(c))))
        return bbt_fail(err, "%s: field \"%s\" must be \"%s\" (field \"deep\" is %d, \"baseline\" %s)", path,
                        METHOD_KEY, tune_config_method(c), c->deep, choice_name(baselines, c->baseline));
    if (tune_config_check(c, err))
        return bbt_prefix(err, "%s: ", path);
    return 0;
}

int tune_config_load(tune_config *c, const char *path, bbt_error *err)
{
    tune_config_init(c);
    cJSON *root = read_json_object(path, "a run configuration", err);
    int rc = root ? config_from_json(c, root, path, err) : -1;
    cJSON_Delete(root);
    if (rc)
        tune_config_free(c);
    return rc;
}
