/* table.c — TSV, CSV and JSONL files as tables of strings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/files.h"
#include "bbt/table.h"
#include "bbt/util.h"

/* A growing buffer for one cell. */
typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static void sb_putc(strbuf *b, char c)
{
    if (b->n + 1 >= b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->s = xrealloc(b->s, b->cap);
    }
    b->s[b->n++] = c;
    b->s[b->n] = 0;
}

static char *sb_take(strbuf *b)
{
    char *s = b->s ? b->s : xstrdup("");
    memset(b, 0, sizeof *b);
    return s;
}

/* A row under construction. */
typedef struct rowbuf {
    char **cells;
    int n, cap;
} rowbuf;

static void row_push(rowbuf *r, char *cell)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->cells = xrealloc(r->cells, (size_t)r->cap * sizeof *r->cells);
    }
    r->cells[r->n++] = cell;
}

static void row_clear(rowbuf *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->cells[i]);
    r->n = 0;
}

int table_col(const table *t, const char *name)
{
    for (int i = 0; i < t->n_cols; i++)
        if (!strcmp(t->cols[i], name))
            return i;
    return -1;
}

const char *table_col_names(const table *t, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0, used = 0; i < t->n_cols && used < (int)size; i++)
        used += snprintf(buf + used, size - (size_t)used, "%s%s", i ? ", " : "", t->cols[i]);
    return buf;
}

/* Room for one more row. The arrays grow by half each time: one realloc per row copied the whole array for every row
 * (quadratic; a 67k-line file took minutes under AddressSanitizer, whose realloc always copies). */
static void grow_rows(table *t)
{
    if (t->n_rows < t->cap_rows)
        return;
    t->cap_rows = t->cap_rows < 16 ? 16 : t->cap_rows + t->cap_rows / 2;
    t->cells = xrealloc(t->cells, (size_t)t->cap_rows * sizeof *t->cells);
    t->line = xrealloc(t->line, (size_t)t->cap_rows * sizeof *t->line);
}

void table_add_row(table *t, char *const *cells, int line)
{
    grow_rows(t);
    char **row = xcalloc((size_t)t->n_cols, sizeof *row);
    for (int i = 0; i < t->n_cols; i++)
        row[i] = cells[i] ? xstrdup(cells[i]) : NULL;
    t->cells[t->n_rows] = row;
    t->line[t->n_rows] = line;
    t->n_rows++;
}

/* Take the cells of a finished record: the first record is the header, the others rows that must match its width. */
static int take_record(table *t, rowbuf *r, int line, bbt_error *err)
{
    if (r->n == 1 && !r->cells[0][0]) { /* a blank line */
        row_clear(r);
        return 0;
    }
    if (!t->cols) {
        for (int i = 0; i < r->n; i++) /* two columns of one name: which one a task's column means is anyone's guess */
            for (int j = i + 1; j < r->n; j++)
                if (!strcmp(r->cells[i], r->cells[j])) {
                    bbt_fail(err, "%s: line %d: the header names column \"%s\" twice (fields %d and %d); rename one",
                             t->path, line, r->cells[i], i + 1, j + 1);
                    row_clear(r);
                    return -1;
                }
        t->n_cols = r->n;
        t->cols = r->cells;
        memset(r, 0, sizeof *r);
        return 0;
    }
    if (r->n != t->n_cols) {
        bbt_fail(err, "%s: line %d has %d fields, expected %d (%s)", t->path, line, r->n, t->n_cols,
                 t->format == TABLE_CSV ? "comma-separated" : "tab-separated");
        row_clear(r);
        return -1;
    }
    grow_rows(t);
    t->cells[t->n_rows] = xrealloc(r->cells, (size_t)r->n * sizeof(char *));
    t->line[t->n_rows++] = line;
    memset(r, 0, sizeof *r);
    return 0;
}

/* TSV: fields split at tabs, records at newlines; a trailing \r is dropped. No quoting (the GLUE files have none). */
static int parse_tsv(table *t, const char *text, bbt_error *err)
{
    rowbuf row = {0};
    strbuf cell = {0};
    int line = 1, rc = 0;
    for (const char *p = text;; p++) {
        if (*p == '\t') {
            row_push(&row, sb_take(&cell));
        } else if (*p == '\n' || *p == 0) {
            if (cell.n && cell.s[cell.n - 1] == '\r')
                cell.s[--cell.n] = 0;
            if (*p == 0 && row.n == 0 && cell.n == 0)
                break;
            row_push(&row, sb_take(&cell));
            if ((rc = take_record(t, &row, line, err)))
                break;
            if (*p == 0)
                break;
            line++;
        } else {
            sb_putc(&cell, *p);
        }
    }
    free(cell.s);
    row_clear(&row);
    free(row.cells);
    return rc;
}

