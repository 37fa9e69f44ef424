/* test_serve_routes.c — every route of a server started in-process scores as the local scorer does (native, vLLM
 * prompt_embeds, echo log-probabilities), and the info, tokenizer and metrics routes. */
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

Test(serve, native_routes_score_as_the_local_scorer)
{
    local l;
    local_open(&l, 32);
    float *want = local_scores(&l);
    server *s = start_default();
    cJSON *ex;
    char *handle = upload(s, &l, &ex);
    cr_assert(cJSON_GetObjectItem(ex, "bytes_in")->valuedouble > 1000);
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(ex, "bytes_out")) && cJSON_IsNumber(cJSON_GetObjectItem(ex, "compute_ms")));
    /* the server encoded the texts as the scorer did */
    const cJSON *seqs = cJSON_GetObjectItem(ex, "sequences");
    cr_assert_eq(cJSON_GetArraySize(seqs), l.e.n);
    for (int i = 0; i < l.e.n; i++) {
        const cJSON *ids = cJSON_GetObjectItem(cJSON_GetArrayItem(seqs, i), "ids");
        cr_assert_eq(cJSON_GetArraySize(ids), l.e.seqs[i].n);
        for (int t = 0; t < l.e.seqs[i].n; t++)
            cr_assert_eq(cJSON_GetArrayItem(ids, t)->valueint, l.e.seqs[i].ids[t]);
    }
    int labels = l.sc.labels.n;
    /* z as JSON numbers */
    cJSON *a = call_ok(s, "/bbt/v1/score", score_body(handle, l.z, COUNT));
    compare_scores(a, want, COUNT, l.e.n, labels, "z json");
    cr_assert(cJSON_GetObjectItem(a, "bytes_in")->valuedouble > 0);
    cr_assert(cJSON_GetObjectItem(a, "bytes_out")->valuedouble > 100);
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(a, "compute_ms")));
    cJSON_Delete(a);
    /* z as base64 f32: the same numbers once projection_apply has made them floats */
    float zf[COUNT * DIM];
    for (int i = 0; i < COUNT * DIM; i++)
        zf[i] = (float)l.z[i];
    char *zb = common_b64_encode(zf, sizeof zf);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", handle);
    cJSON_AddItemToObject(b, "projection", projection_json());
    cJSON_AddStringToObject(b, "z_b64", zb);
    cJSON_AddNumberToObject(b, "count", COUNT);
    a = call_ok(s, "/bbt/v1/score", b);
    compare_scores(a, want, COUNT, l.e.n, labels, "z base64");
    cJSON_Delete(a);
    free(zb);
    /* z as base64 bf16: at d = 500 a candidate costs 1336 bytes (≤ 2 KB); scored as the local scorer scores the
     * rounded z */
    unsigned short zh[COUNT * DIM];
    for (int i = 0; i < COUNT * DIM; i++) {
        zh[i] = tz_float_to_bf16((float)l.z[i]);
        l.z[i] = tz_bf16_to_float(zh[i]);
    }
    float *want_bf16 = local_scores(&l);
    zb = common_b64_encode(zh, sizeof zh);
    cr_assert_leq(strlen(zb) * 500 / (COUNT * DIM), 2048, "a candidate at d = 500 would cost %zu bytes",
                  strlen(zb) * 500 / (COUNT * DIM));
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", handle);
    cJSON_AddItemToObject(b, "projection", projection_json());
    cJSON_AddStringToObject(b, "z_b64", zb);
    cJSON_AddStringToObject(b, "z_dtype", "bf16");
    cJSON_AddNumberToObject(b, "count", COUNT);
    a = call_ok(s, "/bbt/v1/score", b);
    compare_scores(a, want_bf16, COUNT, l.e.n, labels, "z base64 bf16");
    cJSON_Delete(a);
    free(zb);
    free(want_bf16);
    for (int i = 0; i < COUNT * DIM; i++) /* back to the full-precision z */
        l.z[i] = i < DIM ? 0.0 : sin(0.7 * i) * 1.3;
    /* dense prompts, projected here */
    size_t rows = (size_t)l.sc.proj.rows;
    float *prompts = xmalloc(COUNT * rows * sizeof *prompts);
    projection_apply(&l.sc.proj, l.z, COUNT, prompts);
    char *pb = common_b64_encode(prompts, COUNT * rows * sizeof *prompts);
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", handle);
    cJSON_AddStringToObject(b, "prompts_b64", pb);
    cJSON_AddNumberToObject(b, "count", COUNT);
    a = call_ok(s, "/bbt/v1/score", b);
    compare_scores(a, want, COUNT, l.e.n, labels, "dense prompts");
    cJSON_Delete(a);
    free(pb);
    free(prompts);
    /* the same set uploaded as token ids */
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "prompt_len", L_PROMPT);
    cJSON *tok = cJSON_AddObjectToObject(b, "token_ids");
    cJSON_AddItemToObject(tok, "sequences", cJSON_Duplicate(seqs, 1));
    cJSON_AddItemToObject(tok, "labels", cJSON_Duplicate(cJSON_GetObjectItem(ex, "label_ids"), 1));
    cJSON *ex2 = call_ok(s, "/bbt/v1/examples", b);
    a = call_ok(s, "/bbt/v1/score", score_body(cJSON_GetObjectItem(ex2, "handle")->valuestring, l.z, COUNT));
    compare_scores(a, want, COUNT, l.e.n, labels, "token-id upload");
    cJSON_Delete(a);
    cJSON_Delete(ex2);
    cJSON_Delete(ex);
    free(handle);
    serve_stop(s);
    free(want);
    local_close(&l);
}

