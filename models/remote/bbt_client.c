/* bbt_client.c — `bbt serve`'s native route as an lm.h backend.
 *
 * Examples go up once (POST /bbt/v1/examples, as token ids: the client's own encoding) and are known afterwards by a
 * handle; each generation then sends z and the projection's description (POST /bbt/v1/score). The handles are kept
 * by a hash of the example set's content, so a caller never names them; a 404 (the server restarted or let the set
 * expire) uploads the set again. Tokenizing goes through POST /tokenize and /detokenize, the embedding table (σ̂ and
 * the placeholders' rows of prompt files) through GET /bbt/v1/info?rows=….
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/base64.h"
#include "models/remote/remote.h"

#define N_HANDLES 16
#define ROWS_PER_GET 256      /* embedding rows per GET (the URL stays short) */
#define SEQS_PER_UPLOAD 512   /* examples per uploaded set (below the server's default --max-examples 1024) */

typedef struct handle_slot {
    uint64_t key;
    char *id;
    unsigned long used;
} handle_slot;

typedef struct rbbt {
    rhttp *http;
    lm_remote_stats *stats;
    float *emb;
    handle_slot handles[N_HANDLES];
    unsigned long tick;
    char *tok_text;           /* the last text tokenized, its flags and ids (encode asks for the size first) */
    int tok_flags, *tok_ids, tok_n;
} rbbt;

static rbbt *impl(lm *m) { return m->impl; }

static void rbbt_close(void *p)
{
    rbbt *r = p;
    if (!r)
        return;
    rhttp_free(r->http);
    free(r->http);
    free(r->stats);
    free(r->emb);
    for (int i = 0; i < N_HANDLES; i++)
        free(r->handles[i].id);
    free(r->tok_text);
    free(r->tok_ids);
    free(r);
}

/* ---- calls ---- */

