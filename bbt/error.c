/* error.c — formatting of bbt_error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bbt/error.h"

int bbt_fail(bbt_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int bbt_prefix(bbt_error *err, const char *fmt, ...)
{
    if (err) {
        char prefix[512], rest[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(rest, err->msg, sizeof rest);
        size_t a = strnlen(prefix, sizeof prefix), b = strnlen(rest, sizeof rest - 1);
        if (a + b >= sizeof err->msg)
            b = sizeof err->msg - 1 - a; /* keep the prefix whole; cut the tail of the old message */
        memcpy(err->msg, prefix, a);
        memcpy(err->msg + a, rest, b);
        err->msg[a + b] = 0;
    }
    return -1;
}
