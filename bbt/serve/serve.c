/* serve.c — starting and stopping a server: the model, the stores, the worker, the listener. */
#include <stdlib.h>
#include <string.h>

#include "bbt/projection.h"
#include "bbt/serve/http.h"
#include "bbt/serve/serve_internal.h"
#include "bbt/util.h"

void serve_config_init(serve_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 8000;
    c->max_body_mb = 64;
    c->max_batch = 256;
    c->max_seq = 2048;
    c->max_examples = 1024;
    c->max_handles = 64;
    c->max_merge = 4096;
    c->max_dim = 10000;
    c->timeout_s = 60;
    c->max_connections = 64;
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static char *default_name(const char *model)
{
    size_t n = strlen(model);
    while (n > 1 && model[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && model[start - 1] != '/')
        start--;
    return xstrndup(model + start, n - start);
}

static int open_model(server *s, bbt_error *err)
{
    lm_options o = {0};
    o.threads = s->cfg.threads;
    o.dtype = s->cfg.f32 ? LM_F32 : LM_BF16;
    char msg[512];
    if (lm_open(&s->model, s->cfg.model, &o, msg, sizeof msg) != LM_OK)
        return bbt_fail(err, "%s", msg);
    s->info = lm_get_info(s->model);
    s->emb = lm_embeddings(s->model);
    if (!s->emb)
        return bbt_fail(err, "%s: %s", s->cfg.model, lm_errmsg(s->model));
    s->embedding_std = table_std(s->emb, (long)s->info->vocab * s->info->hidden);
    s->vocab_ids = xmalloc((size_t)s->info->vocab * sizeof *s->vocab_ids);
    s->vocab_labels = xmalloc((size_t)s->info->vocab * sizeof *s->vocab_labels);
    for (int v = 0; v < s->info->vocab; v++) {
        s->vocab_ids[v] = v;
        s->vocab_labels[v] = (lm_label){&s->vocab_ids[v], 1};
    }
    if (row_index_build(&s->rows, s->emb, s->info->vocab, s->info->hidden))
        return bbt_fail(err, "out of memory indexing the embedding table");
    return 0;
}

static void copy_config(serve_config *dst, const serve_config *src)
{
    *dst = *src;
    dst->model = dup_or_null(src->model);
    dst->host = xstrdup(src->host ? src->host : "127.0.0.1");
    dst->api_key = dup_or_null(src->api_key);
    dst->served_name = src->served_name ? xstrdup(src->served_name) : default_name(src->model);
}

server *serve_start(const serve_config *cfg, bbt_error *err)
{
    if (!cfg->model) {
        bbt_fail(err, "no model (--model DIR)");
        return NULL;
    }
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    if (!serve_host_is_loopback(host) && !(cfg->api_key && cfg->api_key[0])) {
        bbt_fail(err, "--host %s is not a loopback address: anyone who can reach it could use the model, so an API "
                      "key is required (--api-key KEY or --api-key-file F)", host);
        return NULL;
    }
    server *s = xcalloc(1, sizeof *s);
    copy_config(&s->cfg, cfg);
    s->name = s->cfg.served_name;
    s->started = time(NULL);
    pthread_mutex_init(&s->lm_lock, NULL);
    pthread_mutex_init(&s->log_lock, NULL);
    metrics_init(&s->metrics);
    handles_init(&s->handles, s->cfg.max_handles);
    projcache_init(&s->projs, 0, 0);
    if (open_model(s, err)) {
        serve_stop(s);
        return NULL;
    }
    s->projs.hidden = s->info->hidden;
    s->projs.embedding_std = s->embedding_std;
    if (queue_start(&s->queue, s->model, &s->lm_lock, s->cfg.max_merge, &s->metrics)) {
        bbt_fail(err, "cannot start the scoring thread");
        serve_stop(s);
        return NULL;
    }
    if (http_start(s, err)) {
        serve_stop(s);
        return NULL;
    }
    return s;
}

int serve_port(const server *s) { return s->port; }

void serve_stop(server *s)
{
    if (!s)
        return;
    http_stop(s);          /* requests in flight finish first: they may still need the queue */
    queue_stop(&s->queue);
    projcache_free(&s->projs);
    handles_free(&s->handles);
    metrics_free(&s->metrics);
    row_index_free(&s->rows);
    free(s->vocab_labels);
    free(s->vocab_ids);
    if (s->model)
        lm_close(s->model);
    pthread_mutex_destroy(&s->lm_lock);
    pthread_mutex_destroy(&s->log_lock);
    free(s->cfg.model);
    free(s->cfg.host);
    free(s->cfg.api_key);
    free(s->cfg.served_name);
    free(s);
}