/* A call whose answer must be 200 and a JSON object; else the message names the route, status and server's text. */
static cJSON *call_json(lm *m, const char *path, const char *body, long *status)
{
    rhttp_reply r;
    char msg[1024];
    *status = 0;
    if (rhttp_call(impl(m)->http, path, body, &r, msg, sizeof msg)) {
        rhttp_reply_free(&r);
        lm_fail(m, LM_EIO, "%s", msg);
        return NULL;
    }
    *status = r.status;
    cJSON *root = r.status == 200 ? cJSON_Parse(r.body ? r.body : "") : NULL;
    if (r.status != 200) {
        char text[400];
        rhttp_error_text(&r, text, sizeof text);
        lm_fail(m, LM_EREMOTE, "%s: %s %s answered %ld: %s", impl(m)->http->base, body ? "POST" : "GET", path,
                r.status, text);
    } else if (!cJSON_IsObject(root)) {
        lm_fail(m, LM_EREMOTE, "%s: %s answered 200 with a body that is not a JSON object: \"%.80s\"",
                impl(m)->http->base, path, r.body ? r.body : "");
        cJSON_Delete(root);
        root = NULL;
    }
    rhttp_reply_free(&r);
    return root;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

/* ---- opening: the model's description ---- */

static int read_info(lm *m, const char *text)
{
    cJSON *o = cJSON_Parse(text);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
    lm_info *in = &m->info;
    int rc = !cJSON_IsObject(o) || get_int(o, "hidden_size", 1, 1 << 20, &in->hidden) ||
             get_int(o, "vocab_size", 1, 1 << 28, &in->vocab) || get_int(o, "max_positions", 1, 1 << 28, &in->max_pos) ||
             get_int(o, "layers", 0, 1 << 16, &in->layers) || !cJSON_IsString(kind) || !cJSON_IsObject(sp);
    if (!rc) {
        in->kind = strcmp(kind->valuestring, "masked") ? LM_CAUSAL : LM_MASKED;
        const char *names[] = {"bos", "eos", "pad", "unk", "mask", "cls", "sep"};
        int *dst[] = {&in->bos, &in->eos, &in->pad, &in->unk, &in->mask, &in->cls, &in->sep};
        for (int i = 0; i < 7; i++)
            if (get_int(sp, names[i], -1, in->vocab - 1, dst[i]))
                rc = -1;
    }
    cJSON_Delete(o);
    if (rc)
        return lm_fail(m, LM_EREMOTE, "%s: GET /bbt/v1/info answered without hidden_size, vocab_size, max_positions, "
                       "layers, kind and special_tokens (or with values out of range)", m->path);
    in->arch = "remote:bbt";
    in->tokenizer = "remote";
    return LM_OK;
}

/* The embedding table, ROWS_PER_GET rows per request, as f32. */

/* count f32 values from strict base64 text into out: 1 when the text holds exactly that many. */
static int decode_rows(const char *text, float *out, size_t count)
{
    size_t len = strlen(text), bad_at, want = count * sizeof(float);
    if (common_b64_decoded_max(len) < want)
        return 0;
    unsigned char *buf = malloc(common_b64_decoded_max(len));
    long n = buf ? common_b64_decode(text, len, buf, &bad_at) : -1;
    if (n == (long)want)
        memcpy(out, buf, want);
    free(buf);
    return n == (long)want;
}
static int fetch_embeddings(lm *m)
{
    rbbt *r = impl(m);
    size_t H = (size_t)m->info.hidden, V = (size_t)m->info.vocab;
    r->emb = malloc(V * H * sizeof(float));
    char *path = malloc(64 + (size_t)ROWS_PER_GET * 12);
    if (!r->emb || !path)
        return free(path), lm_fail(m, LM_ENOMEM, "%s: no memory for the embedding table", m->path);
    int rc = LM_OK;
    for (size_t at = 0; at < V && !rc; at += ROWS_PER_GET) {
        size_t n = V - at < ROWS_PER_GET ? V - at : ROWS_PER_GET, len = 0;
        len += (size_t)sprintf(path, "/bbt/v1/info?rows=");
        for (size_t i = 0; i < n; i++)
            len += (size_t)sprintf(path + len, "%s%zu", i ? "," : "", at + i);
        long status;
        cJSON *o = call_json(m, path, NULL, &status);
        if (!o)
            rc = m->err[0] && status == 0 ? LM_EIO : LM_EREMOTE;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "rows_f32_b64");
        if (o && (!cJSON_IsString(b) || !decode_rows(b->valuestring, r->emb + at * H, n * H)))
            rc = lm_fail(m, LM_EREMOTE, "%s: GET /bbt/v1/info?rows=%zu..%zu: \"rows_f32_b64\" is missing or is not "
                         "%zu f32 values", m->path, at, at + n - 1, n * H);
        cJSON_Delete(o);
    }
    free(path);
    for (size_t i = 0; !rc && i < V * H; i++)
        if (!isfinite(r->emb[i]))
            rc = lm_fail(m, LM_EREMOTE, "%s: embedding row %zu holds a value that is not finite", m->path, i / H);
    m->embeddings = rc ? NULL : r->emb;
    return rc;
}

/* ---- tokenizer ---- */

static int rbbt_tokenize(lm *m, const char *text, size_t len, int flags, int *ids, int cap)
{
    rbbt *r = impl(m);
    int cached = r->tok_text && r->tok_flags == flags && strlen(r->tok_text) == len && !memcmp(r->tok_text, text, len);
    if (!cached) {
        char *t = malloc(len + 1);
        if (!t)
            return lm_fail(m, LM_ENOMEM, "out of memory");
        memcpy(t, text, len);
        t[len] = 0;
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "prompt", t);
        cJSON_AddBoolToObject(req, "add_special_tokens", (flags & LM_TOK_SPECIAL) != 0);
        char *body = cJSON_PrintUnformatted(req);
        cJSON_Delete(req);
        long status;
        cJSON *o = call_json(m, "/tokenize", body, &status);
        free(body);
        const cJSON *toks = cJSON_GetObjectItemCaseSensitive(o, "tokens");
        if (!o || !cJSON_IsArray(toks)) {
            cJSON_Delete(o);
            free(t);
            return o ? lm_fail(m, LM_EREMOTE, "%s: POST /tokenize answered without a \"tokens\" array", m->path)
                     : status == 0 ? LM_EIO : LM_EREMOTE;
        }
        int n = cJSON_GetArraySize(toks), i = 0, bad = 0;
        int *v = malloc(((size_t)n + 1) * sizeof *v);
        for (const cJSON *e = toks->child; e && v; e = e->next, i++) {
            bad |= !cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= m->info.vocab;
            v[i] = bad ? 0 : (int)e->valuedouble;
        }
        cJSON_Delete(o);
        if (!v || bad) {
            free(v);
            free(t);
            return v ? lm_fail(m, LM_EREMOTE, "%s: POST /tokenize answered a token id outside 0..%d", m->path,
                               m->info.vocab - 1)
                     : lm_fail(m, LM_ENOMEM, "out of memory");
        }
        free(r->tok_text);
        free(r->tok_ids);
        r->tok_text = t, r->tok_ids = v, r->tok_n = n, r->tok_flags = flags;
    }
    if (ids)
        memcpy(ids, r->tok_ids, (size_t)(r->tok_n < cap ? r->tok_n : cap) * sizeof *ids);
    return r->tok_n;
}

