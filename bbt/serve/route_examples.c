/* route_examples.c — POST /bbt/v1/examples: a few-shot set uploaded once, encoded as `bbt tune` encodes it.
 *
 * Body, one of two forms:
 *   {"task": "sst2" | {task JSON as in --task-file}, "examples": [{"text": "…"} | {"text_a": "…", "text_b": "…"},
 *    optional "label": index or name], "prompt_len": 50, "prompt_mode": "add" | "cat", "label_space": bool,
 *    "first_token_only": bool}
 *   {"token_ids": {"sequences": [{"ids": […], "prompt_pos": p, "read_pos": r}], "labels": [[ids…], …]},
 *    "prompt_len": L, "prompt_mode": "add" | "cat", "first_token_only": bool}
 * Answer: the handle, and everything the server resolved (sequences, label ids, placeholders) for the client to check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/scorer.h"
#include "bbt/config.h"
#include "bbt/serve/jsonin.h"
#include "bbt/serve/serve_internal.h"
#include "bbt/util.h"

typedef struct upload {
    int prompt_len, first_token_only, label_space;
    lm_prompt_mode mode;
} upload;

static int read_common(server *s, const cJSON *root, upload *u, char *msg)
{
    u->prompt_len = 50;
    u->first_token_only = 0;
    u->label_space = -1;
    const char *mode = "add";
    int ls = 0;
    if (json_get_int(root, "prompt_len", 1, s->info->max_pos - 1, &u->prompt_len, msg) < 0 ||
        json_get_bool(root, "first_token_only", &u->first_token_only, msg) < 0 ||
        json_get_string(root, "prompt_mode", &mode, msg) < 0)
        return -1;
    int got = json_get_bool(root, "label_space", &ls, msg);
    if (got < 0)
        return -1;
    if (got == 0)
        u->label_space = ls;
    int value = config_choice_value("prompt_mode", mode);
    if (value < 0)
        return snprintf(msg, JSONIN_MSG, "field \"prompt_mode\" is \"%s\" (expected \"add\" or \"cat\")", mode), -1;
    u->mode = (lm_prompt_mode)value;
    if (u->prompt_len > s->cfg.max_seq)
        return snprintf(msg, JSONIN_MSG, "field \"prompt_len\" is %d; the limit (--max-seq) is %d", u->prompt_len,
                        s->cfg.max_seq), -1;
    return 0;
}

static int resolve_task(const cJSON *root, task *t, char *msg)
{
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(root, "task");
    bbt_error err;
    int rc;
    if (cJSON_IsString(tv))
        rc = task_builtin(t, tv->valuestring, &err);
    else if (cJSON_IsObject(tv))
        rc = task_from_json_object(t, tv, "field \"task\"", &err);
    else
        return snprintf(msg, JSONIN_MSG, "field \"task\" must be a built-in task name or a task object"), -1;
    if (rc)
        snprintf(msg, JSONIN_MSG, "%s", err.msg);
    return rc;
}

static char *text_field(const cJSON *ex, const char *key, int i, char *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ex, key);
    if (!cJSON_IsString(v)) {
        snprintf(msg, JSONIN_MSG, "examples[%d]: field \"%s\" must be a string", i, key);
        return NULL;
    }
    if (!utf8_valid(v->valuestring, strlen(v->valuestring))) {
        snprintf(msg, JSONIN_MSG, "examples[%d]: field \"%s\" is not valid UTF-8", i, key);
        return NULL;
    }
    return xstrdup(v->valuestring);
}

static int example_label(const task *t, const cJSON *ex, int i, int *label, char *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ex, "label");
    *label = -1;
    if (!v || cJSON_IsNull(v))
        return 0;
    char buf[32];
    const char *cell = cJSON_IsString(v) ? v->valuestring : NULL;
    if (cJSON_IsNumber(v)) {
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        cell = buf;
    }
    if (!cell || (*label = task_class_of(t, cell)) < 0)
        return snprintf(msg, JSONIN_MSG, "examples[%d]: \"label\" is not one of the task's %d classes", i,
                        t->n_classes), -1;
    return 0;
}

/* The examples array as a dataset of the task. */
static int read_examples(server *s, const cJSON *arr, const task *t, dataset *d, char *msg)
{
    memset(d, 0, sizeof *d);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
        return snprintf(msg, JSONIN_MSG, "field \"examples\" must be a non-empty array of example objects"), -1;
    int n = cJSON_GetArraySize(arr);
    if (n > s->cfg.max_examples)
        return snprintf(msg, JSONIN_MSG, "field \"examples\" has %d entries; the limit (--max-examples) is %d", n,
                        s->cfg.max_examples), -1;
    d->path = xstrdup("examples");
    d->ex = xcalloc((size_t)n, sizeof *d->ex);
    d->n_classes = t->n_classes;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        example *x = &d->ex[i];
        d->n = i + 1; /* so that dataset_free frees what this one got */
        x->line = i;
        if (!cJSON_IsObject(e))
            return snprintf(msg, JSONIN_MSG, "examples[%d] must be an object", i), -1;
        int pair = t->pair;
        if (!(x->text_a = text_field(e, pair ? "text_a" : "text", i, msg)) ||
            (pair && !(x->text_b = text_field(e, "text_b", i, msg))) || example_label(t, e, i, &x->label, msg))
            return -1;
    }
    return 0;
}

