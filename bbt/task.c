/* task.c — built-in tasks (the seven of the BBT paper), user tasks from JSON, and template parsing. */
#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/files.h"
#include "bbt/task.h"
#include "bbt/util.h"

#define MAX_CLASSES 256

/* The reference BBT code's templates and label words (see shared/reference/bbt-reference.md). The causal templates move
 * <mask> to the end, so the label word is the continuation of everything before it. */
typedef struct builtin_task {
    const char *name, *description, *masked, *causal;
    int pair;
    const char *labels[15];
    task_metric metric;
    int positive_class;
} builtin_task;

static const builtin_task builtins[] = {
    {"sst2", "SST-2 movie-review sentiment (GLUE)", "{prompt} . {text} . It was <mask> .",
     "{prompt} . {text} . It was <mask>", 0, {"bad", "great"}, METRIC_ACC, 1},
    {"yelpp", "Yelp review polarity", "{prompt} . {text} . It was <mask> .",
     "{prompt} . {text} . It was <mask>", 0, {"bad", "great"}, METRIC_ACC, 1},
    {"agnews", "AG News topic classification", "{prompt} . <mask> News: {text}",
     "{prompt} . {text} . This is <mask> News", 0, {"World", "Sports", "Business", "Tech"}, METRIC_ACC, 0},
    {"dbpedia", "DBpedia-14 ontology classification", "{prompt} [ Category: <mask> ] {text}",
     "{prompt} . {text} [ Category: <mask>", 0,
     {"Company", "Education", "Artist", "Athlete", "Office", "Transportation", "Building", "Natural", "Village",
      "Animal", "Plant", "Album", "Film", "Written"},
     METRIC_ACC, 0},
    {"mrpc", "MRPC paraphrase detection (GLUE), F1 of class 1 = paraphrase", "{prompt} . {text_a} ? <mask> , {text_b}",
     "{prompt} . {text_a} ? {text_b} ? <mask>", 1, {"No", "Yes"}, METRIC_F1, 1},
    {"rte", "RTE textual entailment (GLUE), class 0 = entailment", "{prompt} . {text_a} ? <mask> , {text_b}",
     "{prompt} . {text_a} ? {text_b} ? <mask>", 1, {"Yes", "No"}, METRIC_ACC, 0},
    {"snli", "SNLI natural language inference: entailment, neutral, contradiction",
     "{prompt} . {text_a} ? <mask> , {text_b}", "{prompt} . {text_a} ? {text_b} ? <mask>", 1, {"Yes", "Maybe", "No"},
     METRIC_ACC, 0},
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

static const char *const builtin_names[] = {"sst2", "yelpp", "agnews", "dbpedia", "mrpc", "rte", "snli", NULL};

const char *const *task_builtin_names(void)
{
    return builtin_names;
}

/* ---- templates ---- */

static int add_part(template_spec *t, tpl_kind kind, const char *lit, size_t len)
{
    tpl_part *parts = realloc(t->parts, (size_t)(t->n_parts + 1) * sizeof *parts);
    if (!parts)
        return -1;
    t->parts = parts;
    parts[t->n_parts].kind = kind;
    parts[t->n_parts].literal = kind == TPL_LITERAL ? xstrndup(lit, len) : NULL;
    t->n_parts++;
    return 0;
}

static void template_free(template_spec *t)
{
    for (int i = 0; i < t->n_parts; i++)
        free(t->parts[i].literal);
    free(t->parts);
    free(t->source);
    memset(t, 0, sizeof *t);
}

/* The placeholders a template may hold, and what each stands for. */
static const struct {
    const char *token;
    tpl_kind kind;
} placeholders[] = {{"{prompt}", TPL_PROMPT}, {"{text}", TPL_TEXT},   {"{text_a}", TPL_TEXT_A},
                    {"{text_b}", TPL_TEXT_B}, {"<mask>", TPL_MASK}};

static int match_placeholder(const char *s, tpl_kind *kind)
{
    for (size_t i = 0; i < sizeof placeholders / sizeof placeholders[0]; i++) {
        size_t n = strlen(placeholders[i].token);
        if (!strncmp(s, placeholders[i].token, n)) {
            *kind = placeholders[i].kind;
            return (int)n;
        }
    }
    return 0;
}

/* Check what a template holds against the kind of task: exactly one <mask>, at most one {prompt}, and the text fields
 * of the task (single: {text}; pair: {text_a} and {text_b}). */
static int template_check(const template_spec *t, int pair, bbt_error *err)
{
    int count[TPL_MASK + 1] = {0};
    for (int i = 0; i < t->n_parts; i++)
        count[t->parts[i].kind]++;
    if (count[TPL_MASK] != 1)
        return bbt_fail(err, "template \"%s\" must contain <mask> exactly once (found %d)", t->source, count[TPL_MASK]);
    if (count[TPL_PROMPT] > 1)
        return bbt_fail(err, "template \"%s\" contains {prompt} more than once", t->source);
    if (pair && (count[TPL_TEXT] || !count[TPL_TEXT_A] || !count[TPL_TEXT_B]))
        return bbt_fail(err, "template \"%s\" of a sentence-pair task must use both {text_a} and {text_b} (and not "
                             "{text})",
                        t->source);
    if (!pair && (count[TPL_TEXT_A] || count[TPL_TEXT_B] || !count[TPL_TEXT]))
        return bbt_fail(err, "template \"%s\" of a single-text task must use {text} (not {text_a}/{text_b})",
                        t->source);
    return 0;
}

int template_parse(template_spec *out, const char *source, int pair, bbt_error *err)
{
    memset(out, 0, sizeof *out);
    out->source = xstrdup(source);
    const char *lit = source;
    for (const char *s = source; *s;) {
        tpl_kind kind;
        int n = match_placeholder(s, &kind);
        if (!n) {
            s++;
            continue;
        }
        if ((s > lit && add_part(out, TPL_LITERAL, lit, (size_t)(s - lit))) || add_part(out, kind, NULL, 0))
            goto oom;
        s += n;
        lit = s;
    }
    if (*lit && add_part(out, TPL_LITERAL, lit, strlen(lit)))
        goto oom;
    if (template_check(out, pair, err) == 0)
        return 0;
    template_free(out);
    return -1;
oom:
    template_free(out);
    return bbt_fail(err, "out of memory parsing template \"%s\"", source);
}

/* ---- tasks ---- */

static char **copy_strings(const char *const *src, int n)
{
    char **dst = xcalloc((size_t)n, sizeof *dst);
    for (int i = 0; i < n; i++)
        dst[i] = src[i] ? xstrdup(src[i]) : NULL;
    return dst;
}

int task_builtin(task *t, const char *name, bbt_error *err)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < N_BUILTINS; i++) {
        const builtin_task *b = &builtins[i];
        if (strcmp(b->name, name))
            continue;
        t->name = xstrdup(b->name);
        t->description = xstrdup(b->description);
        t->pair = b->pair;
        t->col_text_a = xstrdup(b->pair ? "text_a" : "text");
        t->col_text_b = b->pair ? xstrdup("text_b") : NULL;
        t->col_label = xstrdup("label");
        while (t->n_classes < 15 && b->labels[t->n_classes])
            t->n_classes++;
        t->label_words = copy_strings(b->labels, t->n_classes);
        t->label_names = xcalloc((size_t)t->n_classes, sizeof *t->label_names);
        t->metric = b->metric;
        t->positive_class = b->positive_class;
        if (template_parse(&t->masked, b->masked, b->pair, err) || template_parse(&t->causal, b->causal, b->pair, err)) {
            task_free(t);
            return -1;
        }
        return 0;
    }
    char list[256] = "";
    for (size_t i = 0; i < N_BUILTINS; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", builtins[i].name);
    return bbt_fail(err, "unknown task '%s' (built-in tasks: %s; or give --task-file)", name, list);
}

