/* route_score.c — POST /bbt/v1/score: label scores of a population on an uploaded set, the paper's compressed query.
 *
 * Body: {"handle": "ex-…",
 *        "projection": {"seed": S, "distribution": "normal" | "uniform", "d": D, "prompt_len": L, "alpha": α,
 *                       "sigma0": σ0, "mode": "add" | "cat"},
 *        "z": [[D numbers], …]  or  "z_b64": "…", "z_dtype": "f32" | "bf16" | "f16", "count": N}
 *   or, for clients that project themselves: {"handle", "prompts_b64": "…" ([N][L][H]), "prompts_dtype", "count": N}.
 * The server rebuilds A with bbt/projection.c (the tuner's code and PCG stream) and σ̂ of its own model, so the scores
 * are those of `bbt tune`'s scorer: scores[c][i][j], candidate c, example i, label j.
 * BBTv2 (deep prompts): the projection also says "layers": N and "layer_std": [σ̂_1 … σ̂_{N−1}], and each candidate's
 * z is N blocks of D values (whole, or the blocks every candidate shares once in "z_shared_b64" and each candidate's
 * own blocks, those "z_layers" lists, in "z_b64": read_z); the server draws A_l with bbt/deep.c's deep_layer_projection and scores with
 * lm_batch.deep_prompts, as `bbt tune --deep` does locally (deep_apply_projections).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/config.h"
#include "bbt/deep.h"
#include "bbt/serve/jsonin.h"
#include "bbt/serve/serve_internal.h"
#include "bbt/util.h"

static int read_projection(server *s, const cJSON *p, const example_set *es, proj_key *k, char *msg)
{
    if (!cJSON_IsObject(p))
        return snprintf(msg, JSONIN_MSG, "field \"projection\" must be an object (seed, distribution, d, prompt_len, "
                        "alpha, sigma0, mode)"), -1;
    const char *dist = "normal", *mode = "add";
    double seed = 0;
    memset(k, 0, sizeof *k);
    k->alpha = 1.0;
    k->sigma0 = 1.0;
    k->prompt_len = es->enc.prompt_len;
    if (json_get_double(p, "seed", 0, 18446744073709549568.0, &seed, msg) < 0 || seed != floor(seed) ||
        json_get_string(p, "distribution", &dist, msg) < 0 || json_get_string(p, "mode", &mode, msg) < 0 ||
        json_get_int(p, "d", 1, 1 << 30, &k->dim, msg) || json_get_int(p, "prompt_len", 1, 1 << 20,
                                                                              &k->prompt_len, msg) < 0 ||
        json_get_double(p, "alpha", 1e-30, 1e30, &k->alpha, msg) < 0 ||
        json_get_double(p, "sigma0", 1e-30, 1e30, &k->sigma0, msg) < 0) {
        if (!msg[0] || seed != floor(seed))
            snprintf(msg, JSONIN_MSG, "projection: \"d\" (1..%d, the limit --max-dim) and an integer \"seed\" are "
                     "required", s->cfg.max_dim);
        return -1;
    }
    if (k->dim > s->cfg.max_dim)
        return snprintf(msg, JSONIN_MSG, "projection: d is %d; the limit (--max-dim) is %d", k->dim, s->cfg.max_dim), -1;
    k->seed = (uint64_t)seed;
    int kind = config_choice_value("projection", dist);
    if (kind < 0)
        return snprintf(msg, JSONIN_MSG, "projection: \"distribution\" is \"%s\" (expected normal or uniform)", dist), -1;
    k->kind = (projection_kind)kind;
    const char *uploaded = config_choice_name("prompt_mode", es->enc.mode);
    if (strcmp(mode, uploaded))
        return snprintf(msg, JSONIN_MSG, "projection: mode \"%s\" but the examples were uploaded for %s mode", mode,
                        uploaded), -1;
    if (k->prompt_len != es->enc.prompt_len)
        return snprintf(msg, JSONIN_MSG, "projection: prompt_len %d but the examples were uploaded with %d",
                        k->prompt_len, es->enc.prompt_len), -1;
    if ((double)k->prompt_len * s->info->hidden * k->dim * 4 > (double)((size_t)1 << 30))
        return snprintf(msg, JSONIN_MSG, "projection: A (L·H × d = %d·%d × %d floats) exceeds 1 GiB", k->prompt_len,
                        s->info->hidden, k->dim), -1;
    return 0;
}

/* BBTv2's part of the projection: "layers" (absent: 1, BBT) and "layer_std", σ̂_1 .. σ̂_{N−1}, into std[1 ..]
 * (std has room for every layer of the model). */
