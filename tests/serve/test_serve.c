/* Tests of `bbt serve` (issue 10): the parsers on their own (base64, torch.save goldens written by PyTorch, the API
 * key compare, the loopback rule), then servers started in-process on loopback with stories260K in f32: every route's
 * scores against the local scorer's, every limit, the key, and a load of 8 concurrent clients. */
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
#include "bbt/serve/b64.h"
#include "bbt/serve/serve.h"
#include "bbt/serve/torchzip.h"
#include "bbt/util.h"
#include "tests/serve/http_client.h"

#define MODEL "../shared/assets/models/stories260K"
#define TRAIN "../shared/assets/tasks/sst2/16-13/train.tsv"
/* The torch.save goldens: the committed ones, or those tests/serve/goldens.sh has just regenerated with PyTorch. */
static const char *golden(const char *name)
{
    static char path[4][512];
    static int next;
    const char *dir = getenv("SERVE_GOLDENS");
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir ? dir : "tests/serve/goldens", name);
    return p;
}

/* |a − b| ≤ 1e-5 relative (to at least 1: log-probabilities near 0 are compared absolutely) */
static void assert_close(double a, double b, const char *what, int i)
{
    cr_assert(fabs(a - b) <= 1e-5 * fmax(1.0, fabs(b)), "%s[%d]: server %.9g, local %.9g", what, i, a, b);
}

/* ---- base64 ---- */

Test(b64, round_trip_and_strictness)
{
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = b64_encode(cases[i], strlen(cases[i]));
        cr_assert_str_eq(e, want[i]);
        unsigned char out[16];
        size_t bad;
        cr_assert_eq(b64_decode(e, strlen(e), out, &bad), (long)strlen(cases[i]));
        cr_assert(!memcmp(out, cases[i], strlen(cases[i])));
        free(e);
    }
    unsigned char out[16];
    size_t bad = 99;
    cr_assert_eq(b64_decode("Zm9v!", 5, out, &bad), -1);
    cr_assert_eq(b64_decode("Zm 9vA==", 8, out, &bad), -1);
    cr_assert_eq(bad, 2u);
    cr_assert_eq(b64_decode("Zg=", 3, out, &bad), -1, "padding must complete a group of 4");
    cr_assert_eq(b64_decode("Zh==", 4, out, &bad), -1, "leftover bits must be zero");
    cr_assert_eq(b64_decode("Z===", 4, out, &bad), -1);
    cr_assert_eq(b64_decode("=Zg=", 4, out, &bad), -1);
    cr_assert_eq(b64_decode("Zg", 2, out, &bad), 1, "unpadded input is accepted");
}

/* ---- torch.save ---- */

/* The numbers tests/serve/make_goldens.py saved. */
static float golden_value(int i, int j)
{
    return (float)(((i * 7 + j * 3) % 17 - 8) / 8.0 + j / 1024.0 + (j % 5 == 0 ? 1e-6 : 0.0));
}

static unsigned char *slurp(const char *path, size_t *len)
{
    bbt_error err;
    char *p = read_file(path, len, &err);
    cr_assert_not_null(p, "%s", err.msg);
    return (unsigned char *)p;
}

static void check_golden(const char *name, tz_dtype dtype, int first_row, int rows)
{
    size_t len;
    unsigned char *buf = slurp(name, &len);
    tz_tensor t;
    char err[256];
    cr_assert_eq(tz_read(buf, len, &t, err, sizeof err), 0, "%s: %s", name, err);
    cr_assert_eq(t.rows, rows);
    cr_assert_eq(t.cols, 12);
    cr_assert_eq(t.dtype, dtype);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < 12; j++) {
            float v = golden_value(first_row + i, j);
            float want = dtype == TZ_F32 ? v : dtype == TZ_BF16 ? tz_bf16_to_float(tz_float_to_bf16(v))
                                                               : tz_f16_to_float(tz_float_to_f16(v));
            cr_assert_eq(t.data[i * 12 + j], want, "%s [%d][%d]: %.9g, PyTorch saved %.9g", name, i, j,
                         t.data[i * 12 + j], want);
        }
    tz_tensor_free(&t);
    free(buf);
}

