/* cmd_eval.c — `bbt eval` and `bbt predict`: use a finished run's prompt on data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bbt/commands.h"
#include "bbt/deep.h"
#include "bbt/files.h"
#include "bbt/options.h"
#include "bbt/remote_client.h"
#include "bbt/report.h"
#include "bbt/runfiles.h"
#include "bbt/scorer.h"
#include "bbt/util.h"

/* A finished run, opened for scoring: its configuration, scorer and kept z. */
typedef struct run_handle {
    tune_config cfg;
    scorer sc;
    double *z;
} run_handle;

/* The options every command on a run takes beside --run: threads, and where to score (a remote model). */
typedef struct run_options {
    int threads;
    char *endpoint, *api_key, *api_key_file;
} run_options;

static int run_open(run_handle *r, const char *dir, const run_options *o, bbt_error *err)
{
    memset(r, 0, sizeof *r);
    if (runfiles_check_run_dir(dir, err))
        return bbt_prefix(err, "--run ");
    char *config_path = path_join(dir, "config.json");
    int rc = tune_config_load(&r->cfg, config_path, err);
    free(config_path);
    if (rc)
        return -1;
    if (o->threads > 0)
        r->cfg.threads = o->threads;
    if (o->endpoint) /* score elsewhere than the run did: the same model at a server, or another server */
        config_set(&r->cfg.endpoint, o->endpoint);
    if ((o->endpoint && tune_config_check(&r->cfg, err)) || remote_set_api_key(o->api_key, o->api_key_file, err)) {
        tune_config_free(&r->cfg);
        return -1;
    }
    char *prompt_path = path_join(dir, "prompt.json");
    int finished = access(prompt_path, F_OK) == 0;
    free(prompt_path);
    if (!finished) {
        tune_config_free(&r->cfg);
        return bbt_fail(err, "the run in %s has not finished (no prompt.json yet): finish it with bbt tune --resume %s",
                        dir, dir);
    }
    if (runfiles_read_prompt(dir, &r->cfg, &r->z, err) || scorer_open(&r->sc, &r->cfg, err) ||
        deep_open(&r->sc.deep, &r->cfg, r->sc.model, NULL, r->sc.embedding_std, dir, err)) {
        scorer_close(&r->sc);
        free(r->z);
        tune_config_free(&r->cfg);
        return -1;
    }
    return 0;
}

static void run_close(run_handle *r)
{
    scorer_close(&r->sc);
    free(r->z);
    tune_config_free(&r->cfg);
}

/* The options of run_options, for a command's table. */
#define REMOTE_OPTIONS(ro)                                                                                             \
    {"threads", OPT_INT, &(ro).threads, "N", "forward-pass threads (default: all cores)"},                          \
        {"endpoint", OPT_STRS, &(ro).endpoint, "URL", "score at this server (repeated, or URL,URL,…: several servers of " \
         "the same model) instead of the run's model or endpoint"},                                                   \
        {"api-key", OPT_STR, &(ro).api_key, "KEY", "the endpoint's API key (default $BBT_API_KEY)"},                   \
        {"api-key-file", OPT_STR, &(ro).api_key_file, "F", "the same, read from a file"}

static void run_options_free(run_options *o)
{
    free(o->endpoint);
    free(o->api_key);
    free(o->api_key_file);
}

typedef int (*run_action)(run_handle *r, void *arg);

/* Open the run in dir, do act on it, close it; errors are printed as `bbt NAME: …`. */
static int on_run(const char *name, const char *dir, const run_options *o, run_action act, void *arg)
{
    if (!dir) {
        fprintf(stderr, "bbt %s: --run DIR is required\n", name);
        return EXIT_USAGE;
    }
    if (o->threads < 0 || o->threads > MAX_THREADS) {
        fprintf(stderr, "bbt %s: --threads %d: must be 0 (all cores) .. %d\n", name, o->threads, MAX_THREADS);
        return EXIT_USAGE;
    }
    run_handle r;
    bbt_error err;
    if (run_open(&r, dir, o, &err)) {
        fprintf(stderr, "bbt %s: %s\n", name, err.msg);
        return EXIT_INPUT;
    }
    int rc = act(&r, arg);
    run_close(&r);
    return rc;
}

