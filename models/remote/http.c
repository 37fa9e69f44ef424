/* http.c — libcurl requests to one endpoint, several in flight together (the multi interface): timeouts, retries with
 * backoff and jitter per request, byte and time counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/bytes.h"
#include "models/remote/http.h"

#define MAX_WAIT_S 30.0

enum { R_NEW, R_ACTIVE, R_WAITING, R_DONE };

static double wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int rhttp_init(rhttp *h, const char *url, const char *api_key, double timeout_s, int retries, int max_inflight,
               lm_remote_stats *stats, char *err, size_t cap)
{
    memset(h, 0, sizeof *h);
    h->timeout_s = timeout_s > 0 ? timeout_s : 120;
    h->retries = retries == 0 ? 3 : retries < 0 ? 0 : retries;
    h->max_inflight = max_inflight > 0 ? max_inflight : RHTTP_DEFAULT_INFLIGHT;
    h->stats = stats;
    h->jitter = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)h;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    h->base = malloc(n + 1);
    h->multi = curl_multi_init();
    if (!h->base || !h->multi) {
        snprintf(err, cap, "%s: cannot set up an HTTP client (out of memory)", url);
        rhttp_free(h);
        return LM_ENOMEM;
    }
    memcpy(h->base, url, n);
    h->base[n] = 0;
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip (or its one-second wait) before each body */
    if (api_key && *api_key) {
        size_t hl = strlen(api_key) + 32;
        char *line = malloc(hl);
        if (line) {
            snprintf(line, hl, "Authorization: Bearer %s", api_key);
            l = curl_slist_append(l, line);
            free(line);
        }
    }
    h->headers = l;
    return LM_OK;
}

void rhttp_free(rhttp *h)
{
    for (int i = 0; i < h->n_easy; i++)
        curl_easy_cleanup(h->easy[i]);
    free(h->easy);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->headers);
    free(h->base);
    memset(h, 0, sizeof *h);
}

void rhttp_reply_free(rhttp_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    rhttp_reply *r = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(r->body, r->len + n + 1);
    if (!grown)
        return 0; /* libcurl reports a write error */
    memcpy(grown + r->len, data, n);
    r->len += n;
    grown[r->len] = 0;
    r->body = grown;
    return n;
}

void rhttp_error_text(const rhttp_reply *r, char *out, size_t cap)
{
    out[0] = 0;
    if (!r->body)
        return;
    cJSON *root = cJSON_Parse(r->body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (cJSON_IsString(m))
        snprintf(out, cap, "%s", m->valuestring);
    else
        snprintf(out, cap, "%.200s", r->body);
    cJSON_Delete(root);
}

static int transient(long status) { return status == 0 || status == 429 || status >= 500; }

/* ---- one batch of requests: its state between the multi handle's turns ---- */

typedef struct batch {
    rhttp *h;
    rhttp_req *reqs;
    int n;
    char **urls;     /* base + path of each request */
    CURL **slot_of;  /* the easy handle request i holds while active (NULL otherwise) */
    int active, done;
} batch;

/* A free easy handle of h's pool (grown to max_inflight at most), or NULL. */
static CURL *take_easy(batch *bt)
{
    rhttp *h = bt->h;
    for (int i = 0; i < h->n_easy; i++) {
        int used = 0;
        for (int r = 0; r < bt->n && !used; r++)
            used = bt->slot_of[r] == h->easy[i];
        if (!used)
            return h->easy[i];
    }
    void **grown = realloc(h->easy, (size_t)(h->n_easy + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    h->easy = grown;
    CURL *c = curl_easy_init();
    if (c)
        h->easy[h->n_easy++] = c;
    return c;
}

/* Start request i's next attempt. Returns 0, or -1 when no handle could be set up (out of memory). */
static int start(batch *bt, int i)
{
    rhttp *h = bt->h;
    rhttp_req *q = &bt->reqs[i];
    CURL *c = take_easy(bt);
    if (!c)
        return -1;
    curl_easy_reset(c);
    rhttp_reply_free(&q->reply);
    curl_easy_setopt(c, CURLOPT_URL, bt->urls[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)h->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(h->timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)((h->timeout_s < 10 ? h->timeout_s : 10) * 1000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &q->reply);
    curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)q);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->body));
    }
    if (curl_multi_add_handle(h->multi, c) != CURLM_OK)
        return -1;
    if (h->busy++ == 0)
        h->busy_since = wall_seconds();
    bt->slot_of[i] = c;
    q->state = R_ACTIVE;
    q->attempts++;
    bt->active++;
    return 0;
}

