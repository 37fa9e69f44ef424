/* report.c — per-example probabilities and labels as TSV or JSONL (see report.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/files.h"
#include "bbt/metrics.h"
#include "bbt/report.h"
#include "bbt/util.h"

static void put(report *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->text = xrealloc(r->text, r->cap);
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = '\0';
}

static void put_str(report *r, const char *s)
{
    put(r, s, strlen(s));
}

static void put_fmt(report *r, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(r, buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A TSV cell: tabs and line breaks would split the row, so they become spaces (as table_write_tsv does). */
static void put_cell(report *r, const char *s, int last)
{
    for (; s && *s; s++) {
        char c = *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s;
        put(r, &c, 1);
    }
    put(r, last ? "\n" : "\t", 1);
}

int report_format_parse(const char *name, report_format *format)
{
    if (!strcmp(name, "tsv"))
        *format = REPORT_TSV;
    else if (!strcmp(name, "jsonl"))
        *format = REPORT_JSONL;
    else
        return -1;
    return 0;
}

report_format report_format_of_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json")) ? REPORT_JSONL : REPORT_TSV;
}

/* A class as the output names it. */
static const char *label_of(const report *r, int c, char *buf, size_t size)
{
    if (r->flags & REPORT_INDEX) {
        snprintf(buf, size, "%d", c);
        return buf;
    }
    return r->task->label_names[c] ? r->task->label_names[c] : r->task->label_words[c];
}

static void tsv_header(report *r)
{
    put_str(r, (r->flags & REPORT_GOLD) ? "line\tgold\tcorrect\tpredicted\t" : "line\tpredicted\t");
    char buf[32], name[256];
    for (int c = 0; c < r->task->n_classes; c++) {
        snprintf(name, sizeof name, "p_%s", label_of(r, c, buf, sizeof buf));
        put_cell(r, name, 0);
    }
    put_str(r, r->task->pair ? "text_a\ttext_b\n" : "text\n");
}

void report_init(report *r, report_format format, int flags, const task *t)
{
    memset(r, 0, sizeof *r);
    r->format = format;
    r->flags = flags;
    r->task = t;
    r->probs = xmalloc((size_t)t->n_classes * sizeof *r->probs);
    put(r, "", 0);
    if (format == REPORT_TSV)
        tsv_header(r);
}

static void tsv_example(report *r, const example *ex, int predicted)
{
    char a[32], b[32];
    put_fmt(r, "%d\t", ex->line);
    if (r->flags & REPORT_GOLD) {
        put_cell(r, label_of(r, ex->label, a, sizeof a), 0);
        put_str(r, ex->label == predicted ? "1\t" : "0\t");
    }
    put_cell(r, label_of(r, predicted, b, sizeof b), 0);
    for (int c = 0; c < r->task->n_classes; c++)
        put_fmt(r, "%.6g\t", r->probs[c]);
    put_cell(r, ex->text_a, !r->task->pair);
    if (r->task->pair)
        put_cell(r, ex->text_b, 1);
}

/* A number with 6 significant digits, as JSON (cJSON would print 17). */
static cJSON *short_number(double v)
{
    char buf[32];
    if (!isfinite(v)) /* a broken prompt's NaN scores: JSON has no NaN */
        return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%.6g", v);
    return cJSON_CreateRaw(buf);
}

static void jsonl_example(report *r, const example *ex, int predicted)
{
    char a[32], b[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "line", ex->line);
    if (r->flags & REPORT_GOLD) {
        cJSON_AddStringToObject(o, "gold", label_of(r, ex->label, a, sizeof a));
        cJSON_AddBoolToObject(o, "correct", ex->label == predicted);
    }
    cJSON_AddStringToObject(o, "predicted", label_of(r, predicted, b, sizeof b));
    cJSON *probs = cJSON_AddObjectToObject(o, "probs");
    for (int c = 0; c < r->task->n_classes; c++)
        cJSON_AddItemToObject(probs, label_of(r, c, a, sizeof a), short_number(r->probs[c]));
    cJSON_AddStringToObject(o, r->task->pair ? "text_a" : "text", ex->text_a ? ex->text_a : "");
    if (r->task->pair)
        cJSON_AddStringToObject(o, "text_b", ex->text_b ? ex->text_b : "");
    char *line = cJSON_PrintUnformatted(o);
    put_str(r, line);
    put(r, "\n", 1);
    cJSON_free(line);
    cJSON_Delete(o);
}

void report_example(report *r, const example *ex, const float *scores)
{
    int C = r->task->n_classes;
    class_probabilities(scores, C, r->probs);
    int predicted = argmax_class(scores, C);
    if (r->format == REPORT_TSV)
        tsv_example(r, ex, predicted);
    else
        jsonl_example(r, ex, predicted);
}

int report_write(const report *r, const char *path, bbt_error *err)
{
    if (path)
        return write_file_atomic(path, r->text, r->len, err);
    if (fwrite(r->text, 1, r->len, stdout) != r->len || fflush(stdout))
        return bbt_fail(err, "standard output: cannot write");
    return 0;
}

void report_free(report *r)
{
    free(r->text);
    free(r->probs);
    memset(r, 0, sizeof *r);
}