static int json_string_array(cJSON *arr, char ***out, int *n, const char *path, const char *field, bbt_error *err)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
        return bbt_fail(err, "%s: field \"%s\" must be a non-empty array of strings", path, field);
    int count = cJSON_GetArraySize(arr);
    if (count > MAX_CLASSES)
        return bbt_fail(err, "%s: field \"%s\" has %d entries (at most %d classes)", path, field, count, MAX_CLASSES);
    char **v = xcalloc((size_t)count, sizeof *v);
    for (int i = 0; i < count; i++) {
        cJSON *e = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            for (int j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return bbt_fail(err, "%s: field \"%s\"[%d] must be a non-empty string", path, field, i);
        }
        v[i] = xstrdup(e->valuestring);
    }
    *out = v;
    *n = count;
    return 0;
}

/* The keys a task file may hold and the JSON type of each: anything else is a mistake worth naming. */
static const struct {
    const char *key;
    int type;
} task_keys[] = {{"name", cJSON_String},         {"description", cJSON_String}, {"template", cJSON_String},
                 {"causal_template", cJSON_String}, {"label_words", cJSON_Array}, {"label_names", cJSON_Array},
                 {"columns", cJSON_Object},      {"metric", cJSON_String},      {"positive_class", cJSON_Number}};

static const char *json_type_name(int type)
{
    return type == cJSON_String ? "a string" : type == cJSON_Array ? "an array" : type == cJSON_Object ? "an object"
                                                                                                      : "a number";
}

