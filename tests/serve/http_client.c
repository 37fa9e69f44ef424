/* http_client.c — see http_client.h. */
#include "tests/serve/http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    http_result *r = arg;
    size_t add = size * n;
    char *p = realloc(r->body, r->len + add + 1);
    if (!p)
        return 0;
    r->body = p;
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

http_result http_call(int port, const char *path, const char *body, size_t body_len, const char *auth)
{
    http_result r = {0, calloc(1, 1), 0};
    CURL *c = curl_easy_init();
    if (!c)
        return r;
    char url[512], header[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth) {
        snprintf(header, sizeof header, "Authorization: Bearer %s", auth);
        h = curl_slist_append(h, header);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

void http_result_free(http_result *r)
{
    free(r->body);
    r->body = NULL;
}
