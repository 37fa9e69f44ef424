/* serve_test.c — the shared helpers of the `bbt serve` tests (see serve_test.h). */
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

/* The torch.save goldens: the committed ones, or those tests/serve/goldens.sh has just regenerated with PyTorch. */
const char *golden(const char *name)
{
    static char path[4][512];
    static int next;
    const char *dir = getenv("SERVE_GOLDENS");
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir ? dir : "tests/serve/goldens", name);
    return p;
}

/* |a − b| ≤ 1e-5 relative (to at least 1: log-probabilities near 0 are compared absolutely) */
void assert_close(double a, double b, const char *what, int i)
{
    cr_assert(fabs(a - b) <= 1e-5 * fmax(1.0, fabs(b)), "%s[%d]: server %.9g, local %.9g", what, i, a, b);
}

/* ---- servers in-process ---- */

server *start(serve_config *c)
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

server *start_default(void)
{
    serve_config c;
    serve_config_init(&c);
    return start(&c);
}

/* POST (or GET when body is NULL); the parsed answer, status in *status. */
cJSON *call(server *s, const char *path, cJSON *body, long *status, const char *key)
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

cJSON *call_ok(server *s, const char *path, cJSON *body)
{
    long status;
    cJSON *out = call(s, path, body, &status, NULL);
    char *text = cJSON_PrintUnformatted(out);
    cr_assert_eq(status, 200, "%s: %ld %s", path, status, text);
    free(text);
    return out;
}

/* The error message of a refused request, with its status checked. */
void expect_error(server *s, const char *path, cJSON *body, long want_status, const char *needle)
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


void local_open(local *l, int n_examples)
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

void local_close(local *l)
{
    encoded_set_free(&l->e);
    dataset_free(&l->d);
    scorer_close(&l->sc);
    tune_config_free(&l->cfg);
}

cJSON *examples_body(const local *l)
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

char *upload(server *s, const local *l, cJSON **answer)
{
    cJSON *a = call_ok(s, "/bbt/v1/examples", examples_body(l));
    char *h = xstrdup(cJSON_GetObjectItem(a, "handle")->valuestring);
    if (answer)
        *answer = a;
    else
        cJSON_Delete(a);
    return h;
}

cJSON *projection_json(void)
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

cJSON *score_body(const char *handle, const double *z, int count)
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
void compare_scores(const cJSON *answer, const float *want, int count, int n, int labels, const char *what)
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

float *local_scores(local *l)
{
    float *want = xmalloc((size_t)COUNT * l->e.n * l->sc.labels.n * sizeof *want);
    bbt_error err;
    cr_assert_eq(scorer_score(&l->sc, &l->e, l->z, COUNT, want, &err), 0, "%s", err.msg);
    return want;
}

unsigned char *slurp(const char *path, size_t *len)
{
    bbt_error err;
    char *p = read_file(path, len, &err);
    cr_assert_not_null(p, "%s", err.msg);
    return (unsigned char *)p;
}

float *embed_sequence(local *l, int i, const float *prompt, int *n)
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