static int read_deep(server *s, const cJSON *p, const proj_key *k, int *layers, double *std, char *msg)
{
    *layers = 1;
    int model = s->info->layers;
    if (json_get_int(p, "layers", 1, model, layers, msg) < 0)
        return snprintf(msg, JSONIN_MSG, "projection: \"layers\" must be an integer 1 .. %d (the model's layers)",
                        model), -1;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "layer_std");
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if ((a || *layers > 1) && n != *layers - 1)
        return snprintf(msg, JSONIN_MSG, "projection: \"layer_std\" must be an array of %d numbers (σ̂_1 .. σ̂_%d, "
                        "one per layer after the first)", *layers - 1, *layers - 1), -1;
    int l = 1;
    for (const cJSON *v = a ? a->child : NULL; v; v = v->next, l++) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
            return snprintf(msg, JSONIN_MSG, "projection: \"layer_std\"[%d] (σ̂_%d) must be a positive finite number",
                            l - 1, l), -1;
        std[l] = v->valuedouble;
    }
    double bytes = (double)(*layers - 1) * k->prompt_len * s->info->hidden * k->dim * 4;
    if (bytes > (double)PROJCACHE_BYTES)
        return snprintf(msg, JSONIN_MSG, "projection: \"layers\" %d: A_1 .. A_%d (%d × L·H × d floats) exceed the %d "
                        "GiB the server keeps for projections", *layers, *layers - 1, *layers - 1,
                        (int)(PROJCACHE_BYTES >> 30)), -1;
    return 0;
}

static int read_count(server *s, const cJSON *root, int *count, char *msg)
{
    if (json_get_int(root, "count", 1, s->cfg.max_batch, count, msg))
        return msg[0] ? -1 : (snprintf(msg, JSONIN_MSG, "field \"count\" (the number of candidates, 1..%d) is "
                                       "required with base64 data", s->cfg.max_batch), -1);
    return 0;
}

/* z as JSON rows or base64 (dim values per candidate); into doubles, as the tuner hands them to projection_apply. */
static double *read_z_rows(server *s, const cJSON *root, int dim, int *count, char *msg)
{
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(root, "z");
    const char *b64 = NULL, *dtype = "f32";
    if (json_get_string(root, "z_b64", &b64, msg) < 0 || json_get_string(root, "z_dtype", &dtype, msg) < 0)
        return NULL;
    if (!z && !b64) {
        snprintf(msg, JSONIN_MSG, "give \"z\" (an array of candidate vectors), \"z_b64\" or \"prompts_b64\"");
        return NULL;
    }
    if (z) {
        *count = cJSON_IsArray(z) ? cJSON_GetArraySize(z) : 0;
        if (*count < 1 || *count > s->cfg.max_batch) {
            snprintf(msg, JSONIN_MSG, "field \"z\" must hold 1..%d candidates (the limit --max-batch); it has %d",
                     s->cfg.max_batch, *count);
            return NULL;
        }
    } else if (read_count(s, root, count, msg)) {
        return NULL;
    }
    size_t n = (size_t)*count * (size_t)dim;
    float *f = xmalloc(n * sizeof *f);
    int rc = 0, c = 0;
    if (z)
        for (const cJSON *row = z->child; row && !rc; row = row->next, c++) {
            char what[32];
            snprintf(what, sizeof what, "z[%d]", c);
            rc = json_float_array(row, what, (size_t)dim, f + (size_t)c * dim, msg);
        }
    else
        rc = b64_floats(b64, dtype, "z_b64", n, f, msg);
    double *out = rc ? NULL : xmalloc(n * sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = f[i];
    free(f);
    return out;
}

/* "z_layers": the blocks each candidate gives (strictly increasing, 0 .. layers−1), into ids (k of them). */
static int read_z_layers(const cJSON *root, int layers, int **ids, int *k, char *msg)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "z_layers");
    if (!a)
        return snprintf(msg, JSONIN_MSG, "field \"z_layers\" (the layers whose block each candidate gives) is "
                        "required with \"z_shared_b64\""), -1;
    if (json_int_array(a, "z_layers", 0, layers - 1, layers, ids, k, msg))
        return -1;
    for (int j = 0; j < *k; j++)
        if (j && (*ids)[j] <= (*ids)[j - 1])
            return snprintf(msg, JSONIN_MSG, "field \"z_layers\" must be strictly increasing layer indices 0 .. %d",
                            layers - 1), -1;
    if (*k < 1)
        return snprintf(msg, JSONIN_MSG, "field \"z_layers\" must name at least one layer"), -1;
    return 0;
}