static int rbbt_detokenize(lm *m, const int *ids, int n, char *buf, size_t cap)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "tokens", cJSON_CreateIntArray(ids, n));
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    long status;
    cJSON *o = call_json(m, "/detokenize", body, &status);
    free(body);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (!o || !cJSON_IsString(p)) {
        cJSON_Delete(o);
        return o ? lm_fail(m, LM_EREMOTE, "%s: POST /detokenize answered without a \"prompt\" string", m->path)
                 : status == 0 ? LM_EIO : LM_EREMOTE;
    }
    int len = (int)strlen(p->valuestring);
    if (cap)
        snprintf(buf, cap, "%s", p->valuestring);
    cJSON_Delete(o);
    return len;
}

/* ---- example sets ---- */

static uint64_t mix(uint64_t h, int64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        h = (h ^ (uint64_t)(v & 0xff)) * 0x100000001b3ULL; /* FNV-1a */
    return h;
}

/* The content of an example set (sequences, labels and what the encoding depends on) as a 64-bit key. */
static uint64_t set_key(const lm_batch *b, int first, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = mix(h, b->prompt_len), h = mix(h, b->first_token_only), h = mix(h, n);
    for (int i = first; i < first + n; i++) {
        const lm_seq *q = &b->seqs[i];
        h = mix(h, q->mode), h = mix(h, q->prompt_pos), h = mix(h, q->read_pos), h = mix(h, q->n);
        for (int k = 0; k < q->n; k++)
            h = mix(h, q->ids[k]);
    }
    for (int j = 0; j < b->n_labels; j++)
        for (int k = 0; k < b->labels[j].n; k++)
            h = mix(h, b->labels[j].ids[k]);
    return mix(h, b->n_labels);
}

static char *examples_body(const lm_batch *b, int first, int n)
{
    cJSON *o = cJSON_CreateObject(), *tok = cJSON_AddObjectToObject(o, "token_ids");
    cJSON *seqs = cJSON_AddArrayToObject(tok, "sequences"), *labels = cJSON_AddArrayToObject(tok, "labels");
    for (int i = first; i < first + n; i++) {
        const lm_seq *q = &b->seqs[i];
        cJSON *s = cJSON_CreateObject();
        cJSON_AddItemToObject(s, "ids", cJSON_CreateIntArray(q->ids, q->n));
        cJSON_AddNumberToObject(s, "prompt_pos", q->prompt_pos);
        cJSON_AddNumberToObject(s, "read_pos", q->read_pos);
        cJSON_AddItemToArray(seqs, s);
    }
    for (int j = 0; j < b->n_labels; j++)
        cJSON_AddItemToArray(labels, cJSON_CreateIntArray(b->labels[j].ids, b->labels[j].n));
    cJSON_AddNumberToObject(o, "prompt_len", b->prompt_len);
    cJSON_AddStringToObject(o, "prompt_mode", b->seqs[first].mode == LM_PROMPT_CAT ? "cat" : "add");
    cJSON_AddBoolToObject(o, "first_token_only", b->first_token_only);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static handle_slot *find_handle(rbbt *r, uint64_t key)
{
    for (int i = 0; i < N_HANDLES; i++)
        if (r->handles[i].id && r->handles[i].key == key) {
            r->handles[i].used = ++r->tick;
            return &r->handles[i];
        }
    return NULL;
}

/* Upload examples first .. first+n-1 and keep the handle (replacing the least recently used). */
static handle_slot *upload(lm *m, const lm_batch *b, int first, int n, uint64_t key)
{
    rbbt *r = impl(m);
    char *body = examples_body(b, first, n);
    long status;
    cJSON *o = call_json(m, "/bbt/v1/examples", body, &status);
    free(body);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "handle");
    int count;
    if (o && (!cJSON_IsString(h) || get_int(o, "n_examples", n, n, &count))) {
        lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/examples answered without a \"handle\" or with another number of "
                "examples than the %d sent", m->path, n);
        cJSON_Delete(o);
        return NULL;
    }
    if (!o)
        return NULL;
    r->stats->uploads++;
    handle_slot *slot = &r->handles[0];
    for (int i = 1; i < N_HANDLES; i++)
        if (r->handles[i].used < slot->used)
            slot = &r->handles[i];
    free(slot->id);
    slot->id = strdup(h->valuestring);
    slot->key = key;
    slot->used = ++r->tick;
    cJSON_Delete(o);
    return slot->id ? slot : (lm_fail(m, LM_ENOMEM, "out of memory"), NULL);
}