/* Score encoded examples under the run's prompt (or the untuned one); scores has n × C floats. */
static float *score_all(run_handle *r, const encoded_set *e, int untuned, bbt_error *err)
{
    float *scores = xmalloc((size_t)e->n * r->sc.labels.n * sizeof *scores);
    if (scorer_score(&r->sc, e, untuned ? NULL : r->z, 1, scores, err)) {
        free(scores);
        return NULL;
    }
    return scores;
}

static const char *split_path(const tune_config *cfg, const char *split)
{
    if (!strcmp(split, "dev"))
        return cfg->dev;
    if (!strcmp(split, "test"))
        return cfg->test;
    if (!strcmp(split, "train"))
        return cfg->train;
    return split;
}

typedef struct eval_args {
    const char *split;
    int untuned;
    const char *per_example; /* NULL, or the file each example's probabilities go to */
} eval_args;

static const char *class_name(const task *t, int c)
{
    return t->label_names[c] ? t->label_names[c] : t->label_words[c];
}

/* F1 named for what it is: of the positive class for two classes (which one is said), macro-F1 for more; then each
 * class's precision, recall, F1 and support, and the confusion matrix (rows gold, columns predicted, class order). */
static void add_class_metrics(cJSON *o, const task *t, const float *scores, const int *labels, int n)
{
    int C = t->n_classes;
    cJSON_AddNumberToObject(o, metric_f1_name(C), metric_task_f1(scores, labels, n, C, t->positive_class));
    if (C == 2) {
        cJSON_AddNumberToObject(o, "positive_class", t->positive_class);
        cJSON_AddStringToObject(o, "positive_label", class_name(t, t->positive_class));
    }
    int *confusion = xmalloc((size_t)C * C * sizeof *confusion);
    metric_confusion(scores, labels, n, C, confusion);
    cJSON *per_class = cJSON_AddArrayToObject(o, "per_class");
    for (int c = 0; c < C; c++) {
        class_prf m = metric_class_prf(confusion, C, c);
        cJSON *k = cJSON_CreateObject();
        cJSON_AddNumberToObject(k, "class", c);
        cJSON_AddStringToObject(k, "label", class_name(t, c));
        cJSON_AddNumberToObject(k, "precision", m.precision);
        cJSON_AddNumberToObject(k, "recall", m.recall);
        cJSON_AddNumberToObject(k, "f1", m.f1);
        cJSON_AddNumberToObject(k, "support", m.support);
        cJSON_AddItemToArray(per_class, k);
    }
    cJSON *matrix = cJSON_AddArrayToObject(o, "confusion");
    for (int g = 0; g < C; g++)
        cJSON_AddItemToArray(matrix, cJSON_CreateIntArray(confusion + (size_t)g * C, C));
    free(confusion);
}

/* Each example's gold label, prediction and probabilities into path (TSV, or JSONL for .jsonl/.json). */
static int write_per_example(const char *path, const task *t, const dataset *d, int n_scored, const float *scores,
                             bbt_error *err)
{
    if (n_scored != d->n) /* each score row must be its example's */
        return bbt_fail(err, "%s: %d examples read but %d scored", d->path, d->n, n_scored);
    report rep;
    report_init(&rep, report_format_of_path(path), REPORT_GOLD, t);
    for (int i = 0; i < d->n; i++)
        report_example(&rep, &d->ex[i], scores + (size_t)i * t->n_classes);
    int rc = report_write(&rep, path, err);
    report_free(&rep);
    return rc;
}

static int names_column(const char *text, const char *name);

/* 1 when a file given to eval is not a table of the task: not JSONL, and its first line does not name the task's text
 * column (plain text, one example per line, as predict reads it). */
static int is_plain_text(const char *path, const task *t)
{
    bbt_error err;
    char *text = read_file(path, NULL, &err);
    if (!text)
        return 0;
    const char *start = text + table_bom_len(text);
    int plain = start[strspn(start, " \t\r\n")] != '{' && !names_column(start, t->col_text_a);
    free(text);
    return plain;
}

