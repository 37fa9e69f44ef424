/* util.h — small helpers the bbt/ modules share: allocation that cannot return NULL, UTF-8 checking, the clock
 * (files: bbt/files.h).
 *
 * Out of memory in the tuner is not recoverable in any useful way (the checkpoint on disk is the user's safety net), so
 * the x* allocators print one line and abort instead of threading NULL checks through every caller.
 */
#ifndef BBT_UTIL_H
#define BBT_UTIL_H

#include <stddef.h>

#include "bbt/error.h"

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
int utf8_valid(const char *s, size_t n);

/* Seconds on a monotonic clock. */
double now_seconds(void);

#endif