/* ---- scoring ---- */

/* scores[c][i][j] of the answer into out[(c·stride_n + first + i)·C + j], checking the shape. */
static int read_scores(lm *m, const cJSON *o, int count, int first, int n, int n_all, int C, int raw_logits,
                       float *out)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "scores"), *raw = cJSON_GetObjectItemCaseSensitive(o, "raw_logits");
    if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) != count)
        return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/score: \"scores\" must hold %d candidates", m->path, count);
    if (cJSON_IsBool(raw) && cJSON_IsTrue(raw) != (raw_logits != 0))
        return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/score: the server scores %s but the caller asked for %s",
                       m->path, cJSON_IsTrue(raw) ? "logits" : "log-probabilities",
                       raw_logits ? "logits" : "log-probabilities");
    int c = 0;
    for (const cJSON *cand = s->child; cand; cand = cand->next, c++) {
        if (!cJSON_IsArray(cand) || cJSON_GetArraySize(cand) != n)
            return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/score: scores[%d] must hold %d examples", m->path, c, n);
        int i = 0;
        for (const cJSON *ex = cand->child; ex; ex = ex->next, i++) {
            if (!cJSON_IsArray(ex) || cJSON_GetArraySize(ex) != C)
                return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/score: scores[%d][%d] must hold %d labels", m->path, c,
                               i, C);
            int j = 0;
            for (const cJSON *v = ex->child; v; v = v->next, j++) {
                if (!cJSON_IsNumber(v) && !cJSON_IsNull(v))
                    return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/score: scores[%d][%d][%d] is not a number", m->path,
                                   c, i, j);
                /* null: the model's score was not finite (as a local run would have it: a broken candidate) */
                out[((size_t)c * n_all + first + i) * C + j] = cJSON_IsNull(v) ? NAN : (float)v->valuedouble;
            }
        }
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "compute_ms");
    if (cJSON_IsNumber(ms) && ms->valuedouble >= 0)
        impl(m)->stats->server_s += ms->valuedouble / 1e3;
    return LM_OK;
}

/* One part of the examples scored for every candidate; body_rest is the request without its handle ("…}" part). */
static int score_part(lm *m, const lm_batch *b, int first, int n, int count, cJSON *req, float *scores)
{
    uint64_t key = set_key(b, first, n);
    handle_slot *slot = find_handle(impl(m), key);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!slot && !(slot = upload(m, b, first, n, key)))
            return m->err[0] && strstr(m->err, "attempt") ? LM_EIO : LM_EREMOTE;
        cJSON_DeleteItemFromObjectCaseSensitive(req, "handle");
        cJSON_AddStringToObject(req, "handle", slot->id);
        char *body = cJSON_PrintUnformatted(req);
        impl(m)->stats->bytes_up_scoring += body ? (long long)strlen(body) : 0;
        long status;
        cJSON *o = call_json(m, "/bbt/v1/score", body, &status);
        free(body);
        if (o) {
            int rc = read_scores(m, o, count, first, n, b->n_seqs, b->n_labels, b->raw_logits, scores);
            cJSON_Delete(o);
            return rc;
        }
        if (status != 404)
            return status == 0 ? LM_EIO : LM_EREMOTE;
        free(slot->id); /* the server lost the set (restarted, or it expired): upload it again, once */
        slot->id = NULL;
        slot = NULL;
    }
    return LM_EREMOTE;
}