static int evaluate_split(run_handle *r, void *arg)
{
    const char *split = ((eval_args *)arg)->split;
    int untuned = ((eval_args *)arg)->untuned;
    const char *per_example = ((eval_args *)arg)->per_example;
    bbt_error err;
    const char *path = split_path(&r->cfg, split);
    if (!path) {
        fprintf(stderr, "bbt eval: the run has no %s split\n", split);
        return EXIT_INPUT;
    }
    if (path == split && access(path, F_OK) != 0) {
        fprintf(stderr, "bbt eval: --split %s: not dev, test or train, and no such file\n", split);
        return EXIT_INPUT;
    }
    dataset d;
    encoded_set e;
    if (scorer_load(&r->sc, path, 1, &d, &e, &err)) {
        if (path == split && is_plain_text(path, &r->sc.task))
            fprintf(stderr, "bbt eval: %s: eval needs a labelled table: a header line naming the task's columns "
                            "(\"%s\"%s%s%s and \"%s\"), then one example per line (TSV, CSV or JSONL); this file's "
                            "first line names none of them. Plain text, one input per line, is what bbt predict "
                            "reads\n",
                    path, r->sc.task.col_text_a, r->sc.task.pair ? ", \"" : "",
                    r->sc.task.pair ? r->sc.task.col_text_b : "", r->sc.task.pair ? "\"" : "", r->sc.task.col_label);
        else
            fprintf(stderr, "bbt eval: %s\n", err.msg);
        return EXIT_INPUT;
    }
    float *scores = score_all(r, &e, untuned, &err);
    int rc = EXIT_OK;
    if (!scores) {
        fprintf(stderr, "bbt eval: %s\n", err.msg);
        rc = EXIT_RUNTIME;
    } else {
        int C = r->sc.labels.n;
        double loss;
        scorer_losses(&r->sc, &e, scores, 1, &loss);
        cJSON *o = cJSON_CreateObject(); /* cJSON escapes the path and writes null for what is not finite */
        cJSON_AddStringToObject(o, "split", split);
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddStringToObject(o, "prompt", untuned ? "untuned" : "tuned");
        cJSON_AddNumberToObject(o, "n", e.n);
        cJSON_AddNumberToObject(o, "acc", metric_accuracy(scores, e.labels, e.n, C));
        cJSON_AddNumberToObject(o, "loss", loss);
        add_class_metrics(o, &r->sc.task, scores, e.labels, e.n);
        if (per_example && write_per_example(per_example, &r->sc.task, &d, e.n, scores, &err)) {
            fprintf(stderr, "bbt eval: --per-example %s\n", err.msg);
            rc = EXIT_INPUT;
        } else {
            if (per_example)
                cJSON_AddStringToObject(o, "per_example", per_example);
            char *text = cJSON_PrintUnformatted(o);
            printf("%s\n", text);
            cJSON_free(text);
        }
        cJSON_Delete(o);
    }
    free(scores);
    encoded_set_free(&e);
    dataset_free(&d);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    char *run = NULL, *split = NULL, *per_example = NULL;
    int untuned = 0;
    run_options ro = {0};
    const opt opts[] = {
        {"run", OPT_STR, &run, "DIR", "a finished run directory (required)"},
        {"split", OPT_STR, &split, "dev|test|train|FILE", "what to score (default test)"},
        {"untuned", OPT_FLAG, &untuned, NULL, "score the untuned prompt (z = 0) instead, for comparison"},
        {"per-example", OPT_STR, &per_example, "FILE", "also write each example's line, gold label, predicted label, "
         "each label's probability and text to FILE (TSV; JSONL when FILE ends in .jsonl)"},
        REMOTE_OPTIONS(ro),
    };
    const opt_spec spec = {"bbt eval --run DIR [--split dev|test|train|FILE]",
                           "Score a run's kept prompt on a split of its task, or on any file with the task's columns; "
                           "prints JSON: n, acc, loss, the F1 (two classes: \"f1\" of the positive class, named by "
                           "\"positive_class\" and \"positive_label\"; more: \"macro_f1\"), \"per_class\" "
                           "precision, recall, f1 and support, and the \"confusion\" matrix (rows gold, columns "
                           "predicted).",
                           opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int n_pos, rc = opt_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc == 0) {
        eval_args a = {split ? split : "test", untuned, per_example};
        rc = on_run("eval", run, &ro, evaluate_split, &a);
    } else {
        rc = rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    free(run);
    free(split);
    free(per_example);
    run_options_free(&ro);
    return rc;
}

/* ---- predict ---- */

/* 1 when the first line, split at tabs or commas, has a cell that is exactly `name` (quotes and spaces aside). */
static int names_column(const char *text, const char *name)
{
    size_t line_end = strcspn(text, "\r\n"), len = strlen(name);
    for (const char *cell = text; cell < text + line_end;) {
        size_t n = strcspn(cell, "\t,\r\n");
        const char *a = cell, *b = cell + n;
        while (a < b && (*a == ' ' || *a == '"'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '"'))
            b--;
        if ((size_t)(b - a) == len && !memcmp(a, name, len))
            return 1;
        cell += n + 1;
    }
    return 0;
}

/* Input for predict: a table with the task's columns (TSV/CSV/JSONL), or plain text lines (pair tasks: a TAB between
 * the two texts). A first line that names the task's text column makes it a table. */
static int read_inputs(const task *t, const char *name, char *text, size_t len, dataset *d, int *is_plain,
                       bbt_error *err)
{
    const char *start = text + table_bom_len(text);
    int is_table = start[strspn(start, " \t\r\n")] == '{' || names_column(start, t->col_text_a);
    *is_plain = !is_table;
    char *cols[2] = {t->col_text_a, t->col_text_b};
    table tb;
    if (is_table ? table_parse(&tb, name, text, len, TABLE_AUTO, err)
                 : table_parse_lines(&tb, name, text, cols, t->pair ? 2 : 1, err)) {
        if (is_table)
            return -1;
        /* Most likely a table whose header does not name the task's columns (GLUE's "sentence", say): say so. */
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        return bbt_fail(err, "%s; it was read as plain text, one example per line%s, because its first line does not "
                             "name the task's column \"%s\" (a TSV, CSV or JSONL file needs a header line with the "
                             "task's columns)",
                        why, t->pair ? " (text_a TAB text_b)" : "", t->col_text_a);
    }
    if (!is_table && tb.n_rows == 0) {
        table_free(&tb);
        return bbt_fail(err, "%s: no input: it is empty or holds only blank lines", name);
    }
    int rc = dataset_from_table(d, &tb, t, 0, err);
    table_free(&tb);
    return rc;
}

typedef struct predict_args {
    const char *input;
    int print_index;
    int probs;             /* each label's probability too (a report: report.h) */
    report_format format;  /* of the report: TSV, or JSONL (always with probabilities) */
} predict_args;

/* One label per input line, as a user pastes them side by side: output line k answers input line k (plain text: a
 * blank input line gets a blank output line); a table's records may span lines (CSV quotes): one line per record. */
static void print_labels(const run_handle *r, const dataset *d, const float *scores, int is_plain, int print_index)
{
    int C = r->sc.labels.n, line = 1;
    for (int i = 0; i < d->n; i++) {
        for (; is_plain && line < d->ex[i].line; line++)
            putchar('\n');
        line++;
        int c = argmax_class(scores + (size_t)i * C, C);
        if (print_index)
            printf("%d\n", c);
        else
            printf("%s\n", r->sc.task.label_names[c] ? r->sc.task.label_names[c] : r->sc.task.label_words[c]);
    }
}

/* Each input's line, predicted label, every label's probability and text (report.h), on standard output. */
static int print_report(const run_handle *r, const dataset *d, const float *scores, const predict_args *a,
                        bbt_error *err)
{
    report rep;
    report_init(&rep, a->format, a->print_index ? REPORT_INDEX : 0, &r->sc.task);
    for (int i = 0; i < d->n; i++)
        report_example(&rep, &d->ex[i], scores + (size_t)i * r->sc.labels.n);
    int rc = report_write(&rep, NULL, err);
    report_free(&rep);
    return rc;
}

static int predict_all(run_handle *r, void *arg)
{
    const predict_args *pa = arg;
    const char *input = pa->input;
    bbt_error err;
    int from_stdin = !input || !strcmp(input, "-");
    const char *name = from_stdin ? "(stdin)" : input;
    size_t len = 0;
    char *text = read_file(from_stdin ? "/dev/stdin" : input, &len, &err);
    dataset d;
    encoded_set e;
    int is_plain = 0;
    if (!text || read_inputs(&r->sc.task, name, text, len, &d, &is_plain, &err)) {
        free(text);
        fprintf(stderr, "bbt predict: %s\n", err.msg);
        return EXIT_INPUT;
    }
    free(text);
    int rc = encode_dataset(r->sc.model, &r->sc.task, &d, &r->sc.enc, &e, &err);
    float *scores = rc ? NULL : score_all(r, &e, 0, &err);
    if (!scores) {
        fprintf(stderr, "bbt predict: %s\n", err.msg);
        dataset_free(&d);
        if (!rc)
            encoded_set_free(&e);
        return rc ? EXIT_INPUT : EXIT_RUNTIME;
    }
    rc = EXIT_OK;
    if (d.n != e.n) { /* each score row must be its example's */
        fprintf(stderr, "bbt predict: %s: %d inputs read but %d scored\n", name, d.n, e.n);
        rc = EXIT_RUNTIME;
    } else if (pa->probs || pa->format == REPORT_JSONL) {
        if (print_report(r, &d, scores, pa, &err)) {
            fprintf(stderr, "bbt predict: %s\n", err.msg);
            rc = EXIT_RUNTIME;
        }
    } else {
        print_labels(r, &d, scores, is_plain, pa->print_index);
    }
    free(scores);
    encoded_set_free(&e);
    dataset_free(&d);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    char *run = NULL, *format = NULL;
    int index = 0, probs = 0;
    run_options ro = {0};
    const opt opts[] = {
        {"run", OPT_STR, &run, "DIR", "a finished run directory (required)"},
        {"index", OPT_FLAG, &index, NULL, "print class indices instead of label words"},
        {"probs", OPT_FLAG, &probs, NULL, "print a table instead: a header, then per input its line, predicted label, "
         "each label's probability (p_LABEL) and text"},
        {"format", OPT_STR, &format, "tsv|jsonl", "of --probs: tsv (default), or jsonl: one JSON object per input "
         "(line, predicted, probs, text); jsonl implies --probs"},
        REMOTE_OPTIONS(ro),
    };
    const opt_spec spec = {"bbt predict --run DIR [FILE|-]",
                           "Predict a label for every input with a run's kept prompt: one label per input line.\n"
                           "Input: a TSV/CSV/JSONL file with the task's columns, or plain text, one example per line "
                           "(pair tasks: text_a TAB text_b; a blank line gets a blank line out).\nStandard input when FILE is - or absent.\n"
                           "Probabilities (--probs, --format jsonl) are the softmax of the label words' scores: the "
                           "model's probabilities renormalised over the task's labels.",
                           opts, (int)(sizeof opts / sizeof opts[0]), 1};
    char *pos[1];
    int n_pos, rc = opt_parse(&spec, argc, argv, pos, &n_pos);
    predict_args a = {n_pos ? pos[0] : NULL, index, probs, REPORT_TSV};
    if (rc == 0 && format && report_format_parse(format, &a.format)) {
        fprintf(stderr, "bbt predict: --format %s: expected tsv or jsonl\n", format);
        rc = -1;
    }
    if (rc == 0)
        rc = on_run("predict", run, &ro, predict_all, &a);
    else
        rc = rc > 0 ? EXIT_OK : EXIT_USAGE;
    free(run);
    free(format);
    run_options_free(&ro);
    return rc;
}
