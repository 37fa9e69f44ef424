/* http.c — libmicrohttpd glue: the route table, request bodies with a size limit, the API key, the access log.
 *
 * libmicrohttpd calls on_request several times per request: first with the headers (limits and the key are checked
 * there, before any body is read), then with pieces of the body (collected up to --max-body-mb; a larger body is
 * read and dropped so that the client gets its 413 instead of a reset), then once more to answer. Each connection has
 * its own thread, which may wait on the scoring queue.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "bbt/serve/auth.h"
#include "bbt/serve/http.h"
#include "bbt/serve/serve_internal.h"

typedef struct route {
    const char *method, *path;
    route_fn fn;
    int open;  /* reachable without the API key */
} route;

static const route routes[] = {
    {"GET", "/health", route_health, 1},
    {"GET", "/bbt/v1/info", route_info, 0},
    {"POST", "/bbt/v1/examples", route_examples, 0},
    {"POST", "/bbt/v1/score", route_score, 0},
    {"POST", "/bbt/v1/layer_std", route_layer_std, 0},
    {"POST", "/v1/completions", route_completions, 0},
    {"GET", "/v1/models", route_models, 0},
    {"POST", "/tokenize", route_tokenize, 0},
    {"POST", "/detokenize", route_detokenize, 0},
    {"GET", "/metrics", route_metrics, 0},
    {NULL, NULL, NULL, 0}
};

/* Per-request state, kept by libmicrohttpd between calls. */
typedef struct req_state {
    const route *rt;
    char *body;
    size_t len, cap;
    int too_big;
    reply early;      /* set when the request is refused before its body is read */
    double t0;
    unsigned long long bytes_in;
} req_state;

static double wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

static const route *find_route(const char *method, const char *path, int *path_known)
{
    *path_known = 0;
    for (const route *r = routes; r->path; r++)
        if (!strcmp(r->path, path)) {
            *path_known = 1;
            if (!strcmp(r->method, method))
                return r;
        }
    return NULL;
}

static void access_log(server *s, const char *method, const char *path, int status, unsigned long long in,
                       unsigned long long out, double ms)
{
    if (!s->cfg.log)
        return;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&s->log_lock);
    fprintf(s->cfg.log, "%s %s %s %d in=%llu out=%llu %.1fms\n", when, method, path, status, in, out, ms);
    fflush(s->cfg.log);
    pthread_mutex_unlock(&s->log_lock);
}

static enum MHD_Result send_reply(server *s, struct MHD_Connection *c, const char *method, const char *url,
                                  req_state *st, reply *rp)
{
    if (!rp->body)
        reply_error(rp, 500, "internal error: the route gave no answer");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(rp->len, rp->body, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    rp->body = NULL; /* the response owns it now */
    MHD_add_response_header(resp, "Content-Type", rp->content_type ? rp->content_type : "application/json");
    if (rp->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rp->status, resp);
    MHD_destroy_response(resp);
    const char *label = st->rt ? st->rt->path : "other";
    metrics_request(&s->metrics, label, rp->status, st->bytes_in, rp->len);
    access_log(s, method, url, rp->status, st->bytes_in, rp->len, wall_ms() - st->t0);
    return ok;
}

/* Checks made on the headers alone: route, method, key, declared body size. Fills st->early on refusal. */
static void check_headers(server *s, struct MHD_Connection *c, const char *method, const char *url, req_state *st)
{
    int known;
    st->rt = find_route(method, url, &known);
    if (!st->rt) {
        if (known)
            reply_error(&st->early, 405, "%s does not take %s", url, method);
        else
            reply_error(&st->early, 404, "no route %s %s", method, url);
        return;
    }
    if (s->cfg.api_key && !st->rt->open &&
        !auth_bearer_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"), s->cfg.api_key)) {
        reply_error(&st->early, 401, "missing or wrong API key (send the header Authorization: Bearer KEY)");
        return;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long limit = (unsigned long long)s->cfg.max_body_mb << 20;
    if (cl && strtoull(cl, NULL, 10) > limit)
        reply_error(&st->early, 413, "the body has %s bytes; the limit (--max-body-mb) is %d MiB", cl,
                    s->cfg.max_body_mb);
}

static void take_body(server *s, req_state *st, const char *data, size_t n)
{
    st->bytes_in += n;
    size_t limit = (size_t)s->cfg.max_body_mb << 20;
    if (st->too_big || st->len + n > limit) {
        st->too_big = 1;
        return;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = (st->len + n + 1) * 2;
        if (cap > limit + 1)
            cap = limit + 1;
        char *p = realloc(st->body, cap);
        if (!p) {
            st->too_big = 1;
            return;
        }
        st->body = p;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    req_state *st = *con_cls;
    if (!st) { /* headers only */
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        st->t0 = wall_ms();
        check_headers(s, c, method, url, st);
        *con_cls = st;
        if (!st->early.body)
            return MHD_YES;
        /* Refused on its headers: answer now, so that a large or unauthorised body is never read (libmicrohttpd
         * then closes the connection instead of waiting for the upload). */
        reply rp = st->early;
        st->early.body = NULL;
        enum MHD_Result ok = send_reply(s, c, method, url, st, &rp);
        free(rp.body);
        return ok;
    }
    if (*upload_size) {
        if (!st->early.body)
            take_body(s, st, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    reply rp = {0};
    if (st->early.body) {
        rp = st->early;
        st->early.body = NULL;
    } else if (st->too_big) {
        reply_error(&rp, 413, "the body is larger than the limit (--max-body-mb %d MiB)", s->cfg.max_body_mb);
    } else {
        request rq = {c, method, url, st->body ? st->body : "", st->len};
        st->rt->fn(s, &rq, &rp);
    }
    enum MHD_Result ok = send_reply(s, c, method, url, st, &rp);
    free(rp.body);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    req_state *st = *con_cls;
    if (!st)
        return;
    free(st->body);
    free(st->early.body);
    free(st);
    *con_cls = NULL;
}

int http_start(server *s, bbt_error *err)
{
    struct sockaddr_in a4 = {0};
    struct sockaddr_in6 a6 = {0};
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    const char *host = !strcmp(s->cfg.host, "localhost") ? "127.0.0.1" : s->cfg.host;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->cfg.port);
        addr = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->cfg.port);
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return bbt_fail(err, "--host %s: not a numeric IPv4 or IPv6 address (or localhost)", s->cfg.host);
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_END);
    if (!s->daemon)
        return bbt_fail(err, "cannot listen on %s port %d (in use, or not an address of this machine)", s->cfg.host,
                        s->cfg.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    return 0;
}

void http_stop(server *s)
{
    if (!s->daemon)
        return;
    MHD_socket listen_fd = MHD_quiesce_daemon(s->daemon); /* no new connections; the ones in flight are answered */
    MHD_stop_daemon(s->daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    s->daemon = NULL;
}