/* The input rows of encoded example i under prompt p (L × H): tokens' embeddings, the prompt added on the placeholders
 * (as the engine adds it), up to the read position. *n gets the row count. */

Test(serve, vllm_prompt_embeds_score_as_the_local_scorer)
{
    local l;
    local_open(&l, 6);
    int H = l.sc.info->hidden, n = l.e.n, C = l.sc.labels.n;
    float *prompts = xmalloc((size_t)COUNT * L_PROMPT * H * sizeof *prompts);
    projection_apply(&l.sc.proj, l.z, COUNT, prompts);
    /* local: log-probabilities of each label's first token, as vLLM returns them */
    lm_seq *seqs = xmalloc((size_t)n * sizeof *seqs);
    for (int i = 0; i < n; i++) {
        seqs[i] = l.e.seqs[i];
        seqs[i].prompt = 2;
    }
    lm_batch b = {.n_prompts = COUNT, .prompt_len = L_PROMPT, .prompts = prompts, .n_seqs = n, .seqs = seqs,
                  .n_labels = C, .labels = l.sc.labels.labels, .first_token_only = 1, .raw_logits = 0};
    float *want = xmalloc((size_t)n * C * sizeof *want);
    cr_assert_eq(lm_score(l.sc.model, &b, want), 0, "%s", lm_errmsg(l.sc.model));
    server *s = start_default();
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", "stories260K");
    cJSON *pe = cJSON_AddArrayToObject(body, "prompt_embeds");
    for (int i = 0; i < n; i++) {
        int rows;
        float *x = embed_sequence(&l, i, prompts + (size_t)2 * L_PROMPT * H, &rows);
        unsigned char *pt;
        size_t len;
        cr_assert_eq(tz_write(x, rows, H, TZ_F32, &pt, &len), 0);
        char *b64 = common_b64_encode(pt, len);
        cJSON_AddItemToArray(pe, cJSON_CreateString(b64));
        free(b64), free(pt), free(x);
    }
    cJSON_AddNumberToObject(body, "max_tokens", 1);
    cJSON_AddNumberToObject(body, "temperature", 0);
    cJSON_AddNumberToObject(body, "logprobs", C);
    cJSON *ids = cJSON_AddArrayToObject(body, "logprob_token_ids");
    for (int j = 0; j < C; j++)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(l.sc.labels.labels[j].ids[0]));
    cJSON_AddTrueToObject(body, "return_tokens_as_token_ids");
    cJSON *a = call_ok(s, "/v1/completions", body);
    cr_assert_str_eq(cJSON_GetObjectItem(a, "object")->valuestring, "text_completion");
    const cJSON *choices = cJSON_GetObjectItem(a, "choices");
    cr_assert_eq(cJSON_GetArraySize(choices), n);
    for (int i = 0; i < n; i++) {
        const cJSON *ch = cJSON_GetArrayItem(choices, i);
        cr_assert_eq(cJSON_GetObjectItem(ch, "index")->valueint, i);
        const cJSON *top = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "logprobs"), "top_logprobs"), 0);
        for (int j = 0; j < C; j++) {
            char key[32];
            snprintf(key, sizeof key, "token_id:%d", l.sc.labels.labels[j].ids[0]);
            const cJSON *v = cJSON_GetObjectItem(top, key);
            cr_assert(cJSON_IsNumber(v), "choice %d lacks %s", i, key);
            assert_close(v->valuedouble, want[i * C + j], "prompt_embeds", i * C + j);
        }
    }
    cJSON_Delete(a);
    serve_stop(s);
    free(want), free(seqs), free(prompts);
    local_close(&l);
}

