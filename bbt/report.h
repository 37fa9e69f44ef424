/* report.h — per-example outputs: for every input, each label's probability and the predicted label (and, for a
 * labelled split, the gold label), as TSV or JSONL, so that users can inspect errors, calibrate and plot.
 * `bbt predict --probs` / `--format jsonl` and `bbt eval --per-example FILE` both write through it: the same columns.
 *
 * TSV: a header line, then one line per example (cells' tabs and newlines become spaces):
 *     line  [gold  correct]  predicted  p_<label>…  text | text_a  text_b
 * JSONL: one object per example, the same fields:
 *     {"line": 3, "gold": "bad", "correct": false, "predicted": "great", "probs": {"bad": 0.31, "great": 0.69},
 *      "text": "…"}                                  (pairs: "text_a", "text_b")
 * line is where the example starts in its input file; a label is the task's label name, else its label word (or the
 * class index with REPORT_INDEX); probabilities are class_probabilities() of metrics.h, printed with 6 significant
 * digits, in class order.
 */
#ifndef BBT_REPORT_H
#define BBT_REPORT_H

#include <stddef.h>

#include "bbt/dataset.h"
#include "bbt/error.h"
#include "bbt/task.h"

typedef enum report_format { REPORT_TSV = 0, REPORT_JSONL } report_format;

enum {
    REPORT_GOLD = 1,  /* the examples are labelled: gold and correct columns */
    REPORT_INDEX = 2  /* labels as class indices instead of names */
};

typedef struct report {
    report_format format;
    int flags;
    const task *task;   /* not owned */
    char *text;         /* what was written so far (NUL-terminated), len bytes */
    size_t len, cap;
    double *probs;      /* scratch, one per class */
} report;

/* "tsv" or "jsonl" to a format; -1 for anything else. */
int report_format_parse(const char *name, report_format *format);

/* The format a file name asks for: JSONL for .jsonl or .json, TSV otherwise. */
report_format report_format_of_path(const char *path);

/* Start a report (TSV: its header line is written now). */
void report_init(report *r, report_format format, int flags, const task *t);

/* One example: its scores are the task's n_classes label-word scores. */
void report_example(report *r, const example *ex, const float *scores);

/* Write the report to a file (atomically), or to stdout when path is NULL. */
int report_write(const report *r, const char *path, bbt_error *err);

void report_free(report *r);

#endif
