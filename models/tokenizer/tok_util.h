/* tok_util.h — helpers shared by every tokenizer file (tok_util.c): growable buffers, error messages, file reads.
 * Not a public header. */
#ifndef BBT_MODELS_TOK_UTIL_H
#define BBT_MODELS_TOK_UTIL_H

#include <stddef.h>

#include "models/tokenizer/tokenizer.h"

/* ---- growable buffers ---- */
typedef struct tok_buf {
    char *p;
    size_t len, cap;
} tok_buf;

typedef struct tok_ids {
    int *p;
    int len, cap;
} tok_ids;

int tok_buf_put(tok_buf *b, const char *s, size_t n);
int tok_buf_putc(tok_buf *b, char c);
int tok_ids_push(tok_ids *v, int id);

/* Message of the last failure into the handle (t->diag, mutable through a const handle); returns code. */
int tok_fail(const tokenizer *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Message into err (when err is not NULL); returns code. */
int tok_errf(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Reads a whole file (common_read_file: NUL-terminated); returns 0, or TOK_ERR_IO / TOK_ERR_NOMEM with the message
 * ("PATH: cannot open: REASON", "PATH: read error", …) in err. */
int tok_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

#endif