Test(serve, echo_logprobs_score_as_the_model)
{
    local l;
    local_open(&l, 1);
    const lm_seq *q = &l.e.seqs[0];
    int V = l.sc.info->vocab, n = q->n;
    /* local: each prompt token's log-probability after its prefix, through lm_score with the token as the label */
    float *want = xmalloc((size_t)n * sizeof *want);
    for (int t = 1; t < n; t++) {
        lm_seq sq = {.ids = q->ids, .n = t, .mode = LM_PROMPT_NONE, .read_pos = -1};
        lm_label lab = {&q->ids[t], 1};
        lm_batch b = {.n_seqs = 1, .seqs = &sq, .n_labels = 1, .labels = &lab};
        cr_assert_eq(lm_score(l.sc.model, &b, &want[t]), 0);
    }
    server *s = start_default();
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "prompt", cJSON_CreateIntArray(q->ids, n));
    cJSON_AddNumberToObject(body, "max_tokens", 0);
    cJSON_AddNumberToObject(body, "logprobs", 1);
    cJSON_AddTrueToObject(body, "echo");
    cJSON_AddNumberToObject(body, "temperature", 0);
    cJSON *a = call_ok(s, "/v1/completions", body);
    const cJSON *lp = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 0), "logprobs");
    const cJSON *tl = cJSON_GetObjectItem(lp, "token_logprobs");
    cr_assert_eq(cJSON_GetArraySize(tl), n);
    cr_assert(cJSON_IsNull(cJSON_GetArrayItem(tl, 0)));
    cr_assert(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "top_logprobs"), 0)));
    for (int t = 1; t < n; t++)
        assert_close(cJSON_GetArrayItem(tl, t)->valuedouble, want[t], "echo", t);
    cJSON_Delete(a);
    /* a text prompt: BOS added, the greedy next token returned with its log-probability */
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "prompt", "Once upon a");
    cJSON_AddNumberToObject(body, "max_tokens", 1);
    cJSON_AddNumberToObject(body, "logprobs", 3);
    cJSON_AddNumberToObject(body, "temperature", 0);
    a = call_ok(s, "/v1/completions", body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(ch, "text")->valuestring, " time");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "usage"), "prompt_tokens")->valueint, 4);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "logprobs"),
                                                                           "top_logprobs"), 0)), 3);
    cJSON_Delete(a);
    /* allowed_token_ids restricts the choice (greedy among them); a seeded draw at temperature 1 is reproducible */
    for (int k = 0; k < 2; k++) {
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "prompt", "Once upon a");
        cJSON_AddNumberToObject(body, "max_tokens", 1);
        cJSON_AddNumberToObject(body, "logprobs", 0);
        cJSON_AddTrueToObject(body, "return_tokens_as_token_ids");
        cJSON_AddItemToObject(body, "allowed_token_ids", cJSON_CreateIntArray((int[]){7, 300, 301}, 3));
        cJSON_AddNumberToObject(body, "temperature", k ? 1.0 : 0.0);
        cJSON_AddNumberToObject(body, "seed", 1234);
        a = call_ok(s, "/v1/completions", body);
        const cJSON *tok = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 0), "logprobs"), "tokens"), 0);
        cr_assert(!strcmp(tok->valuestring, "token_id:7") || !strcmp(tok->valuestring, "token_id:300") ||
                  !strcmp(tok->valuestring, "token_id:301"), "generated %s, not an allowed token", tok->valuestring);
        char first[32];
        snprintf(first, sizeof first, "%s", tok->valuestring);
        cJSON_Delete(a);
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "prompt", "Once upon a");
        cJSON_AddNumberToObject(body, "logprobs", 0);
        cJSON_AddTrueToObject(body, "return_tokens_as_token_ids");
        cJSON_AddItemToObject(body, "allowed_token_ids", cJSON_CreateIntArray((int[]){7, 300, 301}, 3));
        cJSON_AddNumberToObject(body, "temperature", k ? 1.0 : 0.0);
        cJSON_AddNumberToObject(body, "seed", 1234);
        a = call_ok(s, "/v1/completions", body);
        tok = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 0), "logprobs"), "tokens"), 0);
        cr_assert_str_eq(tok->valuestring, first, "the same seed drew another token");
        cJSON_Delete(a);
    }
    (void)V;
    serve_stop(s);
    free(want);
    local_close(&l);
}