Test(torchzip, reads_what_pytorch_wrote)
{
    check_golden(golden("f32_5x12.pt"), TZ_F32, 0, 5);
    check_golden(golden("bf16_5x12.pt"), TZ_BF16, 0, 5);
    check_golden(golden("f16_5x12.pt"), TZ_F16, 0, 5);
    check_golden(golden("f32_1x5x12.pt"), TZ_F32, 0, 5);
    check_golden(golden("f32_view_rows1to3.pt"), TZ_F32, 1, 2);
}

static void check_refused(const char *name, const char *why)
{
    size_t len;
    unsigned char *buf = slurp(name, &len);
    tz_tensor t;
    char err[256];
    cr_assert_eq(tz_read(buf, len, &t, err, sizeof err), -1, "%s was accepted", name);
    cr_assert(strstr(err, why), "%s: message \"%s\" lacks \"%s\"", name, err, why);
    free(buf);
}

Test(torchzip, refuses_what_it_cannot_use)
{
    check_refused(golden("bad_transposed.pt"), "not contiguous");
    check_refused(golden("bad_f64.pt"), "DoubleStorage");
    check_refused(golden("bad_3d.pt"), "3-D");
}

Test(torchzip, writer_round_trip_and_damage)
{
    float v[6] = {1, -2.5f, 3e-5f, 65504, -0.0f, 7};
    for (int d = 0; d < 3; d++) {
        unsigned char *buf;
        size_t len;
        cr_assert_eq(tz_write(v, 2, 3, (tz_dtype)d, &buf, &len), 0);
        tz_tensor t;
        char err[256];
        cr_assert_eq(tz_read(buf, len, &t, err, sizeof err), 0, "%s", err);
        cr_assert_eq(t.rows, 2);
        for (int i = 0; i < 6; i++) {
            float want = d == 0 ? v[i] : d == 1 ? tz_bf16_to_float(tz_float_to_bf16(v[i]))
                                                : tz_f16_to_float(tz_float_to_f16(v[i]));
            cr_assert_eq(t.data[i], want);
        }
        tz_tensor_free(&t);
        for (size_t cut = 0; cut < len; cut += 7) /* every truncation is refused, none read outside */
            cr_assert_eq(tz_read(buf, cut, &t, err, sizeof err), -1);
        /* a flipped bit anywhere fails a CRC or the structure, except in padding and unchecked header fields */
        size_t refused = 0;
        for (size_t at = 0; at < len; at++) {
            buf[at] ^= 0x40;
            if (tz_read(buf, len, &t, err, sizeof err))
                refused++;
            else
                tz_tensor_free(&t);
            buf[at] ^= 0x40;
        }
        cr_assert_gt(refused, len / 3, "only %zu of %zu flipped bytes were noticed", refused, len);
        free(buf);
    }
    cr_assert_eq(tz_float_to_f16(1e-7f), 2, "f16 subnormal");
    cr_assert_eq(tz_float_to_f16(1e6f), 0x7c00, "f16 overflow");
    cr_assert_eq(tz_float_to_bf16(1.00390625f), 0x3f80, "bf16 ties to even");
}

/* ---- the API key and the loopback rule ---- */

Test(auth, bearer_and_constant_time_compare)
{
    cr_assert(auth_bearer_ok("Bearer sekret", "sekret"));
    cr_assert(auth_bearer_ok("bearer sekret", "sekret"));
    cr_assert(!auth_bearer_ok("Bearer sekret2", "sekret"));
    cr_assert(!auth_bearer_ok("Bearer sekre", "sekret"));
    cr_assert(!auth_bearer_ok("Basic sekret", "sekret"));
    cr_assert(!auth_bearer_ok(NULL, "sekret"));
    cr_assert(auth_equal("abc", 3, "abc", 3));
    cr_assert(!auth_equal("abc", 3, "abd", 3));
    cr_assert(!auth_equal("abc", 3, "abc\0", 4));
    cr_assert(serve_host_is_loopback("127.0.0.1"));
    cr_assert(serve_host_is_loopback("127.8.9.10"));
    cr_assert(serve_host_is_loopback("::1"));
    cr_assert(serve_host_is_loopback("localhost"));
    cr_assert(!serve_host_is_loopback("0.0.0.0"));
    cr_assert(!serve_host_is_loopback("10.1.2.3"));
    cr_assert(!serve_host_is_loopback("::"));
}