/* examples: n sequences; scores[(c·n + i)·C + j]. req holds the candidates (z or dense prompts). */
static int score_examples(lm *m, const lm_batch *ex, int count, cJSON *req, float *scores)
{
    int rc = LM_OK;
    for (int first = 0; first < ex->n_seqs && !rc; first += SEQS_PER_UPLOAD) {
        int n = ex->n_seqs - first < SEQS_PER_UPLOAD ? ex->n_seqs - first : SEQS_PER_UPLOAD;
        rc = score_part(m, ex, first, n, count, req, scores);
    }
    if (!rc)
        impl(m)->stats->candidates += count;
    return rc;
}

/* Which of the blocks (layers × dim each) differ between candidates, into vary[]; returns how many do. */
static int varying_blocks(const float *zf, int count, int dim, int blocks, int *vary)
{
    size_t per = (size_t)dim * (size_t)blocks;
    int k = 0;
    for (int l = 0; l < blocks; l++) {
        int differs = 0;
        for (int c = 1; c < count && !differs; c++)
            differs = memcmp(zf + (size_t)c * per + (size_t)l * dim, zf + (size_t)l * dim, (size_t)dim * sizeof *zf);
        if (differs)
            vary[k++] = l;
    }
    return k;
}

/* base64 of n floats as field `key` of req. */
static int add_floats(lm *m, cJSON *req, const char *key, const float *v, size_t n)
{
    char *b64 = common_b64_encode(v, n * sizeof *v);
    if (!b64)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    cJSON_AddStringToObject(req, key, b64);
    free(b64);
    return LM_OK;
}

/* z as base64 f32 (count × blocks × dim): the server rounds z to f32 whatever form it comes in (as the local
 * projection does), so this is exact, 4/3 · 4 bytes per value (2,668 bytes per candidate and block at d = 500; JSON
 * numbers take ~5x more). A BBTv2 generation moves one layer's block and holds the others at their best, so the blocks
 * every candidate shares go once ("z_shared_b64") and each candidate sends only those that vary ("z_layers"). */
static int add_z(lm *m, cJSON *req, const float *zf, int count, int dim, int blocks)
{
    cJSON_AddStringToObject(req, "z_dtype", "f32");
    cJSON_AddNumberToObject(req, "count", count);
    int *vary = malloc((size_t)blocks * sizeof *vary);
    if (!vary)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    int k = blocks > 1 && count > 1 ? varying_blocks(zf, count, dim, blocks, vary) : blocks;
    if (k == blocks) {
        free(vary);
        return add_floats(m, req, "z_b64", zf, (size_t)count * (size_t)dim * (size_t)blocks);
    }
    if (k == 0) /* every candidate the same: one block still goes per candidate (the route wants at least one) */
        vary[k++] = 0;
    float *own = malloc((size_t)count * (size_t)k * (size_t)dim * sizeof *own);
    if (!own) {
        free(vary);
        return lm_fail(m, LM_ENOMEM, "out of memory");
    }
    size_t per = (size_t)dim * (size_t)blocks;
    for (int c = 0; c < count; c++)
        for (int j = 0; j < k; j++)
            memcpy(own + ((size_t)c * k + j) * dim, zf + (size_t)c * per + (size_t)vary[j] * dim,
                   (size_t)dim * sizeof *own);
    cJSON_AddItemToObject(req, "z_layers", cJSON_CreateIntArray(vary, k));
    free(vary);
    int rc = add_floats(m, req, "z_shared_b64", zf, per) || add_floats(m, req, "z_b64", own, (size_t)count * k * dim);
    free(own);
    return rc ? LM_ENOMEM : LM_OK;
}

