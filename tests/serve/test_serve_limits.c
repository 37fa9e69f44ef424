/* test_serve_limits.c — every limit refused with a 4xx naming it, the API key, and a load of 8 concurrent clients. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "bbt/files.h"
#include "bbt/scorer.h"
#include "bbt/serve/auth.h"
#include "common/base64.h"
#include "bbt/serve/serve.h"
#include "bbt/serve/torchzip.h"
#include "bbt/util.h"
#include "tests/serve/http_client.h"
#include "tests/serve/serve_test.h"

static cJSON *texts_body(int n, const char *text)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "task", "sst2");
    cJSON_AddNumberToObject(b, "prompt_len", L_PROMPT);
    cJSON *ex = cJSON_AddArrayToObject(b, "examples");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", text);
        cJSON_AddItemToArray(ex, o);
    }
    return b;
}

static char *upload_texts(server *s, int n)
{
    cJSON *a = call_ok(s, "/bbt/v1/examples", texts_body(n, "a fine film"));
    char *h = xstrdup(cJSON_GetObjectItem(a, "handle")->valuestring);
    cJSON_Delete(a);
    return h;
}

static cJSON *with(cJSON *b, const char *key, cJSON *v)
{
    cJSON_AddItemToObject(b, key, v);
    return b;
}

Test(serve, every_limit_is_a_4xx_naming_it)
{
    serve_config c;
    serve_config_init(&c);
    c.max_body_mb = 1;
    c.max_batch = 4;
    c.max_seq = 40;
    c.max_examples = 3;
    c.max_handles = 2;
    c.max_dim = 50;
    server *s = start(&c);
    /* body size: refused from Content-Length, before reading */
    size_t big = (1u << 20) + 10;
    char *text = xmalloc(big + 1);
    memset(text, ' ', big);
    text[big] = '\0';
    http_result r = http_call(serve_port(s), "/bbt/v1/score", text, big, NULL);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body, "max-body-mb"), "%s", r.body);
    http_result_free(&r);
    free(text);
    expect_error(s, "/bbt/v1/examples", texts_body(4, "fine"), 400, "--max-examples");
    char long_text[2000] = "";
    for (int i = 0; i < 60; i++)
        strcat(long_text, "the movie was ");
    expect_error(s, "/bbt/v1/examples", texts_body(1, long_text), 400, "--max-seq");
    char *h1 = upload_texts(s, 2);
    double z[5 * DIM] = {0};
    expect_error(s, "/bbt/v1/score", score_body(h1, z, 5), 400, "--max-batch");
    cJSON *b = score_body(h1, z, 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(b, "projection"), "d", cJSON_CreateNumber(51));
    expect_error(s, "/bbt/v1/score", b, 400, "max-dim");
    /* bad payloads */
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", h1);
    cJSON_AddItemToObject(b, "projection", projection_json());
    cJSON_AddStringToObject(b, "z_b64", "AAAA*AAA");
    cJSON_AddNumberToObject(b, "count", 1);
    expect_error(s, "/bbt/v1/score", b, 400, "base64");
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", h1);
    cJSON_AddItemToObject(b, "projection", projection_json());
    cJSON_AddStringToObject(b, "z_b64", "AAAAAAAA");
    cJSON_AddNumberToObject(b, "count", 1);
    expect_error(s, "/bbt/v1/score", b, 400, "need");
    b = score_body(h1, z, 1);
    cJSON_ReplaceItemInArray(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "z"), 0), 3, cJSON_CreateNumber(1e39));
    expect_error(s, "/bbt/v1/score", b, 400, "z[0][3] is not a finite number");
    b = score_body(h1, z, 1);
    cJSON_DeleteItemFromArray(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "z"), 0), 0);
    expect_error(s, "/bbt/v1/score", b, 400, "expected 20");
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", h1);
    cJSON_AddStringToObject(b, "prompts_b64", "AAAA");
    cJSON_AddStringToObject(b, "prompts_dtype", "f64");
    cJSON_AddNumberToObject(b, "count", 1);
    expect_error(s, "/bbt/v1/score", b, 400, "dtype");
    http_result nan = http_call(serve_port(s), "/bbt/v1/score", "{\"handle\": NaN}", 15, NULL);
    cr_assert_eq(nan.status, 400);
    cr_assert(strstr(nan.body, "not valid JSON"), "%s", nan.body);
    http_result_free(&nan);
    /* token ids out of range, wrong model, masked-LM-only refusals */
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "prompt", cJSON_CreateIntArray((int[]){1, 512}, 2));
    expect_error(s, "/v1/completions", p, 400, "prompt[0][1] is 512");
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "model", "gpt-4");
    cJSON_AddStringToObject(p, "prompt", "hi");
    expect_error(s, "/v1/completions", p, 404, "does not exist");
    p = with(cJSON_CreateObject(), "prompt", cJSON_CreateString("hi"));
    cJSON_AddNumberToObject(p, "logprobs", 21);
    expect_error(s, "/v1/completions", p, 400, "logprobs");
    p = with(cJSON_CreateObject(), "prompt", cJSON_CreateString("hi"));
    cJSON_AddNumberToObject(p, "max_tokens", 5);
    expect_error(s, "/v1/completions", p, 400, "max_tokens");
    /* malformed torch.save archives and wrong shapes */
    size_t len;
    unsigned char *f64 = slurp(golden("bad_f64.pt"), &len);
    char *f64b = common_b64_encode(f64, len);
    expect_error(s, "/v1/completions", with(cJSON_CreateObject(), "prompt_embeds", cJSON_CreateString(f64b)), 400,
                 "DoubleStorage");
    free(f64b), free(f64);
    unsigned char *pt;
    float small[6] = {0};
    cr_assert_eq(tz_write(small, 2, 3, TZ_F32, &pt, &len), 0);
    char *ptb = common_b64_encode(pt, len);
    expect_error(s, "/v1/completions", with(cJSON_CreateObject(), "prompt_embeds", cJSON_CreateString(ptb)), 400,
                 "hidden size is 64");
    free(ptb), free(pt);
    expect_error(s, "/v1/completions", with(cJSON_CreateObject(), "prompt_embeds", cJSON_CreateString("UEsDBA==")),
                 400, "torch.save");
    /* handles: the least recently used expires */
    char *h2 = upload_texts(s, 1);
    char *h3 = upload_texts(s, 1);
    expect_error(s, "/bbt/v1/score", score_body(h1, z, 1), 404, "expired");
    cJSON_Delete(call_ok(s, "/bbt/v1/score", score_body(h3, z, 1)));
    cJSON_Delete(call_ok(s, "/bbt/v1/score", score_body(h2, z, 1)));
    expect_error(s, "/nowhere", NULL, 404, "no route");
    expect_error(s, "/bbt/v1/score", NULL, 405, "does not take GET");
    free(h1), free(h2), free(h3);
    serve_stop(s);
}

