/* serve_internal.h — the server's state and the route interface, shared by the files of bbt/serve/. */
#ifndef BBT_SERVE_INTERNAL_H
#define BBT_SERVE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "bbt/serve/handles.h"
#include "bbt/serve/projcache.h"
#include "bbt/serve/queue.h"
#include "bbt/serve/serve.h"
#include "bbt/serve/serve_metrics.h"
#include "models/lm.h"

struct MHD_Daemon;
struct MHD_Connection;

/* The model's input embedding rows, indexed for exact lookup (a prompt_embeds row equal to a token's row is that token). */
typedef struct row_index {
    int *slots;      /* open addressing: token id + 1, 0 = empty */
    size_t mask;
} row_index;

struct server {
    serve_config cfg;          /* strings owned */
    char *name;                /* served model name */
    lm *model;
    const lm_info *info;
    const float *emb;          /* vocab × hidden */
    double embedding_std;
    pthread_mutex_t lm_lock;   /* every direct call on the model (tokenize, logits); the worker takes it to score */
    lm_label *vocab_labels;    /* every token as a one-token label: completions read whole distributions */
    int *vocab_ids;
    row_index rows;
    handle_store handles;
    proj_cache projs;
    score_queue queue;
    serve_metrics metrics;
    pthread_mutex_t log_lock;
    struct MHD_Daemon *daemon;
    int port;
    time_t started;
};

/* One request as a route sees it. */
typedef struct request {
    struct MHD_Connection *conn;
    const char *method, *path;
    const char *body;          /* NUL-terminated */
    size_t len;
} request;

/* What a route answers: a status and a malloc'ed body. */
typedef struct reply {
    int status;
    char *body;
    size_t len;
    const char *content_type;  /* NULL: application/json */
} reply;

typedef void (*route_fn)(server *s, const request *rq, reply *rp);

/* Replies (reply.c). Errors use vLLM's body: {"error": {"message", "type", "param", "code"}}. */
void reply_json(reply *rp, int status, struct cJSON *body);   /* takes and frees body */
/* 200 with body, which gets "bytes_out": its own size in bytes (the native routes report their traffic). */
void reply_json_sized(reply *rp, struct cJSON *body);
void reply_error(reply *rp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void reply_text(reply *rp, int status, char *text, const char *content_type); /* takes text */

/* The request body as a JSON object, or NULL after an error reply. */
struct cJSON *request_json(const request *rq, reply *rp);

/* A query-string argument, or NULL. */
const char *request_arg(const request *rq, const char *name);

/* Routes. */
void route_health(server *s, const request *rq, reply *rp);
void route_info(server *s, const request *rq, reply *rp);
void route_metrics(server *s, const request *rq, reply *rp);
void route_models(server *s, const request *rq, reply *rp);
void route_examples(server *s, const request *rq, reply *rp);
void route_score(server *s, const request *rq, reply *rp);
void route_layer_std(server *s, const request *rq, reply *rp);
void route_completions(server *s, const request *rq, reply *rp);
void route_tokenize(server *s, const request *rq, reply *rp);
void route_detokenize(server *s, const request *rq, reply *rp);

/* The token whose embedding row equals row exactly, or -1 (row_index.c). */
int row_index_build(row_index *ri, const float *emb, int vocab, int hidden);
int row_index_find(const row_index *ri, const float *emb, int hidden, const float *row);
void row_index_free(row_index *ri);

#endif