static int check_keys(const cJSON *root, const char *path, bbt_error *err)
{
    for (const cJSON *v = root->child; v; v = v->next) {
        size_t i = 0, n = sizeof task_keys / sizeof task_keys[0];
        while (i < n && strcmp(task_keys[i].key, v->string))
            i++;
        if (i == n)
            return bbt_fail(err, "%s: unknown field \"%s\" (a task has: name, description, template, causal_template, "
                                 "label_words, label_names, columns, metric, positive_class)",
                            path, v->string);
        if ((v->type & 0xff) != task_keys[i].type)
            return bbt_fail(err, "%s: field \"%s\" must be %s", path, v->string, json_type_name(task_keys[i].type));
    }
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(root, "columns");
    for (const cJSON *v = cols ? cols->child : NULL; v; v = v->next) {
        if (strcmp(v->string, "text") && strcmp(v->string, "text_a") && strcmp(v->string, "text_b") &&
            strcmp(v->string, "label"))
            return bbt_fail(err, "%s: field \"columns\" has \"%s\" (expected text, text_a, text_b, label)", path,
                            v->string);
        if (!cJSON_IsString(v) || !v->valuestring[0])
            return bbt_fail(err, "%s: field \"columns\".\"%s\" must be a column name", path, v->string);
    }
    return 0;
}

static const char *json_opt_string(const cJSON *obj, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

/* The causal template a user need not write: the template cut after <mask>, or with <mask> added at the end when it has
 * none. NULL when a field follows <mask> (e.g. "{text_a} ? <mask> , {text_b}"): only the user can say how a causal LM
 * should read that. */
static char *derive_causal(const char *masked)
{
    const char *m = strstr(masked, "<mask>");
    if (!m) {
        char *c = xmalloc(strlen(masked) + 8);
        strcpy(c, masked);
        strcat(c, " <mask>");
        return c;
    }
    const char *rest = m + strlen("<mask>");
    if (strstr(rest, "{text") || strstr(rest, "{prompt}"))
        return NULL;
    return xstrndup(masked, (size_t)(rest - masked));
}

static int parse_templates(task *t, const cJSON *root, const char *path, bbt_error *err)
{
    const char *tpl = json_opt_string(root, "template", NULL);
    if (strstr(tpl, "<mask>")) {
        if (template_parse(&t->masked, tpl, t->pair, err))
            return bbt_prefix(err, "%s: field \"template\": ", path);
    } else {
        t->no_masked = xstrdup("its template has no <mask>: a masked LM needs one");
    }
    const char *given = json_opt_string(root, "causal_template", NULL);
    char *causal = given ? xstrdup(given) : derive_causal(tpl);
    if (!causal) {
        t->no_causal = xstrdup("its template has text after <mask>, but a causal LM reads only up to <mask>: give "
                               "\"causal_template\" with <mask> at the end");
        return 0;
    }
    int rc = template_parse(&t->causal, causal, t->pair, err);
    free(causal);
    if (rc)
        return bbt_prefix(err, "%s: field \"%s\": ", path, given ? "causal_template" : "template");
    return 0;
}

static int task_from_json(task *t, cJSON *root, const char *path, bbt_error *err)
{
    if (check_keys(root, path, err))
        return -1;
    const char *tpl = json_opt_string(root, "template", NULL);
    if (!tpl)
        return bbt_fail(err, "%s: missing string field \"template\"", path);
    if (json_string_array(cJSON_GetObjectItemCaseSensitive(root, "label_words"), &t->label_words, &t->n_classes, path,
                          "label_words", err))
        return -1;
    if (t->n_classes < 2)
        return bbt_fail(err, "%s: field \"label_words\" has 1 entry: a task needs at least 2 classes", path);
    for (int i = 0; i < t->n_classes; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(t->label_words[i], t->label_words[j]))
                return bbt_fail(err, "%s: field \"label_words\": \"%s\" stands for classes %d and %d", path,
                                t->label_words[i], j, i);
    t->pair = strstr(tpl, "{text_b}") != NULL;
    t->name = xstrdup(json_opt_string(root, "name", path));
    t->description = xstrdup(json_opt_string(root, "description", ""));
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(root, "columns");
    t->col_text_a = xstrdup(json_opt_string(cols, t->pair ? "text_a" : "text", t->pair ? "text_a" : "text"));
    t->col_text_b = t->pair ? xstrdup(json_opt_string(cols, "text_b", "text_b")) : NULL;
    t->col_label = xstrdup(json_opt_string(cols, "label", "label"));
    return parse_templates(t, root, path, err);
}

static int task_metric_from_json(task *t, cJSON *root, const char *path, bbt_error *err)
{
    const char *metric = json_opt_string(root, "metric", "acc");
    if (strcmp(metric, "acc") && strcmp(metric, "f1"))
        return bbt_fail(err, "%s: field \"metric\" is \"%s\" (expected \"acc\" or \"f1\")", path, metric);
    t->metric = strcmp(metric, "f1") ? METRIC_ACC : METRIC_F1;
    cJSON *pos = cJSON_GetObjectItemCaseSensitive(root, "positive_class");
    if (pos && pos->valuedouble != floor(pos->valuedouble))
        return bbt_fail(err, "%s: field \"positive_class\" must be a class index (got %g)", path, pos->valuedouble);
    t->positive_class = pos ? (int)fmax(-1, fmin(pos->valuedouble, 1e9)) : (t->n_classes > 1 ? 1 : 0);
    if (t->positive_class < 0 || t->positive_class >= t->n_classes)
        return bbt_fail(err, "%s: field \"positive_class\" is %g (classes are 0..%d)", path,
                        pos ? pos->valuedouble : (double)t->positive_class, t->n_classes - 1);
    t->label_names = xcalloc((size_t)t->n_classes, sizeof *t->label_names);
    cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "label_names");
    if (!names)
        return 0;
    char **v;
    int n;
    if (json_string_array(names, &v, &n, path, "label_names", err))
        return -1;
    if (n != t->n_classes) {
        for (int i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return bbt_fail(err, "%s: field \"label_names\" has %d entries but \"label_words\" has %d", path, n,
                        t->n_classes);
    }
    free(t->label_names);
    t->label_names = v;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(v[i], v[j]))
                return bbt_fail(err, "%s: field \"label_names\": \"%s\" stands for classes %d and %d", path, v[i], j, i);
    return 0;
}