static int check_lengths(server *s, const encoded_set *set, char *msg)
{
    for (int i = 0; i < set->n; i++)
        if (set->seqs[i].n > s->cfg.max_seq)
            return snprintf(msg, JSONIN_MSG, "example %d has %d tokens; the limit (--max-seq) is %d", i,
                            set->seqs[i].n, s->cfg.max_seq), -1;
    return 0;
}

static example_set *encode_texts(server *s, const cJSON *root, const upload *u, char *msg)
{
    task t;
    dataset d = {0};
    if (resolve_task(root, &t, msg))
        return NULL;
    example_set *es = xcalloc(1, sizeof *es);
    int masked = s->info->kind == LM_MASKED, rc = -1;
    const char *why = masked ? t.no_masked : t.no_causal;
    bbt_error err = {{0}};
    if (why) {
        snprintf(msg, JSONIN_MSG, "task %s cannot run on this %s LM: %s", t.name, masked ? "masked" : "causal", why);
    } else if (!read_examples(s, cJSON_GetObjectItemCaseSensitive(root, "examples"), &t, &d, msg)) {
        pthread_mutex_lock(&s->lm_lock);
        rc = scorer_setup_encoding(s->model, &t, u->mode, u->prompt_len, u->label_space, u->first_token_only,
                                   &es->enc, &es->placeholders, &es->labels, &es->raw_logits, &err) ||
             encode_dataset(s->model, &t, &d, &es->enc, &es->set, &err);
        pthread_mutex_unlock(&s->lm_lock);
        if (rc)
            snprintf(msg, JSONIN_MSG, "%s", err.msg);
        else
            rc = check_lengths(s, &es->set, msg);
    }
    es->first_token_only = u->first_token_only;
    dataset_free(&d);
    task_free(&t);
    if (rc) {
        example_set_free(es);
        return NULL;
    }
    return es;
}

/* ---- token ids given by the client ---- */

static int check_seq(server *s, const upload *u, const lm_seq *q, int i, int reserve, char *msg)
{
    int L = u->prompt_len;
    if (q->read_pos < -1 || q->read_pos >= q->n)
        return snprintf(msg, JSONIN_MSG, "sequences[%d]: read_pos %d is outside -1..%d", i, q->read_pos, q->n - 1), -1;
    if (u->mode == LM_PROMPT_ADD && (q->prompt_pos < 0 || q->prompt_pos + L > q->n))
        return snprintf(msg, JSONIN_MSG, "sequences[%d]: add mode needs tokens %d..%d for the %d prompt rows but the "
                        "sequence has %d", i, q->prompt_pos, q->prompt_pos + L - 1, L, q->n), -1;
    if (u->mode == LM_PROMPT_CAT && (q->prompt_pos < 0 || q->prompt_pos > q->n))
        return snprintf(msg, JSONIN_MSG, "sequences[%d]: prompt_pos %d is outside 0..%d", i, q->prompt_pos, q->n), -1;
    long rows = (long)q->n + (u->mode == LM_PROMPT_CAT ? L : 0) + reserve;
    if (rows > s->info->max_pos)
        return snprintf(msg, JSONIN_MSG, "sequences[%d] needs %ld positions (prompt and label rows included); the model "
                        "takes %d", i, rows, s->info->max_pos), -1;
    return 0;
}

