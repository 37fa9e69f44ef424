/* template_scores — how well a task's template and label words do on labelled data with the untuned model and no soft
 * prompt at all (the "manual prompt"), encoded exactly as `bbt tune` encodes them; and how many examples the length
 * rule shortens with and without L prompt positions. experiments/craftgpt_templates.py runs it over candidate templates
 * on train and dev files only.
 *
 *   template_scores --model DIR --task-file F [--label-sets-file S] [--prompt-len L] [--count-only] [--threads N]
 *                   [--dtype f32|bf16] FILE...
 *
 * One JSON object per FILE (and label set) on standard output: {"file", "set", "n", "acc", "f1" (class
 * positive_class), "ce" (mean cross-entropy of the softmax over the label words' scores, as --loss ce), "truncated"
 * (examples shortened with no prompt), "truncated_L" (shortened when L positions go to the prompt, cat or add mode
 * alike), "max_tokens"}. --label-sets-file S (a JSON array of K arrays of label words, C words each, in class order)
 * scores K candidate sets in place of the task's label words: the sequences are encoded and run once and every set is
 * read from the same call (the data's labels must be class indices). --count-only encodes without scoring: {"file", "n", "truncated", "prompt_len", "truncated_L"} (how the
length rule touches a test set is counted this way; nothing is scored on it). Exit codes: 0, 1 usage, 2 input, 3 runtime.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/encode.h"
#include "bbt/files.h"
#include "bbt/metrics.h"
#include "bbt/scorer.h"
#include "bbt/util.h"

typedef struct args {
    const char *model, *task_file;
    const char *label_sets_file;
    int prompt_len, threads, label_sets, count_only;
    lm_dtype dtype;
    char **files;
    int n_files;
} args;

static int usage(const char *why)
{
    fprintf(stderr, "template_scores: %s\nusage: template_scores --model DIR --task-file F [--prompt-len L] "
                    "[--label-sets-file S] [--count-only] [--threads N] [--dtype f32|bf16] FILE...\n", why);
    return 1;
}

static int parse(int argc, char **argv, args *a)
{
    *a = (args){.prompt_len = 8, .threads = 0, .dtype = LM_F32, .label_sets = 1};
    a->files = argv;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(o, "--model") && has)
            a->model = argv[++i];
        else if (!strcmp(o, "--task-file") && has)
            a->task_file = argv[++i];
        else if (!strcmp(o, "--prompt-len") && has)
            a->prompt_len = atoi(argv[++i]);
        else if (!strcmp(o, "--count-only"))
            a->count_only = 1;
        else if (!strcmp(o, "--label-sets-file") && has)
            a->label_sets_file = argv[++i];
        else if (!strcmp(o, "--threads") && has)
            a->threads = atoi(argv[++i]);
        else if (!strcmp(o, "--dtype") && has) {
            const char *t = argv[++i];
            if (strcmp(t, "f32") && strcmp(t, "bf16"))
                return usage("--dtype is f32 or bf16");
            a->dtype = !strcmp(t, "bf16") ? LM_BF16 : LM_F32;
        } else if (o[0] == '-')
            return usage("unknown option or missing value");
        else
            a->files[a->n_files++] = argv[i];
    }
    if (!a->model || !a->task_file || !a->n_files || a->prompt_len < 0)
        return usage("--model, --task-file and at least one FILE are needed");
    return 0;
}

/* Examples the length rule shortens when `mode` puts prompt_len positions in front of the text. */
static int count_truncated(lm *m, const task *t, const dataset *d, lm_prompt_mode mode, int prompt_len, bbt_error *err)
{
    encode_options enc;
    int *placeholders, raw;
    encoded_labels labels;
    encoded_set e = {0};
    int n = -1;
    if (!scorer_setup_encoding(m, t, mode, prompt_len, -1, 0, &enc, &placeholders, &labels, &raw, err) &&
        !encode_dataset(m, t, d, &enc, &e, err))
        n = e.n_truncated;
    encoded_set_free(&e);
    encoded_labels_free(&labels);
    free(placeholders);
    return n;
}