/* Every candidate's z, dim × layers values. Either each candidate whole (z, or z_b64), or — BBTv2, where a generation
 * moves one layer's block and holds the others — the blocks shared by every candidate once ("z_shared_b64": layers ×
 * dim values; its blocks listed in z_layers are ignored) and each candidate's own blocks ("z_layers": [l, …], z_b64:
 * count × |z_layers| × dim values). */
static double *read_z(server *s, const cJSON *root, int dim, int layers, int *count, char *msg)
{
    const char *shared = NULL, *dtype = "f32";
    if (json_get_string(root, "z_shared_b64", &shared, msg) < 0 || json_get_string(root, "z_dtype", &dtype, msg) < 0)
        return NULL;
    if (!shared)
        return read_z_rows(s, root, dim * layers, count, msg);
    int *ids = NULL, k = 0;
    size_t per = (size_t)dim * (size_t)layers;
    float *base = xmalloc(per * sizeof *base);
    double *own = NULL, *out = NULL;
    if (layers < 2)
        snprintf(msg, JSONIN_MSG, "field \"z_shared_b64\" is for deep requests (projection \"layers\" >= 2)");
    else if (!read_z_layers(root, layers, &ids, &k, msg) && !b64_floats(shared, dtype, "z_shared_b64", per, base, msg))
        own = read_z_rows(s, root, dim * k, count, msg);
    if (own) {
        out = xmalloc((size_t)*count * per * sizeof *out);
        for (int c = 0; c < *count; c++) {
            double *zc = out + (size_t)c * per;
            for (size_t i = 0; i < per; i++)
                zc[i] = base[i];
            for (int j = 0; j < k; j++)
                memcpy(zc + (size_t)ids[j] * dim, own + ((size_t)c * k + j) * dim, (size_t)dim * sizeof *zc);
        }
    }
    free(own);
    free(ids);
    free(base);
    return out;
}

/* A_0 .. A_{N−1} from the cache, held in e[] (the caller releases them); NULL-free on success. */
static int hold_projections(server *s, const proj_key *key, int layers, const double *std, proj_entry **e, char *msg)
{
    for (int l = 0; l < layers; l++) {
        proj_key k = *key;
        k.layer = l;
        k.layer_std = l ? std[l] : 0;
        bbt_error err;
        if (!(e[l] = projcache_get(&s->projs, &k, &err))) {
            snprintf(msg, JSONIN_MSG, "%s", err.msg);
            return -1;
        }
    }
    return 0;
}

/* The prompts for every candidate (A·z through the cached projection, or given densely) and, for a deep request, its
 * per-layer prompts (*deep: count × model layers × L·H; NULL otherwise). */
static float *candidate_prompts(server *s, const cJSON *root, const example_set *es, int *count, float **deep,
                                char *msg)
{
    *deep = NULL;
    size_t rows = (size_t)es->enc.prompt_len * (size_t)s->info->hidden;
    const char *dense = NULL, *dtype = "f32";
    if (json_get_string(root, "prompts_b64", &dense, msg) < 0 || json_get_string(root, "prompts_dtype", &dtype, msg) < 0)
        return NULL;
    if (dense) {
        if (read_count(s, root, count, msg))
            return NULL;
        float *p = xmalloc((size_t)*count * rows * sizeof *p);
        if (b64_floats(dense, dtype, "prompts_b64", (size_t)*count * rows, p, msg)) {
            free(p);
            return NULL;
        }
        return p;
    }
    proj_key key;
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(root, "projection");
    int layers = 1, model = s->info->layers;
    double *std = xcalloc((size_t)model + 1, sizeof *std);
    proj_entry **e = xcalloc((size_t)model + 1, sizeof *e);
    double *z = NULL;
    float *p = NULL;
    if (!read_projection(s, pj, es, &key, msg) && !read_deep(s, pj, &key, &layers, std, msg) &&
        (z = read_z(s, root, key.dim, layers, count, msg)) && !hold_projections(s, &key, layers, std, e, msg)) {
        p = xmalloc((size_t)*count * rows * sizeof *p);
        if (layers > 1) {
            *deep = xmalloc((size_t)*count * (size_t)model * rows * sizeof **deep);
            const projection **proj = xmalloc((size_t)layers * sizeof *proj);
            for (int l = 0; l < layers; l++)
                proj[l] = &e[l]->proj;
            deep_apply_projections(proj, layers, model, z, *count, p, *deep);
            free(proj);
        } else {
            projection_apply(&e[0]->proj, z, *count, p);
        }
    }
    for (int l = 0; l < layers; l++)
        if (e[l])
            projcache_release(&s->projs, e[l]);
    free(e);
    free(std);
    free(z);
    return p;
}

