/* http_client.h — a small libcurl client for the serve tests and benchmark: one call, status and body back. */
#ifndef BBT_TESTS_SERVE_HTTP_CLIENT_H
#define BBT_TESTS_SERVE_HTTP_CLIENT_H

#include <stddef.h>

typedef struct http_result {
    long status;     /* 0 when the request failed at the transport level */
    char *body;      /* NUL-terminated, malloc'ed */
    size_t len;
} http_result;

/* GET when body is NULL, else POST it as application/json. auth: a Bearer key or NULL. */
http_result http_call(int port, const char *path, const char *body, size_t body_len, const char *auth);
void http_result_free(http_result *r);

#endif
