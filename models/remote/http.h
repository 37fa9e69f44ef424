/* http.h — one endpoint over HTTP (libcurl): JSON requests with timeouts, retries and cost counters (internal to
 * models/remote/).
 *
 * A transient failure (no connection, a timeout, a dropped connection, 429, 5xx) is tried again up to `retries`
 * times, waiting 0.25 s · 2^k with ±50 % jitter (or the server's Retry-After, at most 30 s); any other answer is
 * returned to the caller as it is, status and body. Nothing is printed.
 */
#ifndef BBT_MODELS_REMOTE_HTTP_H
#define BBT_MODELS_REMOTE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "models/lm.h"

typedef struct rhttp {
    void *curl;            /* CURL * */
    char *base;            /* the endpoint URL without a trailing '/' */
    void *headers;         /* struct curl_slist *: content type and the bearer key */
    double timeout_s;
    int retries;
    uint64_t jitter;       /* splitmix state for the backoff's jitter */
    lm_remote_stats *stats;/* counters to add to (owned by the caller) */
} rhttp;

typedef struct rhttp_reply {
    long status;           /* HTTP status; 0 when no answer came */
    char *body;            /* NUL-terminated, malloc'ed (NULL when none) */
    size_t len;
} rhttp_reply;

int rhttp_init(rhttp *h, const char *url, const char *api_key, double timeout_s, int retries, lm_remote_stats *stats,
               char *err, size_t cap);
void rhttp_free(rhttp *h);

/* GET (body NULL) or POST a JSON body to base + path. Returns 0 with an answer whose status is not transient, or -1
 * after the last attempt with msg naming the endpoint, the route, the status or transport error and the server's
 * error text. The reply is the caller's to free (rhttp_reply_free) either way. */
int rhttp_call(rhttp *h, const char *path, const char *body, rhttp_reply *r, char *msg, size_t cap);
void rhttp_reply_free(rhttp_reply *r);

/* The server's error text: error.message of a JSON error body, else the body's first 200 bytes. */
void rhttp_error_text(const rhttp_reply *r, char *out, size_t cap);

#endif