static cJSON *scores_json(const float *scores, int count, int n, int labels)
{
    cJSON *all = cJSON_CreateArray();
    for (int c = 0; c < count; c++) {
        cJSON *cand = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            const float *row = scores + ((size_t)c * n + i) * labels;
            cJSON *ex = cJSON_CreateArray();
            for (int j = 0; j < labels; j++)
                cJSON_AddItemToArray(ex, isfinite(row[j]) ? cJSON_CreateNumber(row[j]) : cJSON_CreateNull());
            cJSON_AddItemToArray(cand, ex);
        }
        cJSON_AddItemToArray(all, cand);
    }
    return all;
}

static void score_set(server *s, const request *rq, reply *rp, const cJSON *root, example_set *es)
{
    char msg[JSONIN_MSG] = "";
    int count = 0;
    float *deep = NULL;
    float *prompts = candidate_prompts(s, root, es, &count, &deep, msg);
    if (!prompts) {
        reply_error(rp, 400, "%s", msg);
        return;
    }
    int n = es->set.n, L = es->labels.n;
    lm_seq *seqs = xmalloc((size_t)count * (size_t)n * sizeof *seqs);
    for (int c = 0; c < count; c++)
        for (int i = 0; i < n; i++) {
            seqs[(size_t)c * n + i] = es->set.seqs[i];
            seqs[(size_t)c * n + i].prompt = c;
        }
    float *scores = xmalloc((size_t)count * (size_t)n * (size_t)L * sizeof *scores);
    score_job job = {.n_prompts = count, .prompt_len = es->enc.prompt_len, .prompts = prompts,
                     .deep_prompts = deep, .n_seqs = count * n,
                     .seqs = seqs, .n_labels = L, .labels = es->labels.labels, .raw_logits = es->raw_logits,
                     .first_token_only = es->first_token_only, .scores = scores};
    if (queue_run(&s->queue, &job) != LM_OK) {
        reply_error(rp, job.rc == LM_EINVAL ? 400 : 503, "scoring failed: %s", job.err);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "scores", scores_json(scores, count, n, L));
        cJSON_AddNumberToObject(o, "n_candidates", count);
        cJSON_AddNumberToObject(o, "n_examples", n);
        cJSON_AddNumberToObject(o, "n_labels", L);
        cJSON_AddBoolToObject(o, "raw_logits", es->raw_logits);
        cJSON_AddNumberToObject(o, "compute_ms", job.forward_s * 1e3);
        cJSON_AddNumberToObject(o, "queue_ms", job.queue_s * 1e3);
        cJSON_AddNumberToObject(o, "batch_sequences", job.batch_seqs);
        cJSON_AddNumberToObject(o, "bytes_in", (double)rq->len);
        reply_json_sized(rp, o);
    }
    free(scores);
    free(seqs);
    free(prompts);
    free(deep);
}

void route_score(server *s, const request *rq, reply *rp)
{
    cJSON *root = request_json(rq, rp);
    if (!root)
        return;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "handle");
    example_set *es = cJSON_IsString(h) ? handles_get(&s->handles, h->valuestring) : NULL;
    if (!cJSON_IsString(h))
        reply_error(rp, 400, "field \"handle\" (from POST /bbt/v1/examples) is required");
    else if (!es)
        reply_error(rp, 404, "handle \"%.64s\" is unknown or has expired (the server keeps --max-handles %d sets); "
                    "upload the examples again", h->valuestring, s->cfg.max_handles);
    else
        score_set(s, rq, rp, root, es);
    if (es)
        handles_release(&s->handles, es);
    cJSON_Delete(root);
}
