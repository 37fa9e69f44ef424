/* http.c — libcurl requests to one endpoint: timeouts, retries with backoff and jitter, byte and time counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/bytes.h"
#include "models/remote/http.h"

#define MAX_WAIT_S 30.0

static double wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int rhttp_init(rhttp *h, const char *url, const char *api_key, double timeout_s, int retries, lm_remote_stats *stats,
               char *err, size_t cap)
{
    memset(h, 0, sizeof *h);
    h->timeout_s = timeout_s > 0 ? timeout_s : 120;
    h->retries = retries == 0 ? 3 : retries < 0 ? 0 : retries;
    h->stats = stats;
    h->jitter = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)h;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    h->base = malloc(n + 1);
    h->curl = curl_easy_init();
    if (!h->base || !h->curl) {
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
    if (h->curl)
        curl_easy_cleanup(h->curl);
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

/* One attempt. Returns the curl code; r holds status and body. */
static CURLcode attempt(rhttp *h, const char *url, const char *body, rhttp_reply *r, double *retry_after)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    rhttp_reply_free(r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)h->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(h->timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)((h->timeout_s < 10 ? h->timeout_s : 10) * 1000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    double t0 = wall_seconds();
    CURLcode cc = curl_easy_perform(c);
    h->stats->network_s += wall_seconds() - t0;
    h->stats->calls++;
    h->stats->bytes_up += body ? (long long)strlen(body) : 0;
    h->stats->bytes_down += (long long)r->len;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_off_t ra = -1;
    *retry_after = curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0 ? (double)ra : -1;
    if (cc != CURLE_OK)
        r->status = 0;
    return cc;
}

static int transient(long status) { return status == 0 || status == 429 || status >= 500; }

static void backoff(rhttp *h, int k, double retry_after)
{
    double wait = 0.25 * (double)(1u << (k < 10 ? k : 10));
    double u = (double)(common_splitmix64(&h->jitter) >> 11) / 9007199254740992.0;
    wait *= 0.5 + u; /* ±50 %: clients that failed together do not come back together */
    if (retry_after >= 0)
        wait = retry_after;
    if (wait > MAX_WAIT_S)
        wait = MAX_WAIT_S;
    struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
}

int rhttp_call(rhttp *h, const char *path, const char *body, rhttp_reply *r, char *msg, size_t cap)
{
    size_t ul = strlen(h->base) + strlen(path) + 1;
    char *url = malloc(ul);
    if (!url)
        return snprintf(msg, cap, "out of memory"), -1;
    snprintf(url, ul, "%s%s", h->base, path);
    memset(r, 0, sizeof *r);
    CURLcode cc = CURLE_OK;
    for (int k = 0;; k++) {
        double retry_after;
        cc = attempt(h, url, body, r, &retry_after);
        if (!transient(r->status) || k >= h->retries)
            break;
        h->stats->retries++;
        backoff(h, k, retry_after);
    }
    int rc = 0;
    if (transient(r->status)) {
        char text[256];
        rhttp_error_text(r, text, sizeof text);
        if (r->status == 0)
            snprintf(msg, cap, "%s: %s %s failed after %d attempt%s: %s", h->base, body ? "POST" : "GET", path,
                     h->retries + 1, h->retries ? "s" : "", curl_easy_strerror(cc));
        else
            snprintf(msg, cap, "%s: %s %s answered %ld after %d attempt%s: %s", h->base, body ? "POST" : "GET", path,
                     r->status, h->retries + 1, h->retries ? "s" : "", text);
        rc = -1;
    }
    free(url);
    return rc;
}
