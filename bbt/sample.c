/* sample.c — k-shot train/dev splits from a full training file. */
#include <stdlib.h>
#include <string.h>

#include "bbt/sample.h"
#include "bbt/util.h"
#include "optim/pcg.h"

/* Column names seen in real releases (GLUE, SNLI, HF datasets), in order of preference. */
static const char *const single_names[] = {"text", "sentence", "review", "content", "document", NULL};
static const char *const first_names[] = {"text_a", "sentence1", "premise", "question1", "question", NULL};
static const char *const second_names[] = {"text_b", "sentence2", "hypothesis", "question2", "sentence", NULL};
static const char *const label_names[] = {"label", "labels", "gold_label", "class", "y", NULL};

static int first_present(const table *t, const char *const *names)
{
    for (; *names; names++) {
        int c = table_col(t, *names);
        if (c >= 0)
            return c;
    }
    return -1;
}

static int named_col(const table *t, const char *name, bbt_error *err)
{
    int c = table_col(t, name);
    char have[512];
    return c >= 0 ? c : bbt_fail(err, "%s: no column \"%s\"; the file has: %s", t->path, name,
                                 table_col_names(t, have, sizeof have));
}

/* cols[0] = text or text_a, cols[1] = text_b or -1, cols[2] = label. Given names win; the rest is found by name. */
static int find_columns(const table *t, const sample_options *o, int cols[3], bbt_error *err)
{
    int a = first_present(t, first_names), b = first_present(t, second_names);
    int auto_pair = a >= 0 && b >= 0 && a != b;
    if (o->text_col && (cols[0] = named_col(t, o->text_col, err)) < 0)
        return -1;
    char have[512];
    if (!o->text_col && (cols[0] = auto_pair ? a : first_present(t, single_names)) < 0)
        return bbt_fail(err, "%s: no text column found (looked for text, sentence, text_a/text_b, "
                             "sentence1/sentence2, premise/hypothesis…; the file has: %s); give --text-col", t->path,
                        table_col_names(t, have, sizeof have));
    if (o->text_b_col)
        cols[1] = named_col(t, o->text_b_col, err);
    else
        cols[1] = !o->text_col && auto_pair ? b : -1;
    if (o->text_b_col && cols[1] < 0)
        return -1;
    cols[2] = o->label_col ? named_col(t, o->label_col, err) : first_present(t, label_names);
    if (cols[2] < 0)
        return o->label_col ? -1
                            : bbt_fail(err, "%s: no label column found (label, gold_label, class…; the file has: %s); "
                                            "give --label-col", t->path, table_col_names(t, have, sizeof have));
    return 0;
}

static int is_integer(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* A class: its label text, its numeric value when every label is an integer, and its rows. */
typedef struct class_rows {
    const char *label;
    long value;
    int *rows;
    int n;
} class_rows;

static int cmp_numeric(const void *a, const void *b)
{
    long u = ((const class_rows *)a)->value, v = ((const class_rows *)b)->value;
    return (u > v) - (u < v);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(((const class_rows *)a)->label, ((const class_rows *)b)->label);
}

static void shuffle(int *v, int n, pcg_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)pcg_bounded(rng, (uint64_t)i + 1);
        int tmp = v[i];
        v[i] = v[j];
        v[j] = tmp;
    }
}

/* The output's header: the input's own columns, or (normalise) text,label / text_a,text_b,label. */
static void init_output(table *out, const table *in, int pair, int normalise)
{
    memset(out, 0, sizeof *out);
    out->path = xstrdup(in->path);
    if (!normalise) {
        out->n_cols = in->n_cols;
        out->cols = xcalloc((size_t)in->n_cols, sizeof *out->cols);
        for (int i = 0; i < in->n_cols; i++)
            out->cols[i] = xstrdup(in->cols[i]);
        return;
    }
    out->n_cols = pair ? 3 : 2;
    out->cols = xcalloc(3, sizeof *out->cols);
    const char *names[] = {pair ? "text_a" : "text", pair ? "text_b" : "label", "label"};
    for (int i = 0; i < out->n_cols; i++)
        out->cols[i] = xstrdup(names[i]);
}

static void add_rows(table *out, const table *in, const int cols[3], int normalise, int *rows, int n)
{
    for (int i = 0; i < n; i++) {
        char **r = in->cells[rows[i]];
        char *cells[3] = {r[cols[0]], cols[1] >= 0 ? r[cols[1]] : r[cols[2]], r[cols[2]]};
        table_add_row(out, normalise ? cells : r, in->line[rows[i]]);
    }
}

/* A row's text, the key of de-duplication: text_a and text_b (NULL: no second text, or a JSONL row without it). */
typedef struct text_key {
    const char *a, *b;
    int row;
} text_key;

static int cmp_cell(const char *x, const char *y)
{
    return strcmp(x ? x : "", y ? y : "");
}

/* By text, then by row, so that the first occurrence of a text comes first among its equals. */
static int cmp_key(const void *p, const void *q)
{
    const text_key *u = p, *v = q;
    int c = cmp_cell(u->a, v->a);
    if (!c)
        c = cmp_cell(u->b, v->b);
    return c ? c : (u->row > v->row) - (u->row < v->row);
}