Test(serve, non_loopback_host_needs_a_key)
{
    serve_config c;
    serve_config_init(&c);
    c.model = MODEL;
    c.host = "0.0.0.0";
    bbt_error err;
    cr_assert_null(serve_start(&c, &err));
    cr_assert(strstr(err.msg, "loopback") && strstr(err.msg, "API key"), "%s", err.msg);
}

/* ---- servers in-process ---- */

static server *start(serve_config *c)
{
    c->model = MODEL;
    c->host = "127.0.0.1";
    c->port = 0;
    c->threads = 1;
    c->f32 = 1;
    bbt_error err;
    server *s = serve_start(c, &err);
    cr_assert_not_null(s, "%s", err.msg);
    return s;
}

static server *start_default(void)
{
    serve_config c;
    serve_config_init(&c);
    return start(&c);
}

/* POST (or GET when body is NULL); the parsed answer, status in *status. */
static cJSON *call(server *s, const char *path, cJSON *body, long *status, const char *key)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    http_result r = http_call(serve_port(s), path, text, text ? strlen(text) : 0, key);
    free(text);
    cJSON_Delete(body);
    *status = r.status;
    cJSON *out = cJSON_Parse(r.body);
    cr_assert_not_null(out, "%s: answer is not JSON: %s", path, r.body);
    http_result_free(&r);
    return out;
}

static cJSON *call_ok(server *s, const char *path, cJSON *body)
{
    long status;
    cJSON *out = call(s, path, body, &status, NULL);
    char *text = cJSON_PrintUnformatted(out);
    cr_assert_eq(status, 200, "%s: %ld %s", path, status, text);
    free(text);
    return out;
}

/* The error message of a refused request, with its status checked. */
static void expect_error(server *s, const char *path, cJSON *body, long want_status, const char *needle)
{
    long status;
    cJSON *out = call(s, path, body, &status, NULL);
    const cJSON *msg = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "error"), "message");
    cr_assert_eq(status, want_status, "%s: status %ld, expected %ld (%s)", path, status, want_status,
                 cJSON_IsString(msg) ? msg->valuestring : "no message");
    cr_assert(cJSON_IsString(msg) && strstr(msg->valuestring, needle), "%s: message \"%s\" lacks \"%s\"", path,
              cJSON_IsString(msg) ? msg->valuestring : "", needle);
    cJSON_Delete(out);
}

/* The local side: the scorer `bbt tune` uses, on sst2's 16-13 training split. */
#define L_PROMPT 5
#define DIM 20
#define SEED 7
#define COUNT 3

typedef struct local {
    tune_config cfg;
    scorer sc;
    dataset d;
    encoded_set e;
    int n;            /* examples used (the first n of the split) */
    double z[COUNT * DIM];
} local;

static void local_open(local *l, int n_examples)
{
    tune_config_init(&l->cfg);
    config_set(&l->cfg.model, MODEL);
    config_set(&l->cfg.task, "sst2");
    l->cfg.dtype = LM_F32;
    l->cfg.prompt_len = L_PROMPT;
    l->cfg.dim = DIM;
    l->cfg.seed = SEED;
    l->cfg.threads = 1;
    bbt_error err;
    cr_assert_eq(scorer_open(&l->sc, &l->cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(scorer_load(&l->sc, TRAIN, 1, &l->d, &l->e, &err), 0, "%s", err.msg);
    l->n = n_examples < l->e.n ? n_examples : l->e.n;
    l->e.n = l->n; /* encoded_set_free frees the whole set whatever n says; dataset_free needs the true count */
    for (int i = 0; i < COUNT * DIM; i++)
        l->z[i] = i < DIM ? 0.0 : sin(0.7 * i) * 1.3;
}

static void local_close(local *l)
{
    encoded_set_free(&l->e);
    dataset_free(&l->d);
    scorer_close(&l->sc);
    tune_config_free(&l->cfg);
}

static cJSON *examples_body(const local *l)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "task", "sst2");
    cJSON_AddNumberToObject(b, "prompt_len", L_PROMPT);
    cJSON *ex = cJSON_AddArrayToObject(b, "examples");
    for (int i = 0; i < l->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", l->d.ex[i].text_a);
        cJSON_AddNumberToObject(o, "label", l->d.ex[i].label);
        cJSON_AddItemToArray(ex, o);
    }
    return b;
}