Test(serve, tokenize_detokenize_models_info_metrics)
{
    server *s = start_default();
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "prompt", "Once upon a time");
    cJSON *a = call_ok(s, "/tokenize", b);
    cr_assert_eq(cJSON_GetObjectItem(a, "count")->valueint, 5);
    cr_assert_eq(cJSON_GetObjectItem(a, "max_model_len")->valueint, 512);
    cJSON *tokens = cJSON_DetachItemFromObject(a, "tokens");
    cr_assert_eq(cJSON_GetArrayItem(tokens, 0)->valueint, 1, "BOS first");
    cJSON_Delete(a);
    b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "tokens", tokens);
    a = call_ok(s, "/detokenize", b);
    cr_assert_str_eq(cJSON_GetObjectItem(a, "prompt")->valuestring, "Once upon a time");
    cJSON_Delete(a);
    a = call_ok(s, "/v1/models", NULL);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "data"), 0), "id")->valuestring,
                     "stories260K");
    cJSON_Delete(a);
    a = call_ok(s, "/bbt/v1/info?prompt_len=3", NULL);
    cr_assert_eq(cJSON_GetObjectItem(a, "hidden_size")->valueint, 64);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "placeholders")), 3);
    cr_assert(cJSON_GetObjectItem(a, "embedding_std")->valuedouble > 0);
    cr_assert_eq(strlen(cJSON_GetObjectItem(a, "rows_f32_b64")->valuestring), 1024u); /* 3 rows × 64 f32 */
    cJSON_Delete(a);
    http_result r = http_call(serve_port(s), "/metrics", NULL, 0, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "bbt_requests_total{route=\"/tokenize\",status=\"200\"} 1"), "%s", r.body);
    cr_assert(strstr(r.body, "bbt_batch_sequences_count"));
    cr_assert(strstr(r.body, "bbt_queue_depth 0"));
    http_result_free(&r);
    serve_stop(s);
}

/* ---- limits and refusals ---- */