static int rbbt_score_projected(lm *m, const lm_batch *ex, const lm_projection *p, const double *z, int count,
                                float *scores)
{
    cJSON *req = cJSON_CreateObject(), *pj = cJSON_AddObjectToObject(req, "projection");
    cJSON_AddNumberToObject(pj, "seed", (double)p->seed);
    cJSON_AddStringToObject(pj, "distribution", p->distribution);
    cJSON_AddNumberToObject(pj, "d", p->dim);
    cJSON_AddNumberToObject(pj, "prompt_len", ex->prompt_len);
    cJSON_AddNumberToObject(pj, "alpha", p->alpha);
    cJSON_AddNumberToObject(pj, "sigma0", p->sigma0);
    cJSON_AddStringToObject(pj, "mode", ex->seqs[0].mode == LM_PROMPT_CAT ? "cat" : "add");
    int blocks = p->layers > 1 ? p->layers : 1;
    if (p->layers >= 1) { /* BBTv2: the server draws A_l (l >= 1) from the seed's stream l, scaled by σ̂_l */
        cJSON_AddNumberToObject(pj, "layers", p->layers);
        cJSON *ls = cJSON_AddArrayToObject(pj, "layer_std");
        for (int l = 1; l < p->layers; l++) {
            /* 17 significant digits read back bit for bit (cJSON's own printing may drop the last ulp) */
            char num[40];
            snprintf(num, sizeof num, "%.17g", p->layer_std[l]);
            cJSON_AddItemToArray(ls, cJSON_CreateRaw(num));
        }
    }
    size_t nz = (size_t)count * (size_t)p->dim * (size_t)blocks;
    float *zf = malloc(nz * sizeof *zf);
    int rc = zf ? LM_OK : lm_fail(m, LM_ENOMEM, "out of memory");
    for (size_t i = 0; zf && i < nz; i++)
        zf[i] = (float)z[i];
    if (zf)
        rc = add_z(m, req, zf, count, p->dim, blocks);
    free(zf);
    if (!rc)
        rc = score_examples(m, ex, count, req, scores);
    cJSON_Delete(req);
    return rc;
}

/* ---- BBTv2's layer scales: POST /bbt/v1/layer_std on the uploaded parts of the set ---- */

/* The request for every part of the set (uploaded when the client holds no handle for it). NULL on failure. */
static cJSON *layer_std_request(lm *m, const lm_batch *ex, int layers)
{
    cJSON *req = cJSON_CreateObject(), *hs = cJSON_AddArrayToObject(req, "handles");
    for (int first = 0; first < ex->n_seqs; first += SEQS_PER_UPLOAD) {
        int n = ex->n_seqs - first < SEQS_PER_UPLOAD ? ex->n_seqs - first : SEQS_PER_UPLOAD;
        uint64_t key = set_key(ex, first, n);
        handle_slot *slot = find_handle(impl(m), key);
        if (!slot && !(slot = upload(m, ex, first, n, key))) {
            cJSON_Delete(req);
            return NULL;
        }
        cJSON_AddItemToArray(hs, cJSON_CreateString(slot->id));
    }
    cJSON_AddNumberToObject(req, "layers", layers);
    if (ex->prompts) { /* the untuned prompt; none means zero */
        char *b64 = common_b64_encode(ex->prompts, (size_t)ex->prompt_len * (size_t)m->info.hidden * sizeof(float));
        if (!b64) {
            cJSON_Delete(req);
            lm_fail(m, LM_ENOMEM, "out of memory");
            return NULL;
        }
        cJSON_AddStringToObject(req, "prompt_b64", b64);
        free(b64);
    }
    return req;
}

/* "layer_std": σ̂_1 .. σ̂_{layers−1}, each a positive finite number, into std[1 ..]. */
static int read_layer_std(lm *m, const cJSON *o, int layers, double *std)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "layer_std");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != layers - 1)
        return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/layer_std: \"layer_std\" must hold %d numbers (layers 1 .. %d)",
                       m->path, layers - 1, layers - 1);
    int l = 1;
    for (const cJSON *v = a->child; v; v = v->next, l++) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
            return lm_fail(m, LM_EREMOTE, "%s: POST /bbt/v1/layer_std: layer_std[%d] is not a positive number", m->path,
                           l - 1);
        std[l] = v->valuedouble;
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "compute_ms");
    if (cJSON_IsNumber(ms) && ms->valuedouble >= 0)
        impl(m)->stats->server_s += ms->valuedouble / 1e3;
    return LM_OK;
}

/* Forget the handles of the set's parts (the server lost one of them). */
static void drop_handles(rbbt *r, const lm_batch *ex)
{
    for (int first = 0; first < ex->n_seqs; first += SEQS_PER_UPLOAD) {
        int n = ex->n_seqs - first < SEQS_PER_UPLOAD ? ex->n_seqs - first : SEQS_PER_UPLOAD;
        handle_slot *slot = find_handle(r, set_key(ex, first, n));
        if (slot) {
            free(slot->id);
            slot->id = NULL;
        }
    }
}

