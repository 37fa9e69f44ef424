/* util.h — small helpers the bbt/ modules share: allocation that cannot return NULL, whole-file reading, atomic writes.
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

/* Read a whole file into a NUL-terminated buffer (caller frees); *len gets its length. NULL with a message on failure. */
char *read_file(const char *path, size_t *len, bbt_error *err);

/* Read a file that must hold one JSON object; `what` names what it should be, for the message
 * ("a task definition"). NULL with a message on failure. Caller frees with cJSON_Delete. */
struct cJSON *read_json_object(const char *path, const char *what, bbt_error *err);

/* A JSON value as text for a file: pretty-printed, ending in a newline; malloc'ed (caller frees). */
char *json_text(const struct cJSON *v);

/* Write data to path atomically: a temporary file beside it, fsync, rename, fsync of the directory. A reader sees the
 * old file or the new one, never a mix, even after a crash. */
int write_file_atomic(const char *path, const void *data, size_t len, bbt_error *err);

/* path = dir + "/" + name, in a fresh buffer. */
char *path_join(const char *dir, const char *name);

/* Create a directory and any missing parents (as mkdir -p), and check that files can be written in it. An error names
 * the part that is a file or cannot be made. */
int make_dirs(const char *dir, bbt_error *err);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
int utf8_valid(const char *s, size_t n);

/* Seconds on a monotonic clock. */
double now_seconds(void);

#endif