/* CSV (RFC 4180): a field in double quotes may hold commas, newlines and "" for a quote. */
static int parse_csv(table *t, const char *text, bbt_error *err)
{
    rowbuf row = {0};
    strbuf cell = {0};
    int line = 1, record_line = 1, quoted = 0, rc = 0;
    for (const char *p = text;; p++) {
        if (quoted) {
            if (*p == 0) {
                rc = bbt_fail(err, "%s: line %d: a quoted field is not closed", t->path, record_line);
                break;
            }
            if (*p == '"' && p[1] == '"')
                sb_putc(&cell, *p++);
            else if (*p == '"')
                quoted = 0;
            else {
                line += *p == '\n';
                sb_putc(&cell, *p);
            }
        } else if (*p == '"' && cell.n == 0) {
            quoted = 1;
        } else if (*p == ',') {
            row_push(&row, sb_take(&cell));
        } else if (*p == '\n' || *p == 0) {
            if (cell.n && cell.s[cell.n - 1] == '\r')
                cell.s[--cell.n] = 0;
            if (*p == 0 && row.n == 0 && cell.n == 0)
                break;
            row_push(&row, sb_take(&cell));
            if ((rc = take_record(t, &row, record_line, err)) || *p == 0)
                break;
            record_line = ++line;
        } else if (*p != '\r' || (p[1] != '\n' && p[1] != 0)) {
            sb_putc(&cell, *p);
        }
    }
    free(cell.s);
    row_clear(&row);
    free(row.cells);
    return rc;
}

/* The text of a JSON scalar as a cell: strings as they are, integers as integers, other numbers exactly, booleans as
 * 0/1. NULL for an array or object (an error) — null is handled by the caller as a missing value. */
static char *json_cell(const cJSON *v)
{
    char buf[64];
    if (cJSON_IsString(v))
        return xstrdup(v->valuestring);
    if (cJSON_IsBool(v))
        return xstrdup(cJSON_IsTrue(v) ? "1" : "0");
    if (cJSON_IsNumber(v)) {
        if (fabs(v->valuedouble) < 9e15 && v->valuedouble == floor(v->valuedouble))
            snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
        else
            snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return xstrdup(buf);
    }
    return NULL;
}

static int jsonl_column(table *t, const char *key)
{
    int c = table_col(t, key);
    if (c >= 0)
        return c;
    t->cols = xrealloc(t->cols, (size_t)(t->n_cols + 1) * sizeof *t->cols);
    t->cols[t->n_cols] = xstrdup(key);
    for (int r = 0; r < t->n_rows; r++) {
        t->cells[r] = xrealloc(t->cells[r], (size_t)(t->n_cols + 1) * sizeof(char *));
        t->cells[r][t->n_cols] = NULL;
    }
    return t->n_cols++;
}

static int jsonl_row(table *t, const cJSON *obj, int line, bbt_error *err)
{
    for (const cJSON *v = obj->child; v; v = v->next)
        for (const cJSON *w = v->next; w; w = w->next)
            if (!strcmp(v->string, w->string))
                return bbt_fail(err, "%s: line %d: key \"%s\" appears twice in one object", t->path, line, v->string);
    for (const cJSON *v = obj->child; v; v = v->next)
        jsonl_column(t, v->string);
    grow_rows(t);
    char **row = xcalloc((size_t)t->n_cols, sizeof *row);
    for (const cJSON *v = obj->child; v; v = v->next) {
        int c = table_col(t, v->string);
        free(row[c]);
        row[c] = NULL;
        if (cJSON_IsNull(v))
            continue; /* a missing value, as an absent key */
        if (!(row[c] = json_cell(v))) {
            for (int i = 0; i < t->n_cols; i++)
                free(row[i]);
            free(row);
            return bbt_fail(err, "%s: line %d: key \"%s\" holds an array or object (expected a string or number)",
                            t->path, line, v->string);
        }
    }
    t->cells[t->n_rows] = row;
    t->line[t->n_rows++] = line;
    return 0;
}