static int read_token_seqs(server *s, const cJSON *arr, const upload *u, example_set *es, char *msg)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
        return snprintf(msg, JSONIN_MSG, "token_ids.sequences must be a non-empty array"), -1;
    int n = cJSON_GetArraySize(arr);
    if (n > s->cfg.max_examples)
        return snprintf(msg, JSONIN_MSG, "token_ids.sequences has %d entries; the limit (--max-examples) is %d", n,
                        s->cfg.max_examples), -1;
    encoded_set *set = &es->set;
    set->seqs = xcalloc((size_t)n, sizeof *set->seqs);
    set->labels = xcalloc((size_t)n, sizeof *set->labels);
    int **parts = xcalloc((size_t)n, sizeof *parts), rc = 0, i = 0;
    long total = 0;
    for (const cJSON *e = arr->child; e && !rc; e = e->next, i++) {
        lm_seq *q = &set->seqs[i];
        char what[48];
        snprintf(what, sizeof what, "sequences[%d].ids", i);
        q->mode = u->mode;
        q->read_pos = -1;
        set->labels[i] = -1;
        set->n = i + 1;
        rc = !cJSON_IsObject(e) ? snprintf(msg, JSONIN_MSG, "sequences[%d] must be an object", i), -1
             : json_int_array(cJSON_GetObjectItemCaseSensitive(e, "ids"), what, 0, s->info->vocab - 1, s->cfg.max_seq,
                              &parts[i], &q->n, msg) ||
                       json_get_int(e, "prompt_pos", 0, s->cfg.max_seq, &q->prompt_pos, msg) < 0 ||
                       json_get_int(e, "read_pos", -1, s->cfg.max_seq, &q->read_pos, msg) < 0;
        if (!rc && q->n < 1)
            rc = (snprintf(msg, JSONIN_MSG, "%s is empty", what), -1);
        if (!rc)
            rc = check_seq(s, u, q, i, es->enc.reserve, msg);
        total += q->n;
    }
    if (!rc) { /* one block, as encode_dataset keeps it, so encoded_set_free frees it */
        set->storage = xmalloc((size_t)(total + 1) * sizeof(int));
        long at = 0;
        for (int k = 0; k < n; k++) {
            memcpy(set->storage + at, parts[k], (size_t)set->seqs[k].n * sizeof(int));
            set->seqs[k].ids = set->storage + at;
            at += set->seqs[k].n;
        }
    }
    for (int k = 0; k < n; k++)
        free(parts[k]);
    free(parts);
    return rc ? -1 : 0;
}

static int read_token_labels(server *s, const cJSON *arr, example_set *es, char *msg)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 2)
        return snprintf(msg, JSONIN_MSG, "token_ids.labels must be an array of at least 2 label token lists"), -1;
    int n = cJSON_GetArraySize(arr), i = 0, total = 0, rc = 0;
    int **parts = xcalloc((size_t)n, sizeof *parts), *lens = xcalloc((size_t)n, sizeof *lens);
    for (const cJSON *e = arr->child; e && !rc; e = e->next, i++) {
        char what[32];
        snprintf(what, sizeof what, "labels[%d]", i);
        rc = json_int_array(e, what, 0, s->info->vocab - 1, 64, &parts[i], &lens[i], msg);
        if (!rc && lens[i] < 1)
            rc = (snprintf(msg, JSONIN_MSG, "%s is empty", what), -1);
        total += lens[i];
    }
    if (!rc) {
        encoded_labels *l = &es->labels;
        l->n = n;
        l->storage = xmalloc((size_t)total * sizeof(int));
        l->labels = xcalloc((size_t)n, sizeof *l->labels);
        for (int k = 0, at = 0; k < n; at += lens[k], k++) {
            memcpy(l->storage + at, parts[k], (size_t)lens[k] * sizeof(int));
            l->labels[k] = (lm_label){l->storage + at, lens[k]};
            if (s->info->kind == LM_CAUSAL && !es->first_token_only && lens[k] - 1 > es->enc.reserve)
                es->enc.reserve = lens[k] - 1;
        }
        /* logits suffice exactly when scorer_setup_encoding would say so: a causal LM with one-token labels */
        es->raw_logits = s->info->kind == LM_CAUSAL;
        for (int k = 0; k < n; k++)
            if (lens[k] != 1 && !es->first_token_only)
                es->raw_logits = 0;
    }
    for (int k = 0; k < n; k++)
        free(parts[k]);
    free(parts);
    free(lens);
    return rc ? -1 : 0;
}

