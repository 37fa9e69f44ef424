/* config.c — defaults, checks and the config.json form of a tuning run's configuration. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/config.h"
#include "bbt/util.h"

/* One table drives defaults, JSON writing and JSON reading, so a new option is one line here. */
typedef enum field_type { F_STR, F_INT, F_LONG, F_DBL } field_type;
typedef struct field {
    const char *key;
    field_type type;
    size_t offset;
    int nullable; /* F_STR: may be null */
} field;

#define FIELD(key, type, nullable) {#key, type, offsetof(tune_config, key), nullable}
static const field fields[] = {
    FIELD(model, F_STR, 0),         FIELD(task, F_STR, 1),        FIELD(task_file, F_STR, 1),
    FIELD(train, F_STR, 0),         FIELD(dev, F_STR, 0),         FIELD(test, F_STR, 1),
    FIELD(seed, F_INT, 0),          FIELD(budget, F_LONG, 0),     FIELD(popsize, F_INT, 0),
    FIELD(dim, F_INT, 0),           FIELD(prompt_len, F_INT, 0),  FIELD(sigma0, F_DBL, 0),
    FIELD(alpha, F_DBL, 0),         FIELD(projection, F_STR, 0),  FIELD(prompt_mode, F_STR, 0),
    FIELD(init_prompt, F_STR, 1),   FIELD(loss, F_STR, 0),        FIELD(optimizer, F_STR, 0),
    FIELD(noise_handling, F_INT, 0), FIELD(label_space, F_INT, 0), FIELD(first_token_only, F_INT, 0),
    FIELD(dev_every, F_LONG, 0),    FIELD(checkpoint_every, F_INT, 0), FIELD(dtype, F_STR, 0),
    FIELD(threads, F_INT, 0),
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

#define AT(c, f, T) ((T *)((char *)(c) + (f)->offset))

void config_set(char **field, const char *value)
{
    free(*field);
    *field = value ? xstrdup(value) : NULL;
}

void tune_config_init(tune_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 13;
    c->budget = 8000;
    c->popsize = 20;
    c->dim = 500;
    c->prompt_len = 50;
    c->sigma0 = 1.0;
    c->alpha = 1.0;
    config_set(&c->projection, "normal");
    config_set(&c->prompt_mode, "add");
    config_set(&c->loss, "ce");
    config_set(&c->optimizer, "sep");
    c->label_space = -1;
    c->dev_every = 100;
    c->checkpoint_every = 10;
    config_set(&c->dtype, "bf16");
}

void tune_config_free(tune_config *c)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].type == F_STR)
            free(*AT(c, &fields[i], char *));
    memset(c, 0, sizeof *c);
}

void tune_config_copy(tune_config *dst, const tune_config *src)
{
    memcpy(dst, src, sizeof *dst);
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].type == F_STR) {
            char **s = AT(dst, &fields[i], char *);
            *s = *s ? xstrdup(*s) : NULL;
        }
}

static int one_of(const char *value, const char *const *choices)
{
    for (; *choices; choices++)
        if (value && !strcmp(value, *choices))
            return 1;
    return 0;
}

int tune_config_check(const tune_config *c, bbt_error *err)
{
    static const char *const projections[] = {"normal", "uniform", NULL};
    static const char *const modes[] = {"add", "cat", NULL};
    static const char *const losses[] = {"ce", "hinge", "acc", "f1", NULL};
    static const char *const optimizers[] = {"sep", "full", "random", NULL};
    static const char *const dtypes[] = {"bf16", "f32", NULL};
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
    if (!one_of(c->projection, projections))
        return bbt_fail(err, "--projection %s: expected normal or uniform", c->projection);
    if (!one_of(c->prompt_mode, modes))
        return bbt_fail(err, "--prompt-mode %s: expected add or cat", c->prompt_mode);
    if (c->init_prompt && strcmp(c->prompt_mode, "cat"))
        return bbt_fail(err, "--init-prompt is for --prompt-mode cat (add mode starts from the placeholder tokens)");
    if (!one_of(c->loss, losses))
        return bbt_fail(err, "--loss %s: expected ce, hinge, acc or f1", c->loss);
    if (!one_of(c->optimizer, optimizers))
        return bbt_fail(err, "--optimizer %s: expected sep, full or random", c->optimizer);
    if (!one_of(c->dtype, dtypes))
        return bbt_fail(err, "--dtype %s: expected bf16 or f32", c->dtype);
    if (c->dev_every < 1)
        return bbt_fail(err, "--dev-every %ld: must be at least 1", c->dev_every);
    if (c->checkpoint_every < 1)
        return bbt_fail(err, "--checkpoint-every %d: must be at least 1", c->checkpoint_every);
    if (c->threads < 0 || c->threads > MAX_THREADS)
        return bbt_fail(err, "--threads %d: must be 0 (all cores) .. %d", c->threads, MAX_THREADS);
    return 0;
}

char *tune_config_to_json(const tune_config *c)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *f = &fields[i];
        const char *s;
        switch (f->type) {
        case F_STR:
            s = *AT(c, f, char *);
            cJSON_AddItemToObject(root, f->key, s ? cJSON_CreateString(s) : cJSON_CreateNull());
            break;
        case F_INT: cJSON_AddNumberToObject(root, f->key, *AT(c, f, int)); break;
        case F_LONG: cJSON_AddNumberToObject(root, f->key, (double)*AT(c, f, long)); break;
        case F_DBL: cJSON_AddNumberToObject(root, f->key, *AT(c, f, double)); break;
        }
    }
    char *text = json_text(root);
    cJSON_Delete(root);
    return text;
}

static int read_field(tune_config *c, const field *f, const cJSON *v, const char *path, bbt_error *err)
{
    if (f->type == F_STR) {
        if (cJSON_IsNull(v) && f->nullable) {
            config_set(AT(c, f, char *), NULL);
            return 0;
        }
        if (!cJSON_IsString(v))
            return bbt_fail(err, "%s: field \"%s\" must be a string%s", path, f->key, f->nullable ? " or null" : "");
        config_set(AT(c, f, char *), v->valuestring);
        return 0;
    }
    if (!cJSON_IsNumber(v))
        return bbt_fail(err, "%s: field \"%s\" must be a number", path, f->key);
    double x = v->valuedouble;
    if (f->type != F_DBL && (x != floor(x) || fabs(x) > 9e15))
        return bbt_fail(err, "%s: field \"%s\" must be an integer (got %g)", path, f->key, x);
    if (f->type == F_INT && (x < INT_MIN || x > INT_MAX)) /* converting it would be undefined (found by fuzzing) */
        return bbt_fail(err, "%s: field \"%s\" is out of range (got %.17g)", path, f->key, x);
    if (f->type == F_INT)
        *AT(c, f, int) = (int)x;
    else if (f->type == F_LONG)
        *AT(c, f, long) = (long)x;
    else
        *AT(c, f, double) = x;
    return 0;
}

static int config_from_json(tune_config *c, const cJSON *root, const char *path, bbt_error *err)
{
    for (const cJSON *v = root->child; v; v = v->next) {
        size_t i = 0;
        while (i < N_FIELDS && strcmp(fields[i].key, v->string))
            i++;
        if (i == N_FIELDS)
            return bbt_fail(err, "%s: unknown field \"%s\"", path, v->string);
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, fields[i].key);
        if (!v)
            return bbt_fail(err, "%s: missing field \"%s\"", path, fields[i].key);
        if (read_field(c, &fields[i], v, path, err))
            return -1;
    }
    if (!c->task == !c->task_file)
        return bbt_fail(err, "%s: exactly one of \"task\" and \"task_file\" must be set", path);
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