Test(serve, api_key_is_required_and_checked)
{
    serve_config c;
    serve_config_init(&c);
    c.api_key = "sekret-key";
    server *s = start(&c);
    long status;
    cJSON_Delete(call(s, "/bbt/v1/info", NULL, &status, NULL));
    cr_assert_eq(status, 401);
    cJSON_Delete(call(s, "/bbt/v1/info", NULL, &status, "sekret-kez"));
    cr_assert_eq(status, 401);
    cJSON_Delete(call(s, "/v1/completions", with(cJSON_CreateObject(), "prompt", cJSON_CreateString("x")), &status,
                      "sekret-ke"));
    cr_assert_eq(status, 401);
    cJSON_Delete(call(s, "/bbt/v1/info", NULL, &status, "sekret-key"));
    cr_assert_eq(status, 200);
    cJSON_Delete(call(s, "/health", NULL, &status, NULL));
    cr_assert_eq(status, 200, "/health stays open for load balancers");
    serve_stop(s);
}

/* ---- load: 8 clients × 200 requests, mixed routes, every answer checked ---- */

typedef struct load_ctx {
    server *s;
    const char *handle;
    const double *z;
    const float *want;     /* scores of z's first two candidates */
    int n, labels;
    const char *embeds;    /* a prompt_embeds body */
    int id, errors;
    char first_error[300];
} load_ctx;

