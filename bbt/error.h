/* error.h — how bbt/ reports failures.
 *
 * Functions that can fail take a `bbt_error *` and return 0 or -1. The message says what is wrong and where (file, line,
 * field, value), so the command line can print it as it is. Nothing in bbt/ except the cmd_* functions prints.
 */
#ifndef BBT_ERROR_H
#define BBT_ERROR_H

#include <stddef.h>

typedef struct bbt_error {
    char msg[1024];
} bbt_error;

/* Write a printf-style message into err (if not NULL) and return -1, so callers can `return bbt_fail(err, …);`. */
int bbt_fail(bbt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put a printf-style prefix in front of the message already in err ("FILE: " + "line 3: bad label"); returns -1. */
int bbt_prefix(bbt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
