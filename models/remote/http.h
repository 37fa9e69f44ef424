/* http.h — one endpoint over HTTP (libcurl's multi interface): JSON requests with timeouts, retries and cost counters
 * (internal to models/remote/).
 *
 * Requests go out together: rhttp_perform keeps up to max_inflight of them in flight on one libcurl multi handle
 * (connections are kept between calls). A transient failure (no connection, a timeout, a dropped connection, 429,
 * 5xx) is tried again, that request alone, up to `retries` times, after 0.25 s · 2^k with ±50 % jitter (or the
 * server's Retry-After, at most 30 s); the other requests go on meanwhile. Any other answer is returned to the caller
 * as it is, status and body. Nothing is printed. One rhttp is used by one thread at a time.
 */
#ifndef BBT_MODELS_REMOTE_HTTP_H
#define BBT_MODELS_REMOTE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "models/lm.h"

typedef struct rhttp {
    void *multi;           /* CURLM *: every request of this endpoint goes through it */
    void **easy;           /* CURL *[n_easy]: one per request in flight, reused (libcurl keeps their connections) */
    int n_easy;
    char *base;            /* the endpoint URL without a trailing '/' */
    void *headers;         /* struct curl_slist *: content type and the bearer key */
    double timeout_s;
    int retries;
    int max_inflight;      /* requests in flight at once (≥ 1) */
    uint64_t jitter;       /* splitmix state for the backoff's jitter */
    lm_remote_stats *stats;/* counters to add to (owned by the caller) */
    int busy;              /* requests in flight now; network_s counts the time with at least one */
    double busy_since;
} rhttp;

typedef struct rhttp_reply {
    long status;           /* HTTP status; 0 when no answer came */
    char *body;            /* NUL-terminated, malloc'ed (NULL when none) */
    size_t len;
} rhttp_reply;

/* max_inflight: requests in flight at once (0: RHTTP_DEFAULT_INFLIGHT). */
#define RHTTP_DEFAULT_INFLIGHT 8
int rhttp_init(rhttp *h, const char *url, const char *api_key, double timeout_s, int retries, int max_inflight,
               lm_remote_stats *stats, char *err, size_t cap);
void rhttp_free(rhttp *h);

/* One request of a batch: GET (body NULL) or POST of a JSON body to base + path. After rhttp_perform, failed is 0 and
 * reply holds an answer whose status is not transient, or failed is 1 (the last attempt failed) and msg names the
 * endpoint, the route, the status or transport error and the server's error text. reply is the caller's to free
 * (rhttp_reply_free) either way. */
typedef struct rhttp_req {
    const char *path;
    const char *body;
    rhttp_reply reply;
    int failed;
    char msg[512];
    /* rhttp_perform's own state */
    int attempts;
    int state;
    double due;
    int code;              /* the last transfer's CURLcode */
} rhttp_req;

/* Perform n requests, up to h->max_inflight at once, each retried on its own. Returns 0 when every request has an
 * answer, -1 when one failed (see its msg) or memory ran out (then every unfinished request is failed). */
int rhttp_perform(rhttp *h, rhttp_req *reqs, int n);

/* One request (rhttp_perform of one): 0 with the answer, or -1 with msg as above. */
int rhttp_call(rhttp *h, const char *path, const char *body, rhttp_reply *r, char *msg, size_t cap);
void rhttp_reply_free(rhttp_reply *r);

/* The server's error text: error.message of a JSON error body, else the body's first 200 bytes. */
void rhttp_error_text(const rhttp_reply *r, char *out, size_t cap);

#endif
