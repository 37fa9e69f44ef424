/* serve_bench.c — what `bbt serve` costs and gains (issue 10), on stories260K with sst2's 16-13 training split.
 *
 *   1. per-request overhead of the native route: POST /bbt/v1/score of a 20 × 32 generation (20 candidates z of
 *      d = 500, L = 50, 32 examples) against a local scorer_score of the same batch, both in this process, one after
 *      the other (medians of --reps runs);
 *   2. dynamic batching: 4 tuners (own handle, own projection seed) each scoring --gens generations, all at once
 *      against one server, versus the same 4 × gens requests one after another.
 * Usage: serve_bench [threads (1)] [reps (15)] [gens (10)] [dtype bf16|f32 (bf16)] [max_merge (4096)].
 * Prints one JSON object. max_merge 640 (one generation) turns merging across requests off.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cjson/cJSON.h>

#include "bbt/scorer.h"
#include "common/base64.h"
#include "bbt/serve/serve.h"
#include "bbt/util.h"
#include "optim/pcg.h"
#include "tests/serve/http_client.h"

#define MODEL "../shared/assets/models/stories260K"
#define TRAIN "../shared/assets/tasks/sst2/16-13/train.tsv"
#define POP 20
#define DIM 500
#define PLEN 50
#define TUNERS 4

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "serve_bench: %s: %s\n", what, msg);
    exit(1);
}

static char *examples_body(const dataset *d)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "task", "sst2");
    cJSON_AddNumberToObject(b, "prompt_len", PLEN);
    cJSON *ex = cJSON_AddArrayToObject(b, "examples");
    for (int i = 0; i < d->n; i++)
        cJSON_AddItemToArray(ex, cJSON_CreateObject()), cJSON_AddStringToObject(cJSON_GetArrayItem(ex, i), "text",
                                                                                d->ex[i].text_a);
    char *t = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return t;
}

static char *upload(int port, const dataset *d)
{
    char *body = examples_body(d);
    http_result r = http_call(port, "/bbt/v1/examples", body, strlen(body), NULL);
    free(body);
    cJSON *a = cJSON_Parse(r.body);
    if (r.status != 200 || !a)
        die("upload", r.body);
    char *h = xstrdup(cJSON_GetObjectItem(a, "handle")->valuestring);
    cJSON_Delete(a);
    http_result_free(&r);
    return h;
}

/* A score request body: 20 candidates as base64 f32 (2,668 bytes of text each at d = 500). */
static char *score_body(const char *handle, int seed, const double *z)
{
    float zf[POP * DIM];
    for (int i = 0; i < POP * DIM; i++)
        zf[i] = (float)z[i];
    char *b64 = common_b64_encode(zf, sizeof zf);
    size_t cap = strlen(b64) + 512;
    char *body = xmalloc(cap);
    snprintf(body, cap, "{\"handle\":\"%s\",\"projection\":{\"seed\":%d,\"distribution\":\"normal\",\"d\":%d,"
                        "\"prompt_len\":%d,\"alpha\":1,\"sigma0\":1,\"mode\":\"add\"},\"z_b64\":\"%s\",\"z_dtype\":"
                        "\"f32\",\"count\":%d}", handle, seed, DIM, PLEN, b64, POP);
    free(b64);
    return body;
}

static double post_score(int port, const char *body, double *compute_ms)
{
    double t0 = now_seconds();
    http_result r = http_call(port, "/bbt/v1/score", body, strlen(body), NULL);
    double dt = now_seconds() - t0;
    cJSON *a = cJSON_Parse(r.body);
    if (r.status != 200 || !a)
        die("score", r.body);
    if (compute_ms)
        *compute_ms = cJSON_GetObjectItem(a, "compute_ms")->valuedouble;
    cJSON_Delete(a);
    http_result_free(&r);
    return dt;
}

typedef struct tuner {
    int port, gens;
    char **bodies;
} tuner;