/* How long to wait before attempt k + 1 (k ≥ 1 attempts made): exponential with ±50 % jitter, so that clients that
 * failed together do not come back together, or the server's Retry-After; at most MAX_WAIT_S. */
static double backoff_s(rhttp *h, int k, double retry_after)
{
    int e = k - 1 < 10 ? k - 1 : 10;
    double wait = 0.25 * (double)(1u << e);
    double u = (double)(common_splitmix64(&h->jitter) >> 11) / 9007199254740992.0;
    wait *= 0.5 + u;
    if (retry_after >= 0)
        wait = retry_after;
    return wait > MAX_WAIT_S ? MAX_WAIT_S : wait;
}

static void fail_msg(rhttp *h, rhttp_req *q)
{
    const char *verb = q->body ? "POST" : "GET";
    if (q->reply.status == 0) {
        snprintf(q->msg, sizeof q->msg, "%s: %s %s failed after %d attempt%s: %s", h->base, verb, q->path, q->attempts,
                 q->attempts > 1 ? "s" : "", curl_easy_strerror((CURLcode)q->code));
    } else {
        char text[256];
        rhttp_error_text(&q->reply, text, sizeof text);
        snprintf(q->msg, sizeof q->msg, "%s: %s %s answered %ld after %d attempt%s: %s", h->base, verb, q->path,
                 q->reply.status, q->attempts, q->attempts > 1 ? "s" : "", text);
    }
    q->failed = 1;
}

/* A transfer ended: count it, then the request is done, or waits for its next attempt. */
static void finish(batch *bt, CURL *c, CURLcode cc)
{
    rhttp *h = bt->h;
    char *priv = NULL;
    curl_easy_getinfo(c, CURLINFO_PRIVATE, &priv);
    rhttp_req *q = (rhttp_req *)(void *)priv;
    curl_multi_remove_handle(h->multi, c);
    bt->slot_of[q - bt->reqs] = NULL;
    bt->active--;
    double now = wall_seconds();
    if (--h->busy == 0)
        h->stats->network_s += now - h->busy_since;
    h->stats->calls++;
    h->stats->bytes_up += q->body ? (long long)strlen(q->body) : 0;
    h->stats->bytes_down += (long long)q->reply.len;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->reply.status);
    curl_off_t ra = -1;
    double retry_after = curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0 ? (double)ra : -1;
    /* Every answer we ask for has a JSON body, so a success with none is a connection cut before the answer: libcurl
     * reports a status line followed by a close, or headers with no length followed by a close, as a 2xx with an
     * empty body. Retry it like a dropped connection. */
    if (cc == CURLE_OK && q->reply.status / 100 == 2 && q->reply.len == 0)
        cc = CURLE_GOT_NOTHING;
    q->code = (int)cc;
    if (cc != CURLE_OK)
        q->reply.status = 0;
    if (transient(q->reply.status) && q->attempts <= h->retries) {
        h->stats->retries++;
        q->state = R_WAITING;
        q->due = now + backoff_s(h, q->attempts, retry_after);
        return;
    }
    if (transient(q->reply.status))
        fail_msg(h, q);
    q->state = R_DONE;
    bt->done++;
}

/* Start what may start now: requests whose retry is due first (they were sent first), then new ones in order.
 * Returns -1 when a handle could not be set up. */
static int start_ready(batch *bt, double now)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < bt->n && bt->active < bt->h->max_inflight; i++) {
            rhttp_req *q = &bt->reqs[i];
            if ((pass == 0 && q->state == R_WAITING && q->due <= now) || (pass == 1 && q->state == R_NEW))
                if (start(bt, i))
                    return -1;
        }
    return 0;
}

/* Milliseconds until the next event: none when a request may start now (a transfer just ended and freed its place:
 * no socket would wake the poll for it), else a due retry, or libcurl's own timer (capped, as a transfer may end
 * sooner). */
