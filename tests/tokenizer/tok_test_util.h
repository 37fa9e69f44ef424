/* tok_test_util.h — helpers shared by the tokenizer tests: golden files, encoding into a vector, building files. */
#ifndef BBT_TESTS_TOK_TEST_UTIL_H
#define BBT_TESTS_TOK_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tokenizer/tokenizer.h"

#define ASSETS "../shared/assets"
#define TOK512 ASSETS "/models/stories260K/tok512.bin"

static inline tokenizer *open_or_fail(const char *path)
{
    tokenizer *t = NULL;
    char err[512];
    int rc = tokenizer_open(&t, path, err, sizeof err);
    cr_assert_eq(rc, 0, "tokenizer_open(%s): %s", path, err);
    return t;
}

/* Encodes s; returns a malloc'd array and its length in *n. */
static inline int *encode_str(const tokenizer *t, const char *s, int flags, int *n)
{
    int need = tokenizer_encode(t, s, strlen(s), flags, NULL, 0);
    cr_assert_geq(need, 0, "encode \"%s\": %s", s, tokenizer_errmsg(t));
    int *ids = malloc(((size_t)need + 1) * sizeof *ids);
    int got = tokenizer_encode(t, s, strlen(s), flags, ids, need);
    cr_assert_eq(got, need);
    *n = need;
    return ids;
}

/* "1 2 3" for ids */
static inline void ids_to_str(const int *ids, int n, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, i ? " %d" : "%d", ids[i]);
}

/* text encodes to the ids want ("1 2 3") */
static inline void expect_ids(const tokenizer *t, const char *text, int flags, const char *want)
{
    int n, *ids = encode_str(t, text, flags, &n);
    char got[4096];
    ids_to_str(ids, n, got, sizeof got);
    cr_expect_str_eq(got, want, "\"%s\"", text);
    free(ids);
}

/* Reads the lines of a text file (without newlines); returns the count. */
static inline int read_lines(const char *path, char ***lines)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    int n = 0, cap = 16;
    char **v = malloc((size_t)cap * sizeof *v);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (n == cap)
            v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
        v[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *lines = v;
    return n;
}

static inline void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* Writes data to path (a test fixture). */
static inline void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A fresh path under /tmp for a fixture file of this test process. */
static inline const char *tmp_path(const char *name)
{
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "/tmp/bbt_tok_%d_%s", (int)getpid(), name);
    return path[k];
}

static inline void write_str(const char *path, const char *s)
{
    write_file(path, s, strlen(s));
}

#endif
