/* serve.h — `bbt serve`: one local model behind an HTTP API (native BBT routes, vLLM/OpenAI-compatible completions).
 *
 * A server is started from a serve_config, runs on libmicrohttpd's threads (one per connection) and one scoring worker
 * (queue.h) that owns every forward pass, and is stopped with serve_stop, which lets in-flight requests finish. Nothing
 * is printed but the access log. The tests start servers in-process with this API; cmd_serve.c is the command line.
 */
#ifndef BBT_SERVE_H
#define BBT_SERVE_H

#include <stdio.h>

#include "bbt/error.h"

typedef struct serve_config {
    char *model;          /* model directory or file */
    char *host;           /* address to bind ("127.0.0.1") */
    int port;             /* 0: any free port (serve_port tells which) */
    char *api_key;        /* NULL: no key (then only loopback hosts are allowed) */
    char *served_name;    /* the model name of the OpenAI routes; NULL: the model path's last component */
    int threads;          /* forward-pass threads (0: the machine's cores) */
    int f32;              /* 1: f32 compute, else bf16 */
    int max_body_mb;      /* request bodies larger than this are refused (413) */
    int max_batch;        /* candidates (native) or prompts (completions) per request */
    int max_seq;          /* tokens or embedding rows per sequence */
    int max_examples;     /* examples per handle */
    int max_handles;      /* example sets kept; the least recently used goes first */
    int max_merge;        /* sequences the queue merges into one forward batch */
    int max_dim;          /* d of a projection */
    int timeout_s;        /* per-connection inactivity timeout */
    int max_connections;
    FILE *log;            /* access log (NULL: none); not closed by the server */
} serve_config;

/* The defaults (strings NULL: host and model are set by the caller). */
void serve_config_init(serve_config *c);

typedef struct server server;

/* Open the model and start listening. The loopback rule is checked here: a host that is not a loopback address needs
 * an API key. Returns NULL with a message in err. */
server *serve_start(const serve_config *cfg, bbt_error *err);

/* The port actually bound. */
int serve_port(const server *s);

/* Stop accepting, let the requests in flight finish, stop the worker, free everything. */
void serve_stop(server *s);

/* 1 if host names a loopback address (127.0.0.0/8, ::1, "localhost"). */
int serve_host_is_loopback(const char *host);

#endif
