/* route_info.c — GET /health, /bbt/v1/info, /metrics and /v1/models: what the model is, and how the server is doing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/encode.h"
#include "common/base64.h"
#include "bbt/serve/serve_internal.h"

#define INFO_MAX_ROWS 4096

void route_health(server *s, const request *rq, reply *rp)
{
    (void)s, (void)rq;
    reply_text(rp, 200, strdup("{\"status\":\"ok\"}"), NULL);
}

static void add_specials(cJSON *o, const lm_info *in)
{
    cJSON *sp = cJSON_AddObjectToObject(o, "special_tokens");
    const struct {
        const char *name;
        int id;
    } t[] = {{"bos", in->bos}, {"eos", in->eos}, {"pad", in->pad}, {"unk", in->unk},
             {"mask", in->mask}, {"cls", in->cls}, {"sep", in->sep}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cJSON_AddNumberToObject(sp, t[i].name, t[i].id);
}

/* Rows of the embedding table as base64 little-endian f32 (the machine is little-endian: checked in serve.c). */
static int add_rows(server *s, cJSON *o, const int *ids, int n)
{
    size_t h = (size_t)s->info->hidden;
    float *rows = malloc((size_t)n * h * sizeof *rows + 1);
    if (!rows)
        return -1;
    for (int i = 0; i < n; i++)
        memcpy(rows + (size_t)i * h, s->emb + (size_t)ids[i] * h, h * sizeof *rows);
    char *b64 = common_b64_encode(rows, (size_t)n * h * sizeof *rows);
    free(rows);
    if (!b64)
        return -1;
    cJSON *ia = cJSON_AddArrayToObject(o, "row_ids");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(ia, cJSON_CreateNumber(ids[i]));
    cJSON_AddStringToObject(o, "rows_f32_b64", b64);
    free(b64);
    return 0;
}

/* ?rows=1,2,3 → those ids */
static int parse_rows(server *s, const char *arg, int **ids, int *n, reply *rp)
{
    *ids = malloc(INFO_MAX_ROWS * sizeof **ids);
    *n = 0;
    const char *p = arg;
    while (*ids && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= s->info->vocab || (*end && *end != ',') || *n == INFO_MAX_ROWS) {
            reply_error(rp, 400, "query argument rows=%s: expected at most %d comma-separated token ids in 0..%d",
                        arg, INFO_MAX_ROWS, s->info->vocab - 1);
            return -1;
        }
        (*ids)[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *ids ? 0 : -1;
}

/* ?prompt_len=L → the add-mode placeholders a tuner of this model uses, and their rows */
static int add_placeholders(server *s, cJSON *o, const char *arg, int **ids, int *n, reply *rp)
{
    char *end;
    long L = strtol(arg, &end, 10);
    if (end == arg || *end || L < 1 || L > s->cfg.max_seq || L >= s->info->max_pos) {
        reply_error(rp, 400, "query argument prompt_len=%s: expected 1..%d", arg,
                    (s->cfg.max_seq < s->info->max_pos - 1 ? s->cfg.max_seq : s->info->max_pos - 1));
        return -1;
    }
    *ids = malloc((size_t)L * sizeof **ids);
    *n = (int)L;
    bbt_error err;
    pthread_mutex_lock(&s->lm_lock);
    int rc = encode_placeholders(s->model, (int)L, *ids, &err);
    pthread_mutex_unlock(&s->lm_lock);
    if (rc) {
        reply_error(rp, 400, "%s", err.msg);
        return -1;
    }
    cJSON *pa = cJSON_AddArrayToObject(o, "placeholders");
    for (int i = 0; i < *n; i++)
        cJSON_AddItemToArray(pa, cJSON_CreateNumber((*ids)[i]));
    return 0;
}

void route_info(server *s, const request *rq, reply *rp)
{
    const lm_info *in = s->info;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", s->name);
    cJSON_AddStringToObject(o, "architecture", in->arch);
    cJSON_AddStringToObject(o, "kind", in->kind == LM_CAUSAL ? "causal" : "masked");
    cJSON_AddNumberToObject(o, "hidden_size", in->hidden);
    cJSON_AddNumberToObject(o, "layers", in->layers);
    cJSON_AddNumberToObject(o, "vocab_size", in->vocab);
    cJSON_AddNumberToObject(o, "max_positions", in->max_pos);
    cJSON_AddStringToObject(o, "dtype", in->dtype == LM_F32 ? "f32" : "bf16");
    cJSON_AddStringToObject(o, "tokenizer", in->tokenizer ? in->tokenizer : "none");
    cJSON_AddNumberToObject(o, "embedding_std", s->embedding_std);
    add_specials(o, in);
    const char *rows_arg = request_arg(rq, "rows"), *len_arg = request_arg(rq, "prompt_len");
    int *ids = NULL, n = 0, rc = 0;
    if (len_arg)
        rc = add_placeholders(s, o, len_arg, &ids, &n, rp);
    else if (rows_arg)
        rc = parse_rows(s, rows_arg, &ids, &n, rp);
    if (!rc && ids && add_rows(s, o, ids, n))
        reply_error(rp, 500, "out of memory");
    else if (!rc)
        reply_json(rp, 200, o), o = NULL;
    free(ids);
    cJSON_Delete(o);
}

void route_metrics(server *s, const request *rq, reply *rp)
{
    (void)rq;
    char *text = metrics_text(&s->metrics);
    if (!text)
        reply_error(rp, 500, "out of memory");
    else
        reply_text(rp, 200, text, "text/plain; version=0.0.4");
}

void route_models(server *s, const request *rq, reply *rp)
{
    (void)rq;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->started);
    cJSON_AddStringToObject(m, "owned_by", "bbt");
    cJSON_AddStringToObject(m, "root", s->cfg.model);
    cJSON_AddNullToObject(m, "parent");
    cJSON_AddNumberToObject(m, "max_model_len", s->info->max_pos);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
    reply_json(rp, 200, o);
}