static int rbbt_layer_std(lm *m, const lm_batch *ex, int layers, double *std)
{
    if (layers < 2)
        return LM_OK; /* layer 0's scale is the embedding table's: nothing to measure */
    for (int attempt = 0; attempt < 2; attempt++) {
        cJSON *req = layer_std_request(m, ex, layers);
        if (!req)
            return m->err[0] && strstr(m->err, "attempt") ? LM_EIO : LM_EREMOTE;
        char *body = cJSON_PrintUnformatted(req);
        cJSON_Delete(req);
        long status = 0;
        cJSON *o = body ? call_json(m, "/bbt/v1/layer_std", body, &status) : NULL;
        free(body);
        if (o) {
            int rc = read_layer_std(m, o, layers, std);
            cJSON_Delete(o);
            return rc;
        }
        if (status != 404)
            return status == 0 ? LM_EIO : LM_EREMOTE;
        drop_handles(impl(m), ex); /* restarted or expired: upload again, once */
    }
    return LM_EREMOTE;
}

/* ---- the dense form (lm_score): prompts travel as base64 f32, for batches that are candidates × examples ---- */

/* Is the batch P candidates × n examples, sequence c·n + i being example i under prompt c? */
static int product_form(const lm_batch *b, int *n)
{
    if (b->n_prompts < 1 || !b->prompts || b->n_seqs % b->n_prompts)
        return 0;
    *n = b->n_seqs / b->n_prompts;
    for (int c = 0; c < b->n_prompts; c++)
        for (int i = 0; i < *n; i++) {
            const lm_seq *q = &b->seqs[(size_t)c * *n + i], *q0 = &b->seqs[i];
            if (q->prompt != c || q->ids != q0->ids || q->n != q0->n || q->mode != q0->mode ||
                q->prompt_pos != q0->prompt_pos || q->read_pos != q0->read_pos || q->mode == LM_PROMPT_NONE ||
                q->type_ids)
                return 0;
        }
    return 1;
}

static int rbbt_score(lm *m, const lm_batch *b, float *scores)
{
    int n;
    if (b->deep_prompts || !product_form(b, &n))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: a remote bbt model scores batches of candidate prompts × the same "
                       "examples (as bbt's scorer builds them), without deep prompts or token types", m->path);
    lm_batch ex = *b;
    ex.n_seqs = n;
    size_t floats = (size_t)b->n_prompts * (size_t)b->prompt_len * (size_t)m->info.hidden;
    char *b64 = common_b64_encode(b->prompts, floats * sizeof(float));
    if (!b64)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "prompts_b64", b64);
    cJSON_AddStringToObject(req, "prompts_dtype", "f32");
    cJSON_AddNumberToObject(req, "count", b->n_prompts);
    free(b64);
    int rc = score_examples(m, &ex, b->n_prompts, req, scores);
    cJSON_Delete(req);
    return rc;
}

static int no_logits(lm *m, const int *ids, int n, float *out)
{
    (void)ids, (void)n, (void)out;
    return lm_fail(m, LM_EUNSUPPORTED, "%s: a remote bbt model scores label words only (no full logits here)", m->path);
}

static void rbbt_stats(const lm *m, lm_remote_stats *out) { *out = *((const rbbt *)m->impl)->stats; }

static const lm_ops rbbt_ops = {
    .name = "remote:bbt",
    .close = rbbt_close,
    .score = rbbt_score,
    .logits = no_logits,
    .tokenize = rbbt_tokenize,
    .detokenize = rbbt_detokenize,
    .score_projected = rbbt_score_projected,
    .layer_std = rbbt_layer_std,
    .remote_stats = rbbt_stats,
};

int rbbt_open(lm *m, rhttp *http, lm_remote_stats *stats, const char *info)
{
    rbbt *r = calloc(1, sizeof *r);
    if (!r)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    int rc = read_info(m, info);
    if (rc) {
        free(r);
        return rc;
    }
    r->http = http;
    r->stats = stats;
    m->impl = r;
    m->ops = &rbbt_ops;
    rc = fetch_embeddings(m);
    if (rc) { /* the caller frees http and stats */
        r->http = NULL, r->stats = NULL;
        rbbt_close(r);
        m->impl = NULL, m->ops = NULL;
    }
    return rc;
}
