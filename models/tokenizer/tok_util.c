/* tok_util.c — the small helpers every tokenizer file shares (see tok_util.h): growable buffers, error messages,
 * whole-file reads. A leaf of the tokenizer: it calls no other tok_* file, so the front file (tokenizer.c) and the
 * loaders and stages depend on it and never on each other in a circle. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/files.h"
#include "models/tokenizer/tok_internal.h"


int tok_buf_put(tok_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int tok_buf_putc(tok_buf *b, char c)
{
    return tok_buf_put(b, &c, 1);
}

int tok_ids_push(tok_ids *v, int id)
{
    if (v->len == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        int *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->len++] = id;
    return 0;
}

int tok_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int tok_fail(const tokenizer *t, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->diag, TOK_DIAG_LEN, fmt, ap);
    va_end(ap);
    return code;
}

int tok_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    if (common_read_file(path, data, len, err, errlen))
        return errno == ENOMEM ? TOK_ERR_NOMEM : TOK_ERR_IO;
    return 0;
}