/* Score one file with no prompt and print its lines (one per label set). 0, or 2 (input) / 3 (runtime) with err. */
static int score_file(lm *m, const task *t, const char *path, const args *a, bbt_error *err)
{
    dataset d;
    if (dataset_load(&d, path, t, DATA_NEED_LABELS, err))
        return 2;
    encode_options enc;
    int *placeholders, raw, rc = 0;
    encoded_labels labels;
    encoded_set e = {0};
    float *scores = NULL, *set = NULL;
    if (scorer_setup_encoding(m, t, LM_PROMPT_NONE, 0, -1, 0, &enc, &placeholders, &labels, &raw, err) ||
        encode_dataset(m, t, &d, &enc, &e, err)) {
        rc = 2;
        goto done;
    }
    if (a->count_only) {
        int trunc_l = a->prompt_len ? count_truncated(m, t, &d, LM_PROMPT_CAT, a->prompt_len, err) : e.n_truncated;
        if (trunc_l < 0)
            rc = 2;
        else
            printf("{\"file\":\"%s\",\"n\":%d,\"truncated\":%d,\"prompt_len\":%d,\"truncated_L\":%d}\n", path, e.n,
                   e.n_truncated, a->prompt_len, trunc_l);
        goto done;
    }
    int all = labels.n, C = all / a->label_sets;
    scores = xmalloc((size_t)e.n * all * sizeof *scores);
    set = xmalloc((size_t)e.n * C * sizeof *set);
    lm_batch b = {.n_seqs = e.n, .seqs = e.seqs, .n_labels = all, .labels = labels.labels};
    if (lm_score(m, &b, scores)) {
        rc = 3;
        bbt_fail(err, "%s: scoring failed: %s", path, lm_errmsg(m));
        goto done;
    }
    int trunc_l = a->prompt_len ? count_truncated(m, t, &d, LM_PROMPT_CAT, a->prompt_len, err) : e.n_truncated;
    if (trunc_l < 0) {
        rc = 2;
        goto done;
    }
    for (int k = 0; k < a->label_sets; k++) {
        for (int i = 0; i < e.n; i++)
            memcpy(set + (size_t)i * C, scores + (size_t)i * all + (size_t)k * C, (size_t)C * sizeof *set);
        printf("{\"file\":\"%s\",\"set\":%d,\"n\":%d,\"acc\":%.6f,\"f1\":%.6f,\"ce\":%.6f,\"truncated\":%d,"
               "\"prompt_len\":%d,\"truncated_L\":%d,\"max_tokens\":%d}\n",
               path, k, e.n, metric_accuracy(set, e.labels, e.n, C), metric_f1(set, e.labels, e.n, C, t->positive_class),
               loss_value(LOSS_CE, set, e.labels, e.n, C, t->positive_class), e.n_truncated, a->prompt_len, trunc_l,
               e.max_len);
    }
done:
    free(scores);
    free(set);
    encoded_set_free(&e);
    encoded_labels_free(&labels);
    free(placeholders);
    dataset_free(&d);
    return rc;
}

/* Replace the task's label words by the K sets of S, one after the other (t->n_classes becomes K·C). */
static int load_label_sets(task *t, const char *path, int *k_out, bbt_error *err)
{
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text)
        return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int C = t->n_classes, K = cJSON_GetArraySize(root), rc = 0;
    if (!cJSON_IsArray(root) || K < 1) {
        cJSON_Delete(root);
        return bbt_fail(err, "%s: not a JSON array of label-word arrays", path);
    }
    char **words = xcalloc((size_t)K * C, sizeof *words), **names = xcalloc((size_t)K * C, sizeof *names);
    for (int k = 0; k < K && !rc; k++) {
        const cJSON *set = cJSON_GetArrayItem(root, k);
        if (!cJSON_IsArray(set) || cJSON_GetArraySize(set) != C)
            rc = bbt_fail(err, "%s: set %d is not an array of %d label words (the task's classes)", path, k, C);
        for (int j = 0; j < C && !rc; j++) {
            const cJSON *w = cJSON_GetArrayItem(set, j);
            if (!cJSON_IsString(w) || !w->valuestring[0])
                rc = bbt_fail(err, "%s: set %d, word %d is not a non-empty string", path, k, j);
            else
                words[k * C + j] = xstrdup(w->valuestring);
        }
    }
    cJSON_Delete(root);
    for (int j = 0; j < C; j++) { /* the task's own label names stay with the first set's classes */
        names[j] = t->label_names ? t->label_names[j] : NULL;
        free(t->label_words[j]);
    }
    free(t->label_words);
    free(t->label_names);
    t->label_words = words;
    t->label_names = names;
    t->n_classes = K * C;
    *k_out = K;
    return rc;
}

int main(int argc, char **argv)
{
    args a;
    if (parse(argc, argv, &a))
        return 1;
    bbt_error err = {0};
    task t;
    if (task_load_json(&t, a.task_file, &err)) {
        fprintf(stderr, "template_scores: %s\n", err.msg);
        return 2;
    }
    if (a.label_sets_file && load_label_sets(&t, a.label_sets_file, &a.label_sets, &err)) {
        fprintf(stderr, "template_scores: %s\n", err.msg);
        task_free(&t);
        return 2;
    }
    lm *m;
    char msg[1024];
    lm_options o = {.dtype = a.dtype, .threads = a.threads};
    if (lm_open(&m, a.model, &o, msg, sizeof msg)) {
        fprintf(stderr, "template_scores: %s\n", msg);
        task_free(&t);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < a.n_files && !rc; i++)
        if ((rc = score_file(m, &t, a.files[i], &a, &err)))
            fprintf(stderr, "template_scores: %s\n", err.msg);
    lm_close(m);
    task_free(&t);
    return rc;
}