/* keep[r] = 0 for every row whose text an earlier row already has; counts what was dropped. Sorting (n log n) rather
 * than comparing pairs: full training files have tens of thousands of rows (SST-2: 67,349). */
static char *mark_duplicates(const table *in, const int cols[3], sample_counts *counts)
{
    char *keep = xmalloc(in->n_rows > 0 ? (size_t)in->n_rows : 1);
    memset(keep, 1, (size_t)in->n_rows);
    text_key *k = xmalloc((size_t)(in->n_rows > 0 ? in->n_rows : 1) * sizeof *k);
    for (int r = 0; r < in->n_rows; r++)
        k[r] = (text_key){in->cells[r][cols[0]], cols[1] >= 0 ? in->cells[r][cols[1]] : NULL, r};
    qsort(k, (size_t)in->n_rows, sizeof *k, cmp_key);
    for (int i = 1, first = 0; i < in->n_rows; i++) {
        if (cmp_cell(k[i].a, k[first].a) || cmp_cell(k[i].b, k[first].b)) {
            first = i;
            continue;
        }
        keep[k[i].row] = 0;
        counts->n_duplicates++;
        counts->n_conflicting += cmp_cell(in->cells[k[i].row][cols[2]], in->cells[k[first].row][cols[2]]) != 0;
    }
    free(k);
    return keep;
}

static void free_classes(class_rows *cls, int n)
{
    for (int c = 0; c < n; c++)
        free(cls[c].rows);
    free(cls);
}

/* Group the kept rows by label, classes sorted (numerically when every label is an integer). */
static int group_classes(const table *in, int label_col, const char *keep, class_rows **out, int *n_out,
                         bbt_error *err)
{
    class_rows *cls = NULL;
    int n = 0, numeric = 1;
    for (int r = 0; r < in->n_rows; r++) {
        if (!keep[r])
            continue;
        const char *label = in->cells[r][label_col];
        if (!label || !label[0]) {
            free_classes(cls, n);
            return bbt_fail(err, "%s: line %d: empty label", in->path, in->line[r]);
        }
        int c = 0;
        while (c < n && strcmp(cls[c].label, label))
            c++;
        if (c == n) {
            cls = xrealloc(cls, (size_t)(n + 1) * sizeof *cls);
            cls[n++] = (class_rows){label, strtol(label, NULL, 10), NULL, 0};
            numeric = numeric && is_integer(label);
        }
        cls[c].rows = xrealloc(cls[c].rows, (size_t)(cls[c].n + 1) * sizeof(int));
        cls[c].rows[cls[c].n++] = r;
    }
    qsort(cls, (size_t)n, sizeof *cls, numeric ? cmp_numeric : cmp_text);
    *out = cls;
    *n_out = n;
    return 0;
}

int sample_fewshot(const table *in, const sample_options *o, table *train, table *dev, sample_counts *counts,
                   bbt_error *err)
{
    int cols[3];
    class_rows *cls = NULL;
    int n_cls = 0;
    sample_counts own;
    if (!counts)
        counts = &own;
    memset(counts, 0, sizeof *counts);
    if (o->k < 1)
        return bbt_fail(err, "--k %d: must be at least 1", o->k);
    if (find_columns(in, o, cols, err))
        return -1;
    char *keep = mark_duplicates(in, cols, counts);
    int rc = group_classes(in, cols[2], keep, &cls, &n_cls, err);
    free(keep);
    if (rc)
        return -1;
    counts->n_classes = n_cls;
    for (int c = 0; c < n_cls; c++)
        if (cls[c].n < 2 * o->k) {
            rc = bbt_fail(err, "%s: class \"%s\" has %d examples%s; --k %d needs %d (k for train and k for dev)",
                          in->path, cls[c].label, cls[c].n, counts->n_duplicates ? " once duplicates are dropped" : "",
                          o->k, 2 * o->k);
            free_classes(cls, n_cls);
            return rc;
        }
    pcg_rng rng;
    pcg_seed(&rng, o->seed, SAMPLE_STREAM);
    int *tr = xmalloc((size_t)n_cls * o->k * sizeof *tr), *dv = xmalloc((size_t)n_cls * o->k * sizeof *dv);
    for (int c = 0; c < n_cls; c++) {
        shuffle(cls[c].rows, cls[c].n, &rng);
        memcpy(tr + (size_t)c * o->k, cls[c].rows, (size_t)o->k * sizeof *tr);
        memcpy(dv + (size_t)c * o->k, cls[c].rows + o->k, (size_t)o->k * sizeof *dv);
    }
    shuffle(tr, n_cls * o->k, &rng);
    shuffle(dv, n_cls * o->k, &rng);
    init_output(train, in, cols[1] >= 0, o->normalise);
    init_output(dev, in, cols[1] >= 0, o->normalise);
    add_rows(train, in, cols, o->normalise, tr, n_cls * o->k);
    add_rows(dev, in, cols, o->normalise, dv, n_cls * o->k);
    free(tr);
    free(dv);
    free_classes(cls, n_cls);
    return 0;
}