static int load_one(load_ctx *c, int k)
{
    long status;
    cJSON *a = NULL;
    int ok = 1;
    switch ((k + c->id) % 5) {
    case 0:
        a = call(c->s, "/health", NULL, &status, NULL);
        break;
    case 1:
    case 2:
        a = call(c->s, "/bbt/v1/score", score_body(c->handle, c->z, 2), &status, NULL);
        for (int i = 0; status == 200 && ok && i < 2 * c->n * c->labels; i++) {
            const cJSON *v = cJSON_GetArrayItem(
                cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "scores"), i / (c->n * c->labels)),
                                   i / c->labels % c->n), i % c->labels);
            ok = cJSON_IsNumber(v) && fabs(v->valuedouble - c->want[i]) <= 1e-5 * fmax(1, fabs(c->want[i]));
        }
        break;
    case 3: {
        http_result r = http_call(serve_port(c->s), "/v1/completions", c->embeds, strlen(c->embeds), NULL);
        status = r.status;
        a = cJSON_Parse(r.body);
        http_result_free(&r);
        break;
    }
    default:
        a = call(c->s, "/tokenize", with(cJSON_CreateObject(), "prompt", cJSON_CreateString("a fine film")), &status,
                 NULL);
        break;
    }
    if ((status != 200 || !a || !ok) && !c->first_error[0]) {
        char *t = a ? cJSON_PrintUnformatted(a) : NULL;
        snprintf(c->first_error, sizeof c->first_error, "request %d: status %ld, %s: %.200s", k, status,
                 ok ? "answer" : "wrong scores", t ? t : "no JSON");
        free(t);
    }
    cJSON_Delete(a);
    return status == 200 && ok ? 0 : 1;
}

static void *load_client(void *arg)
{
    load_ctx *c = arg;
    for (int k = 0; k < 200; k++)
        c->errors += load_one(c, k);
    return NULL;
}

Test(serve, load_8_clients_200_requests_no_errors)
{
    local l;
    local_open(&l, 4);
    float *want = local_scores(&l);
    server *s = start_default();
    char *handle = upload(s, &l, NULL);
    int H = l.sc.info->hidden, rows;
    float *prompts = xmalloc((size_t)COUNT * L_PROMPT * H * sizeof *prompts);
    projection_apply(&l.sc.proj, l.z, COUNT, prompts);
    float *x = embed_sequence(&l, 0, prompts, &rows);
    unsigned char *pt;
    size_t len;
    cr_assert_eq(tz_write(x, rows, H, TZ_BF16, &pt, &len), 0);
    char *b64 = common_b64_encode(pt, len);
    cJSON *eb = with(cJSON_CreateObject(), "prompt_embeds", cJSON_CreateString(b64));
    cJSON_AddNumberToObject(eb, "logprobs", 2);
    cJSON_AddNumberToObject(eb, "temperature", 0);
    char *embeds = cJSON_PrintUnformatted(eb);
    cJSON_Delete(eb);
    free(b64), free(pt), free(x), free(prompts);
    load_ctx ctx[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        ctx[i] = (load_ctx){s, handle, l.z, want, l.e.n, l.sc.labels.n, embeds, i, 0, ""};
        cr_assert_eq(pthread_create(&th[i], NULL, load_client, &ctx[i]), 0);
    }
    int errors = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(ctx[i].errors, 0, "client %d: %d errors; first: %s", i, ctx[i].errors, ctx[i].first_error);
        errors += ctx[i].errors;
    }
    cr_assert_eq(errors, 0);
    http_result r = http_call(serve_port(s), "/metrics", NULL, 0, NULL);
    cr_assert(strstr(r.body, "bbt_requests_total{route=\"/bbt/v1/score\",status=\"200\"} 640"), "%s", r.body);
    http_result_free(&r);
    serve_stop(s);
    free(embeds), free(handle), free(want);
    local_close(&l);
}