static int parse_jsonl(table *t, char *text, bbt_error *err)
{
    int line = 0;
    for (char *p = text; *p;) {
        char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        line++;
        size_t skip = strspn(p, " \t\r");
        if (skip < len) {
            cJSON *obj = cJSON_ParseWithLength(p, len);
            if (!cJSON_IsObject(obj)) {
                cJSON_Delete(obj);
                return bbt_fail(err, "%s: line %d is not a JSON object", t->path, line);
            }
            int rc = jsonl_row(t, obj, line, err);
            cJSON_Delete(obj);
            if (rc)
                return rc;
        }
        p += len + (end != NULL);
    }
    return 0;
}

static table_format guess_format(const char *path, const char *text)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strcmp(dot, ".tsv"))
        return TABLE_TSV;
    if (dot && !strcmp(dot, ".csv"))
        return TABLE_CSV;
    if (dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json")))
        return TABLE_JSONL;
    const char *p = text + strspn(text, " \t\r\n");
    if (*p == '{')
        return TABLE_JSONL;
    size_t first_line = strcspn(text, "\n");
    return memchr(text, '\t', first_line) ? TABLE_TSV : TABLE_CSV;
}

size_t table_bom_len(const char *text)
{
    return strncmp(text, "\xEF\xBB\xBF", 3) ? 0 : 3;
}

int table_parse(table *t, const char *name, char *text, size_t len, table_format format, bbt_error *err)
{
    memset(t, 0, sizeof *t);
    t->path = xstrdup(name);
    int rc = 0;
    size_t bom = table_bom_len(text); /* not part of the first column's name */
    text += bom;
    len -= bom;
    if (strlen(text) != len)
        rc = bbt_fail(err, "%s: contains NUL bytes (not a text file)", name);
    if (!rc) {
        t->format = format ? format : guess_format(name, text);
        rc = t->format == TABLE_TSV   ? parse_tsv(t, text, err)
             : t->format == TABLE_CSV ? parse_csv(t, text, err)
                                      : parse_jsonl(t, text, err);
    }
    if (!rc && t->n_cols == 0)
        rc = bbt_fail(err, "%s: empty file (expected a header line or JSON objects)", name);
    if (rc)
        table_free(t);
    return rc;
}

int table_parse_lines(table *t, const char *name, char *text, char *const *cols, int n_cols, bbt_error *err)
{
    memset(t, 0, sizeof *t);
    t->path = xstrdup(name);
    t->format = TABLE_TSV;
    t->n_cols = n_cols;
    t->cols = xcalloc((size_t)n_cols, sizeof *t->cols);
    for (int i = 0; i < n_cols; i++)
        t->cols[i] = xstrdup(cols[i]);
    int rc = parse_tsv(t, text + table_bom_len(text), err); /* with the header already there, every line is a row */
    if (rc)
        table_free(t);
    return rc;
}

int table_read(table *t, const char *path, table_format format, bbt_error *err)
{
    memset(t, 0, sizeof *t);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text)
        return -1;
    int rc = table_parse(t, path, text, len, format, err);
    free(text);
    return rc;
}

void table_free(table *t)
{
    if (!t)
        return;
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++)
            free(t->cells[r][c]);
        free(t->cells[r]);
    }
    for (int c = 0; c < t->n_cols; c++)
        free(t->cols[c]);
    free(t->cols);
    free(t->cells);
    free(t->line);
    free(t->path);
    memset(t, 0, sizeof *t);
}

static void put_tsv_cell(strbuf *b, const char *s)
{
    for (; s && *s; s++)
        sb_putc(b, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

int table_write_tsv(const table *t, const char *path, bbt_error *err)
{
    strbuf b = {0};
    for (int c = 0; c < t->n_cols; c++) {
        put_tsv_cell(&b, t->cols[c]);
        sb_putc(&b, c + 1 < t->n_cols ? '\t' : '\n');
    }
    for (int r = 0; r < t->n_rows; r++)
        for (int c = 0; c < t->n_cols; c++) {
            put_tsv_cell(&b, t->cells[r][c]);
            sb_putc(&b, c + 1 < t->n_cols ? '\t' : '\n');
        }
    int rc = write_file_atomic(path, b.s, b.n, err);
    free(b.s);
    return rc;
}
