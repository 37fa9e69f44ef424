/* dataset.h — labelled examples of a task, read from a data file through the task's column names.
 *
 * The shared few-shot splits load by task name and seed: <assets>/tasks/<task>/16-<seed>/{train,dev}.tsv and
 * <assets>/tasks/<task>/test.tsv; any TSV/CSV/JSONL file with the task's columns loads by path.
 */
#ifndef BBT_DATASET_H
#define BBT_DATASET_H

#include "bbt/error.h"
#include "bbt/table.h"
#include "bbt/task.h"

typedef struct example {
    char *text_a;   /* {text} or {text_a} */
    char *text_b;   /* {text_b}; NULL for single-text tasks */
    int label;      /* class index; -1 when the file has no labels (prediction input) */
    int line;       /* where it came from, for messages */
} example;

typedef struct dataset {
    char *path;
    example *ex;
    int n;
    int n_classes;
} dataset;

enum { DATA_NEED_LABELS = 1 };

/* Read a data file with the task's columns. With DATA_NEED_LABELS a missing label column, an empty cell or a label that
 * is not one of the task's classes is an error naming the file, line and value. An empty file is an error. */
int dataset_load(dataset *d, const char *path, const task *t, int flags, bbt_error *err);

/* The same from a table already read (e.g. from standard input). */
int dataset_from_table(dataset *d, const table *tb, const task *t, int flags, bbt_error *err);

/* The path of a split in a task folder laid out as the shared tasks are: "train"/"dev" → DIR/16-SEED/SPLIT.tsv,
 * "test" → DIR/test.tsv. Caller frees. */
char *dataset_split_path(const char *task_dir, int seed, const char *split);

/* How many examples have a text field that is empty or only white space. */
int dataset_count_blank(const dataset *d);

/* Examples per class (counts has n_classes entries). */
void dataset_class_counts(const dataset *d, int *counts);

void dataset_free(dataset *d);

#endif