static int wait_ms(const batch *bt, double now)
{
    double ms = 1000;
    for (int i = 0; i < bt->n; i++) {
        const rhttp_req *q = &bt->reqs[i];
        if (bt->active < bt->h->max_inflight && (q->state == R_NEW || (q->state == R_WAITING && q->due <= now)))
            return 0;
        if (q->state == R_WAITING && (q->due - now) * 1e3 < ms)
            ms = (q->due - now) * 1e3;
    }
    long t = -1;
    if (bt->active && curl_multi_timeout(bt->h->multi, &t) == CURLM_OK && t >= 0 && (double)t < ms)
        ms = (double)t;
    return ms < 0 ? 0 : (int)ms + (ms > (int)ms);
}

/* Every request still unfinished fails (no memory for a handle, or the multi handle broke). */
static void abandon(batch *bt, const char *why)
{
    rhttp *h = bt->h;
    for (int i = 0; i < bt->n; i++) {
        rhttp_req *q = &bt->reqs[i];
        if (q->state == R_DONE)
            continue;
        if (bt->slot_of[i]) {
            curl_multi_remove_handle(h->multi, bt->slot_of[i]);
            bt->slot_of[i] = NULL;
            if (--h->busy == 0)
                h->stats->network_s += wall_seconds() - h->busy_since;
        }
        snprintf(q->msg, sizeof q->msg, "%s: %s %s: %s", h->base, q->body ? "POST" : "GET", q->path, why);
        q->failed = 1;
        q->state = R_DONE;
    }
    bt->active = 0;
    bt->done = bt->n;
}

static int run(batch *bt)
{
    rhttp *h = bt->h;
    while (bt->done < bt->n) {
        if (start_ready(bt, wall_seconds()))
            return abandon(bt, "cannot set up a transfer (out of memory)"), -1;
        int running;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
            return abandon(bt, "libcurl's multi handle failed"), -1;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(h->multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                finish(bt, msg->easy_handle, msg->data.result);
        int ms = bt->done < bt->n ? wait_ms(bt, wall_seconds()) : 0;
        if (ms > 0 && curl_multi_poll(h->multi, NULL, 0, ms, NULL) != CURLM_OK)
            return abandon(bt, "libcurl's multi handle failed"), -1;
    }
    return 0;
}

int rhttp_perform(rhttp *h, rhttp_req *reqs, int n)
{
    batch bt = {h, reqs, n, calloc((size_t)n + 1, sizeof *bt.urls), calloc((size_t)n + 1, sizeof *bt.slot_of), 0, 0};
    for (int i = 0; i < n; i++) {
        memset(&reqs[i].reply, 0, sizeof reqs[i].reply);
        reqs[i].failed = reqs[i].attempts = reqs[i].code = 0;
        reqs[i].state = R_NEW;
        reqs[i].msg[0] = 0;
    }
    int oom = !bt.urls || !bt.slot_of;
    for (int i = 0; i < n && !oom; i++) {
        size_t ul = strlen(h->base) + strlen(reqs[i].path) + 1;
        if (!(bt.urls[i] = malloc(ul)))
            oom = 1;
        else
            snprintf(bt.urls[i], ul, "%s%s", h->base, reqs[i].path);
    }
    for (int i = 0; i < n && oom; i++) { /* nothing was sent */
        snprintf(reqs[i].msg, sizeof reqs[i].msg, "%s: %s: out of memory", h->base, reqs[i].path);
        reqs[i].failed = 1;
    }
    int rc = oom ? -1 : run(&bt);
    for (int i = 0; i < n && !rc; i++)
        rc = reqs[i].failed ? -1 : 0;
    for (int i = 0; bt.urls && i < n; i++)
        free(bt.urls[i]);
    free(bt.urls);
    free(bt.slot_of);
    return rc;
}

int rhttp_call(rhttp *h, const char *path, const char *body, rhttp_reply *r, char *msg, size_t cap)
{
    rhttp_req q = {.path = path, .body = body};
    int rc = rhttp_perform(h, &q, 1);
    *r = q.reply;
    if (rc)
        snprintf(msg, cap, "%s", q.msg);
    return rc;
}
