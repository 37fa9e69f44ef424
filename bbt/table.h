/* table.h — a data file as a table of strings: a header of column names and rows of cells.
 *
 * Reads TSV (tab-separated, header line, no quoting: the GLUE layout), CSV (RFC 4180: quotes, "" escapes, newlines
 * inside quotes) and JSONL (one JSON object per line; strings, numbers and booleans become cells; the first object's
 * keys, in order, plus any new keys later, become columns). The format comes from the extension (.tsv, .csv, .jsonl,
 * .json) or, failing that, from the content. Every row remembers the line it started on, for error messages. A UTF-8
 * byte-order mark at the start (spreadsheet exports) is skipped; CRLF line ends are read as LF.
 */
#ifndef BBT_TABLE_H
#define BBT_TABLE_H

#include "bbt/error.h"

typedef enum table_format { TABLE_AUTO = 0, TABLE_TSV, TABLE_CSV, TABLE_JSONL } table_format;

typedef struct table {
    char *path;
    table_format format;
    int n_cols;
    char **cols;       /* column names */
    int n_rows;
    char ***cells;     /* cells[row][col]; NULL where a JSONL object lacks the key */
    int *line;         /* 1-based line each row starts on */
    int cap_rows;      /* rows cells and line have room for */
} table;

int table_read(table *t, const char *path, table_format format, bbt_error *err);

/* The same from text already in memory (len bytes, NUL-terminated); name stands for the file in messages. */
int table_parse(table *t, const char *name, char *text, size_t len, table_format format, bbt_error *err);
void table_free(table *t);

/* Lines of plain text without a header: each line is a row, its fields separated by tabs, the columns named by cols.
 * Blank lines are skipped. */
int table_parse_lines(table *t, const char *name, char *text, char *const *cols, int n_cols, bbt_error *err);

/* 3 when text starts with a UTF-8 byte-order mark, else 0. */
size_t table_bom_len(const char *text);

/* Index of a column by name, or -1. */
int table_col(const table *t, const char *name);

/* The column names, comma-separated, into buf (cut short to fit): for messages that say what a file has. */
const char *table_col_names(const table *t, char *buf, size_t size);

/* Append a row (the cells are copied). Used by writers and tests. */
void table_add_row(table *t, char *const *cells, int line);

/* Write a table as TSV (the normalised layout of the shared tasks). Cells must not hold tabs or newlines: those are
 * replaced by spaces. Atomic. */
int table_write_tsv(const table *t, const char *path, bbt_error *err);

#endif
