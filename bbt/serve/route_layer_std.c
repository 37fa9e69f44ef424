/* route_layer_std.c — POST /bbt/v1/layer_std: BBTv2's per-layer scales σ̂_l, measured on uploaded example sets.
 *
 * Body: {"handles": ["ex-…", …] (the parts of one training set, from POST /bbt/v1/examples), "layers": N,
 *        optional "prompt_b64": "…" + "prompt_dtype" f32|bf16|f16 (the untuned prompt, L × H; absent: zero)}
 * Answer: {"layer_std": [σ̂_1, …, σ̂_{N−1}], "layers": N, "n_examples", "compute_ms"}, each number printed so that it
 * reads back to the same double.
 * A client's σ̂_l must be what `bbt tune --deep` measures on a local model, so the server runs the tuner's own
 * function (bbt/deep.c's deep_measure_std) on its model: the hidden states of every sequence under the prompt, clipped
 * five times to μ ± 3σ. One forward pass per sequence, under the model lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bbt/deep.h"
#include "bbt/serve/jsonin.h"
#include "bbt/serve/serve_internal.h"
#include "bbt/util.h"

#define MAX_PARTS 16 /* a client splits a set into parts of at most 512 sequences */

typedef struct parts {
    example_set *set[MAX_PARTS];
    int n;
} parts;

static void release_parts(server *s, parts *p)
{
    for (int i = 0; i < p->n; i++)
        handles_release(&s->handles, p->set[i]);
    p->n = 0;
}

/* Hold every handle's set; on failure the reply says which handle and why (404 unknown, 400 malformed). */
static int hold_parts(server *s, const cJSON *root, parts *p, reply *rp)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "handles");
    int n = cJSON_IsArray(h) ? cJSON_GetArraySize(h) : 0;
    if (n < 1 || n > MAX_PARTS)
        return reply_error(rp, 400, "field \"handles\" must be an array of 1 .. %d handles (from POST "
                           "/bbt/v1/examples); it has %d", MAX_PARTS, n), -1;
    int i = 0;
    for (const cJSON *v = h->child; v; v = v->next, i++) {
        if (!cJSON_IsString(v))
            return reply_error(rp, 400, "field \"handles\"[%d] must be a string", i), -1;
        example_set *es = handles_get(&s->handles, v->valuestring);
        if (!es)
            return reply_error(rp, 404, "handle \"%.64s\" (\"handles\"[%d]) is unknown or has expired; upload the "
                               "examples again", v->valuestring, i), -1;
        p->set[p->n++] = es;
        if (es->enc.prompt_len != p->set[0]->enc.prompt_len || es->enc.mode != p->set[0]->enc.mode)
            return reply_error(rp, 400, "field \"handles\"[%d]: uploaded with another prompt_len or prompt_mode than "
                               "\"handles\"[0]", i), -1;
    }
    return 0;
}

/* The optional untuned prompt (L·H floats), or NULL with msg empty; NULL with msg set on error. */
static float *read_prompt(server *s, const cJSON *root, int prompt_len, char *msg)
{
    const char *b64 = NULL, *dtype = "f32";
    if (json_get_string(root, "prompt_b64", &b64, msg) < 0 || json_get_string(root, "prompt_dtype", &dtype, msg) < 0 ||
        !b64)
        return NULL;
    size_t n = (size_t)prompt_len * (size_t)s->info->hidden;
    float *p = xmalloc(n * sizeof *p);
    if (b64_floats(b64, dtype, "prompt_b64", n, p, msg)) {
        free(p);
        return NULL;
    }
    return p;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Measure on the held sets and answer. */
static void measure(server *s, const cJSON *root, parts *p, reply *rp)
{
    char msg[JSONIN_MSG] = "";
    int layers = 0;
    if (json_get_int(root, "layers", 1, s->info->layers, &layers, msg)) {
        reply_error(rp, 400, "field \"layers\" must be an integer 1 .. %d (the model's layers)", s->info->layers);
        return;
    }
    int L = p->set[0]->enc.prompt_len, total = 0;
    float *prompt = read_prompt(s, root, L, msg);
    if (msg[0]) {
        reply_error(rp, 400, "%s", msg);
        return;
    }
    for (int i = 0; i < p->n; i++)
        total += p->set[i]->set.n;
    lm_seq *seqs = xmalloc((size_t)total * sizeof *seqs);
    for (int i = 0, at = 0; i < p->n; at += p->set[i]->set.n, i++)
        memcpy(seqs + at, p->set[i]->set.seqs, (size_t)p->set[i]->set.n * sizeof *seqs);
    lm_batch b = {0};
    b.prompt_len = L;
    b.prompts = prompt;
    b.n_seqs = total;
    b.seqs = seqs;
    double *std = xcalloc((size_t)layers, sizeof *std);
    bbt_error err;
    pthread_mutex_lock(&s->lm_lock);
    double t0 = seconds_now();
    int rc = deep_measure_std(s->model, &b, layers, std, &err);
    double took = seconds_now() - t0;
    pthread_mutex_unlock(&s->lm_lock);
    if (rc) {
        reply_error(rp, 400, "%s", err.msg);
    } else {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "layer_std");
        for (int l = 1; l < layers; l++) { /* 17 significant digits read back bit for bit; cJSON's own printing
                                                 accepts 15 digits within an epsilon, which may lose the last ulp */
            char num[40];
            snprintf(num, sizeof num, "%.17g", std[l]);
            cJSON_AddItemToArray(a, cJSON_CreateRaw(num));
        }
        cJSON_AddNumberToObject(o, "layers", layers);
        cJSON_AddNumberToObject(o, "n_examples", total);
        cJSON_AddNumberToObject(o, "compute_ms", took * 1e3);
        reply_json_sized(rp, o);
    }
    free(std);
    free(seqs);
    free(prompt);
}

void route_layer_std(server *s, const request *rq, reply *rp)
{
    cJSON *root = request_json(rq, rp);
    if (!root)
        return;
    parts p = {.n = 0};
    if (!hold_parts(s, root, &p, rp))
        measure(s, root, &p, rp);
    release_parts(s, &p);
    cJSON_Delete(root);
}