int task_from_json_object(task *t, const struct cJSON *root, const char *where, bbt_error *err)
{
    memset(t, 0, sizeof *t);
    if (!cJSON_IsObject(root))
        return bbt_fail(err, "%s: a task definition must be a JSON object", where);
    cJSON *obj = (cJSON *)root; /* read only; the helpers above take non-const pointers */
    int rc = task_from_json(t, obj, where, err);
    if (!rc)
        rc = task_metric_from_json(t, obj, where, err);
    if (rc)
        task_free(t);
    return rc;
}

int task_load_json(task *t, const char *path, bbt_error *err)
{
    memset(t, 0, sizeof *t);
    cJSON *root = read_json_object(path, "a task definition", err);
    if (!root)
        return -1;
    int rc = task_from_json_object(t, root, path, err);
    cJSON_Delete(root);
    return rc;
}

/* A class index written as plain digits ("1", not " 1", "+1" or "-0"). */
static int parse_class_index(const char *cell, int n_classes)
{
    if (!*cell || strspn(cell, "0123456789") != strlen(cell) || strlen(cell) > 9)
        return -1;
    long v = strtol(cell, NULL, 10);
    return v < n_classes ? (int)v : -1;
}

int task_class_of(const task *t, const char *cell)
{
    int c = parse_class_index(cell, t->n_classes);
    if (c >= 0)
        return c;
    for (int i = 0; i < t->n_classes; i++)
        if (t->label_names[i] && !strcmp(cell, t->label_names[i]))
            return i;
    for (int i = 0; i < t->n_classes; i++)
        if (!strcmp(cell, t->label_words[i]))
            return i;
    return -1;
}

void task_free(task *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_classes; i++) {
        if (t->label_words)
            free(t->label_words[i]);
        if (t->label_names)
            free(t->label_names[i]);
    }
    free(t->label_words);
    free(t->label_names);
    free(t->name);
    free(t->description);
    free(t->col_text_a);
    free(t->col_text_b);
    free(t->col_label);
    free(t->no_masked);
    free(t->no_causal);
    template_free(&t->masked);
    template_free(&t->causal);
    memset(t, 0, sizeof *t);
}