static char *upload(server *s, const local *l, cJSON **answer)
{
    cJSON *a = call_ok(s, "/bbt/v1/examples", examples_body(l));
    char *h = xstrdup(cJSON_GetObjectItem(a, "handle")->valuestring);
    if (answer)
        *answer = a;
    else
        cJSON_Delete(a);
    return h;
}

static cJSON *projection_json(void)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "seed", SEED);
    cJSON_AddStringToObject(p, "distribution", "normal");
    cJSON_AddNumberToObject(p, "d", DIM);
    cJSON_AddNumberToObject(p, "prompt_len", L_PROMPT);
    cJSON_AddNumberToObject(p, "alpha", 1);
    cJSON_AddNumberToObject(p, "sigma0", 1);
    cJSON_AddStringToObject(p, "mode", "add");
    return p;
}

static cJSON *score_body(const char *handle, const double *z, int count)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "handle", handle);
    cJSON_AddItemToObject(b, "projection", projection_json());
    cJSON *zs = cJSON_AddArrayToObject(b, "z");
    for (int c = 0; c < count; c++)
        cJSON_AddItemToArray(zs, cJSON_CreateDoubleArray(z + c * DIM, DIM));
    return b;
}

/* scores[c][i][j] of an answer against the local scorer's */
static void compare_scores(const cJSON *answer, const float *want, int count, int n, int labels, const char *what)
{
    const cJSON *sc = cJSON_GetObjectItem(answer, "scores");
    cr_assert_eq(cJSON_GetArraySize(sc), count, "%s: candidates", what);
    for (int c = 0; c < count; c++) {
        const cJSON *cand = cJSON_GetArrayItem(sc, c);
        cr_assert_eq(cJSON_GetArraySize(cand), n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < labels; j++) {
                const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(cand, i), j);
                cr_assert(cJSON_IsNumber(v));
                int k = (c * n + i) * labels + j;
                assert_close(v->valuedouble, want[k], what, k);
            }
    }
}

static float *local_scores(local *l)
{
    float *want = xmalloc((size_t)COUNT * l->e.n * l->sc.labels.n * sizeof *want);
    bbt_error err;
    cr_assert_eq(scorer_score(&l->sc, &l->e, l->z, COUNT, want, &err), 0, "%s", err.msg);
    return want;
}

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
    char *zb = b64_encode(zf, sizeof zf);
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
    zb = b64_encode(zh, sizeof zh);
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
    char *pb = b64_encode(prompts, COUNT * rows * sizeof *prompts);
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
static float *embed_sequence(local *l, int i, const float *prompt, int *n)
{
    const lm_seq *q = &l->e.seqs[i];
    int H = l->sc.info->hidden, rows = q->read_pos < 0 ? q->n : q->read_pos + 1;
    const float *emb = lm_embeddings(l->sc.model);
    float *x = xmalloc((size_t)rows * H * sizeof *x);
    for (int t = 0; t < rows; t++)
        for (int k = 0; k < H; k++) {
            float v = emb[(size_t)q->ids[t] * H + k];
            int j = t - q->prompt_pos;
            if (j >= 0 && j < L_PROMPT)
                v += prompt[(size_t)j * H + k];
            x[(size_t)t * H + k] = v;
        }
    *n = rows;
    return x;
}

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
        char *b64 = b64_encode(pt, len);
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
    char *f64b = b64_encode(f64, len);
    expect_error(s, "/v1/completions", with(cJSON_CreateObject(), "prompt_embeds", cJSON_CreateString(f64b)), 400,
                 "DoubleStorage");
    free(f64b), free(f64);
    unsigned char *pt;
    float small[6] = {0};
    cr_assert_eq(tz_write(small, 2, 3, TZ_F32, &pt, &len), 0);
    char *ptb = b64_encode(pt, len);
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
    char *b64 = b64_encode(pt, len);
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
