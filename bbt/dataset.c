/* dataset.c — from a table of strings to the labelled examples of a task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/dataset.h"
#include "bbt/files.h"
#include "bbt/table.h"
#include "bbt/util.h"

static int find_column(const table *tb, const char *name, const char *role, bbt_error *err)
{
    int c = table_col(tb, name);
    if (c < 0) {
        char have[512];
        return bbt_fail(err, "%s: no column \"%s\" (the %s column); the file has: %s", tb->path, name, role,
                        table_col_names(tb, have, sizeof have));
    }
    return c;
}

static int take_text(const table *tb, int row, int col, char **out, bbt_error *err)
{
    const char *cell = tb->cells[row][col];
    if (!cell)
        return bbt_fail(err, "%s: line %d: no value for column \"%s\"", tb->path, tb->line[row], tb->cols[col]);
    *out = xstrdup(cell);
    return 0;
}

static int take_label(const table *tb, int row, int col, const task *t, int *label, bbt_error *err)
{
    const char *cell = tb->cells[row][col];
    if (!cell || !cell[0])
        return bbt_fail(err, "%s: line %d: empty label in column \"%s\"", tb->path, tb->line[row], tb->cols[col]);
    *label = task_class_of(t, cell);
    if (*label < 0)
        return bbt_fail(err, "%s: line %d: label \"%s\" is not a class of task %s (expected 0..%d or one of its label "
                             "names/words)",
                        tb->path, tb->line[row], cell, t->name, t->n_classes - 1);
    return 0;
}

static int fill_examples(dataset *d, const table *tb, const task *t, int flags, bbt_error *err)
{
    int ca = find_column(tb, t->col_text_a, t->pair ? "text_a" : "text", err);
    int cb = t->pair ? find_column(tb, t->col_text_b, "text_b", err) : 0;
    if (ca < 0 || cb < 0)
        return -1;
    int cl = table_col(tb, t->col_label);
    if (cl < 0 && (flags & DATA_NEED_LABELS))
        return find_column(tb, t->col_label, "label", err);
    d->ex = xcalloc((size_t)tb->n_rows, sizeof *d->ex);
    for (int r = 0; r < tb->n_rows; r++) {
        example *e = &d->ex[r];
        d->n = r + 1; /* owns what it holds from here on, also when this row fails */
        e->line = tb->line[r];
        e->label = -1;
        if (take_text(tb, r, ca, &e->text_a, err) || (t->pair && take_text(tb, r, cb, &e->text_b, err)))
            return -1;
        if (cl >= 0 && (tb->cells[r][cl] || (flags & DATA_NEED_LABELS)) && take_label(tb, r, cl, t, &e->label, err))
            return -1;
    }
    return 0;
}

int dataset_from_table(dataset *d, const table *tb, const task *t, int flags, bbt_error *err)
{
    memset(d, 0, sizeof *d);
    d->path = xstrdup(tb->path);
    d->n_classes = t->n_classes;
    int rc = fill_examples(d, tb, t, flags, err);
    if (!rc && d->n == 0)
        rc = bbt_fail(err, "%s: no examples (only a header)", tb->path);
    if (rc)
        dataset_free(d);
    return rc;
}

int dataset_load(dataset *d, const char *path, const task *t, int flags, bbt_error *err)
{
    memset(d, 0, sizeof *d);
    table tb;
    if (table_read(&tb, path, TABLE_AUTO, err))
        return -1;
    int rc = dataset_from_table(d, &tb, t, flags, err);
    table_free(&tb);
    return rc;
}

char *dataset_split_path(const char *task_dir, int seed, const char *split)
{
    char name[64];
    if (!strcmp(split, "test"))
        snprintf(name, sizeof name, "test.tsv");
    else
        snprintf(name, sizeof name, "16-%d/%s.tsv", seed, split);
    return path_join(task_dir, name);
}

static int is_blank(const char *s)
{
    if (!s)
        return 0; /* no such field (a single-text task's text_b) */
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\v' || *s == '\f')
        s++;
    return !*s;
}

int dataset_count_blank(const dataset *d)
{
    int n = 0;
    for (int i = 0; i < d->n; i++)
        n += is_blank(d->ex[i].text_a) || is_blank(d->ex[i].text_b);
    return n;
}

void dataset_class_counts(const dataset *d, int *counts)
{
    memset(counts, 0, (size_t)d->n_classes * sizeof *counts);
    for (int i = 0; i < d->n; i++)
        if (d->ex[i].label >= 0)
            counts[d->ex[i].label]++;
}

void dataset_free(dataset *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].text_a);
        free(d->ex[i].text_b);
    }
    free(d->ex);
    free(d->path);
    memset(d, 0, sizeof *d);
}
