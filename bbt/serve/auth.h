/* auth.h — the API key check: `Authorization: Bearer KEY`, compared in constant time. */
#ifndef BBT_SERVE_AUTH_H
#define BBT_SERVE_AUTH_H

#include <stddef.h>

/* 1 when the header value is "Bearer " followed by exactly key. The comparison takes the same time whatever bytes
 * differ (it depends only on the lengths), so the key cannot be guessed byte by byte from response times. */
int auth_bearer_ok(const char *header, const char *key);

/* Constant-time equality of two byte strings of lengths na and nb. */
int auth_equal(const char *a, size_t na, const char *b, size_t nb);

#endif
