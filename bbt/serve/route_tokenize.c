/* route_tokenize.c — vLLM's POST /tokenize {"model", "prompt", "add_special_tokens"} → {"count", "max_model_len",
 * "tokens"} and POST /detokenize {"model", "tokens"} → {"prompt"}, with the model's own tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/serve/jsonin.h"
#include "bbt/serve/serve_internal.h"
#include "bbt/util.h"

static int wrong_model(server *s, const cJSON *root, reply *rp)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (m && !cJSON_IsNull(m) && (!cJSON_IsString(m) || strcmp(m->valuestring, s->name))) {
        reply_error(rp, 404, "The model `%.200s` does not exist (this server serves `%s`).",
                    cJSON_IsString(m) ? m->valuestring : "?", s->name);
        return 1;
    }
    return 0;
}

static void tokenize(server *s, const char *text, int special, reply *rp)
{
    size_t len = strlen(text);
    if (len > ((size_t)s->cfg.max_seq << 6)) {
        reply_error(rp, 400, "\"prompt\" has %zu bytes (at most %zu: 64 per token of --max-seq %d)", len,
                    (size_t)s->cfg.max_seq << 6, s->cfg.max_seq);
        return;
    }
    if (!utf8_valid(text, len)) {
        reply_error(rp, 400, "\"prompt\" is not valid UTF-8");
        return;
    }
    int cap = 256;
    int *ids = xmalloc((size_t)cap * sizeof *ids);
    char err[512] = "";
    pthread_mutex_lock(&s->lm_lock);
    int n = lm_tokenize(s->model, text, len, special ? LM_TOK_SPECIAL : 0, ids, cap);
    if (n > cap) {
        ids = xrealloc(ids, (size_t)n * sizeof *ids);
        n = lm_tokenize(s->model, text, len, special ? LM_TOK_SPECIAL : 0, ids, n);
    }
    if (n < 0)
        snprintf(err, sizeof err, "%s", lm_errmsg(s->model));
    pthread_mutex_unlock(&s->lm_lock);
    if (n < 0) {
        reply_error(rp, 400, "cannot tokenize \"prompt\": %s", err);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "count", n);
        cJSON_AddNumberToObject(o, "max_model_len", s->info->max_pos);
        cJSON *t = cJSON_AddArrayToObject(o, "tokens");
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(t, cJSON_CreateNumber(ids[i]));
        reply_json(rp, 200, o);
    }
    free(ids);
}

void route_tokenize(server *s, const request *rq, reply *rp)
{
    cJSON *root = request_json(rq, rp);
    if (!root || wrong_model(s, root, rp)) {
        cJSON_Delete(root);
        return;
    }
    char msg[JSONIN_MSG];
    const char *text = NULL;
    int special = 1;
    int got = json_get_string(root, "prompt", &text, msg);
    if (got < 0 || json_get_bool(root, "add_special_tokens", &special, msg) < 0)
        reply_error(rp, 400, "%s", msg);
    else if (got == 1)
        reply_error(rp, 400, "field \"prompt\" (a string) is required");
    else
        tokenize(s, text, special, rp);
    cJSON_Delete(root);
}

void route_detokenize(server *s, const request *rq, reply *rp)
{
    cJSON *root = request_json(rq, rp);
    if (!root || wrong_model(s, root, rp)) {
        cJSON_Delete(root);
        return;
    }
    char msg[JSONIN_MSG];
    int *ids = NULL, n = 0;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    if (json_int_array(tokens, "field \"tokens\"", 0, s->info->vocab - 1, s->cfg.max_seq, &ids, &n, msg)) {
        reply_error(rp, 400, "%s", msg);
    } else {
        size_t cap = 256 + (size_t)n * 16;
        char *text = xmalloc(cap);
        pthread_mutex_lock(&s->lm_lock);
        int len = lm_detokenize(s->model, ids, n, text, cap);
        if (len >= (int)cap) {
            cap = (size_t)len + 1;
            text = xrealloc(text, cap);
            len = lm_detokenize(s->model, ids, n, text, cap);
        }
        if (len < 0)
            snprintf(msg, sizeof msg, "%s", lm_errmsg(s->model));
        pthread_mutex_unlock(&s->lm_lock);
        if (len < 0) {
            reply_error(rp, 400, "cannot detokenize: %s", msg);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "prompt", text);
            reply_json(rp, 200, o);
        }
        free(text);
    }
    free(ids);
    cJSON_Delete(root);
}