static example_set *take_token_ids(server *s, const cJSON *tok, const upload *u, char *msg)
{
    if (!cJSON_IsObject(tok)) {
        snprintf(msg, JSONIN_MSG, "field \"token_ids\" must be an object {\"sequences\": [...], \"labels\": [...]}");
        return NULL;
    }
    example_set *es = xcalloc(1, sizeof *es);
    es->enc.mode = u->mode;
    es->enc.prompt_len = u->prompt_len;
    es->first_token_only = u->first_token_only;
    if (read_token_labels(s, cJSON_GetObjectItemCaseSensitive(tok, "labels"), es, msg) ||
        read_token_seqs(s, cJSON_GetObjectItemCaseSensitive(tok, "sequences"), u, es, msg)) {
        example_set_free(es);
        return NULL;
    }
    return es;
}

/* ---- the answer ---- */

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *describe(const example_set *es)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "handle", es->id);
    cJSON_AddNumberToObject(o, "n_examples", es->set.n);
    cJSON_AddNumberToObject(o, "prompt_len", es->enc.prompt_len);
    cJSON_AddStringToObject(o, "prompt_mode", config_choice_name("prompt_mode", es->enc.mode));
    cJSON_AddItemToObject(o, "placeholders", es->placeholders ? int_array(es->placeholders, es->enc.prompt_len)
                                                              : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "raw_logits", es->raw_logits);
    cJSON_AddBoolToObject(o, "first_token_only", es->first_token_only);
    cJSON_AddNumberToObject(o, "truncated", es->set.n_truncated);
    cJSON *seqs = cJSON_AddArrayToObject(o, "sequences");
    for (int i = 0; i < es->set.n; i++) {
        const lm_seq *q = &es->set.seqs[i];
        cJSON *sq = cJSON_CreateObject();
        cJSON_AddItemToObject(sq, "ids", int_array(q->ids, q->n));
        cJSON_AddNumberToObject(sq, "prompt_pos", q->prompt_pos);
        cJSON_AddNumberToObject(sq, "read_pos", q->read_pos);
        cJSON_AddItemToArray(seqs, sq);
    }
    cJSON *labels = cJSON_AddArrayToObject(o, "label_ids");
    for (int j = 0; j < es->labels.n; j++)
        cJSON_AddItemToArray(labels, int_array(es->labels.labels[j].ids, es->labels.labels[j].n));
    cJSON_AddItemToObject(o, "labels", int_array(es->set.labels, es->set.n));
    return o;
}

void route_examples(server *s, const request *rq, reply *rp)
{
    cJSON *root = request_json(rq, rp);
    if (!root)
        return;
    double t0 = now_seconds();
    char msg[JSONIN_MSG];
    upload u;
    example_set *es = NULL;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "token_ids");
    if (!read_common(s, root, &u, msg))
        es = tok ? take_token_ids(s, tok, &u, msg) : encode_texts(s, root, &u, msg);
    cJSON_Delete(root);
    if (!es) {
        reply_error(rp, 400, "%s", msg);
        return;
    }
    cJSON *answer = describe(es); /* before the store owns it: another request may evict it at once */
    char id[sizeof es->id];
    if (handles_add(&s->handles, es, id)) {
        cJSON_Delete(answer);
        example_set_free(es);
        reply_error(rp, 429, "all %d example sets (--max-handles) are in use; try again", s->cfg.max_handles);
        return;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(answer, "handle", cJSON_CreateString(id));
    cJSON_AddNumberToObject(answer, "compute_ms", (now_seconds() - t0) * 1e3); /* tokenizing and encoding */
    cJSON_AddNumberToObject(answer, "bytes_in", (double)rq->len);
    reply_json_sized(rp, answer);
}