static void *run_tuner(void *arg)
{
    tuner *t = arg;
    for (int g = 0; g < t->gens; g++)
        post_score(t->port, t->bodies[g], NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1); /* as bbt's main: OpenBLAS stays on the calling thread, the engine has the cores */
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 15;
    int gens = argc > 3 ? atoi(argv[3]) : 10;
    const char *dtype = argc > 4 ? argv[4] : "bf16";
    int max_merge = argc > 5 ? atoi(argv[5]) : 4096;
    tune_config cfg;
    tune_config_init(&cfg);
    config_set(&cfg.model, MODEL);
    config_set(&cfg.task, "sst2");
    cfg.dtype = strcmp(dtype, "f32") ? LM_BF16 : LM_F32;
    cfg.threads = threads;
    cfg.seed = 1;
    scorer sc;
    dataset d;
    encoded_set e;
    bbt_error err;
    if (scorer_open(&sc, &cfg, &err) || scorer_load(&sc, TRAIN, 1, &d, &e, &err))
        die("local scorer", err.msg);
    pcg_rng rng;
    pcg_seed(&rng, 42, 1);
    double *z = xmalloc((size_t)TUNERS * gens * POP * DIM * sizeof *z);
    pcg_fill_normal(&rng, z, (size_t)TUNERS * gens * POP * DIM);
    float *scores = xmalloc((size_t)POP * e.n * sc.labels.n * sizeof *scores);

    serve_config c;
    serve_config_init(&c);
    c.model = MODEL;
    c.port = 0;
    c.threads = threads;
    c.f32 = !strcmp(dtype, "f32");
    c.max_merge = max_merge;
    server *s = serve_start(&c, &err);
    if (!s)
        die("server", err.msg);
    int port = serve_port(s);
    char *handles[TUNERS];
    for (int t = 0; t < TUNERS; t++)
        handles[t] = upload(port, &d);

    /* 1. one generation: local vs through the server (projection cached after the first request, as in a run) */
    char *body = score_body(handles[0], 1, z);
    post_score(port, body, NULL);
    scorer_score(&sc, &e, z, POP, scores, &err);
    double *loc = xmalloc((size_t)reps * sizeof *loc), *rem = xmalloc((size_t)reps * sizeof *rem);
    double *cms = xmalloc((size_t)reps * sizeof *cms);
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        if (scorer_score(&sc, &e, z, POP, scores, &err))
            die("local score", err.msg);
        loc[r] = now_seconds() - t0;
        rem[r] = post_score(port, body, &cms[r]);
    }
    double local_s = median(loc, reps), remote_s = median(rem, reps), compute_ms = median(cms, reps);
    size_t body_bytes = strlen(body);
    free(body);

    /* 2. four tuners: one after another, then all at once */
    tuner tn[TUNERS];
    for (int t = 0; t < TUNERS; t++) {
        tn[t].port = port;
        tn[t].gens = gens;
        tn[t].bodies = xmalloc((size_t)gens * sizeof *tn[t].bodies);
        for (int g = 0; g < gens; g++)
            tn[t].bodies[g] = score_body(handles[t], 100 + t, z + ((size_t)t * gens + g) * POP * DIM);
        post_score(port, tn[t].bodies[0], NULL); /* draw each tuner's projection before timing */
    }
    double t0 = now_seconds();
    for (int t = 0; t < TUNERS; t++)
        run_tuner(&tn[t]);
    double sequential_s = now_seconds() - t0;
    pthread_t th[TUNERS];
    t0 = now_seconds();
    for (int t = 0; t < TUNERS; t++)
        pthread_create(&th[t], NULL, run_tuner, &tn[t]);
    for (int t = 0; t < TUNERS; t++)
        pthread_join(th[t], NULL);
    double concurrent_s = now_seconds() - t0;

    printf("{\"model\": \"stories260K\", \"dtype\": \"%s\", \"threads\": %d, \"max_merge\": %d, \"batch\": \"%d x %d\", \"d\": %d, \"L\": %d,\n"
           " \"local_scorer_ms\": %.3f, \"native_route_ms\": %.3f, \"server_compute_ms\": %.3f,"
           " \"overhead_pct\": %.1f, \"request_bytes\": %zu,\n"
           " \"tuners\": %d, \"generations_each\": %d, \"one_after_another_s\": %.3f, \"together_s\": %.3f,"
           " \"speedup\": %.2f}\n",
           dtype, threads, max_merge, POP, e.n, DIM, PLEN, local_s * 1e3, remote_s * 1e3, compute_ms,
           100.0 * (remote_s - local_s) / local_s, body_bytes, TUNERS, gens, sequential_s, concurrent_s,
           sequential_s / concurrent_s);
    for (int t = 0; t < TUNERS; t++) {
        for (int g = 0; g < gens; g++)
            free(tn[t].bodies[g]);
        free(tn[t].bodies);
        free(handles[t]);
    }
    serve_stop(s);
    free(loc), free(rem), free(cms), free(z), free(scores);
    encoded_set_free(&e);
    dataset_free(&d);
    scorer_close(&sc);
    tune_config_free(&cfg);
    return 0;
}
