/* model_writer.c — random-weight Llama models in the llama2.c and Hugging Face formats (see model_writer.h). */
#include "experiments/bench/model_writer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n values uniform on [center - a, center + a] with a = std·√3. */
static void fill(float *x, size_t n, float center, float std, uint64_t *rng)
{
    float a = std * 1.7320508f;
    for (size_t i = 0; i < n; i++)
        x[i] = center + a * (2.0f * (float)((double)(next_u64(rng) >> 11) * 0x1.0p-53) - 1.0f);
}

int mw_random(mw_model *m, const mw_shape *s, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->s = *s;
    size_t D = (size_t)s->dim, F = (size_t)s->ffn, L = (size_t)s->layers, V = (size_t)s->vocab;
    size_t hd = D / (size_t)s->heads, QD = (size_t)s->heads * hd, KVD = (size_t)s->kv_heads * hd;
    struct {
        float **p;
        size_t n;
        float center, std;
    } parts[] = {
        {&m->emb, V * D, 0.0f, 0.5f},
        {&m->attn_norm, L * D, 1.0f, 0.1f},
        {&m->wq, L * QD * D, 0.0f, 1.0f / sqrtf((float)D)},
        {&m->wk, L * KVD * D, 0.0f, 1.0f / sqrtf((float)D)},
        {&m->wv, L * KVD * D, 0.0f, 1.0f / sqrtf((float)D)},
        {&m->wo, L * D * QD, 0.0f, 1.0f / sqrtf((float)QD)},
        {&m->ffn_norm, L * D, 1.0f, 0.1f},
        {&m->w1, L * F * D, 0.0f, 1.0f / sqrtf((float)D)},
        {&m->w2, L * D * F, 0.0f, 1.0f / sqrtf((float)F)},
        {&m->w3, L * F * D, 0.0f, 1.0f / sqrtf((float)D)},
        {&m->final_norm, D, 1.0f, 0.1f},
        {&m->head, s->tied ? 0 : V * D, 0.0f, 1.0f / sqrtf((float)D)},
        {&m->bq, s->qkv_bias ? L * QD : 0, 0.0f, 0.5f},
        {&m->bk, s->qkv_bias ? L * KVD : 0, 0.0f, 0.5f},
        {&m->bv, s->qkv_bias ? L * KVD : 0, 0.0f, 0.5f},
    };
    uint64_t rng = seed;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        if (!parts[i].n)
            continue;
        if (!(*parts[i].p = malloc(parts[i].n * sizeof(float)))) {
            mw_free(m);
            return -1;
        }
        fill(*parts[i].p, parts[i].n, parts[i].center, parts[i].std, &rng);
    }
    return 0;
}

void mw_free(mw_model *m)
{
    float *all[] = {m->emb, m->attn_norm, m->wq, m->wk, m->wv, m->wo, m->ffn_norm, m->w1, m->w2, m->w3,
                    m->final_norm, m->head, m->bq, m->bk, m->bv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
    memset(m, 0, sizeof *m);
}

/* Write to path.tmp, fsync, rename. */
static int write_atomic(const char *path, const void *const *parts, const size_t *sizes, int n, char *err,
                        size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    int rc = fp ? 0 : -1;
    for (int i = 0; !rc && i < n; i++)
        rc = !sizes[i] || fwrite(parts[i], 1, sizes[i], fp) == sizes[i] ? 0 : -1;
    if (fp) {
        rc |= fflush(fp) || fsync(fileno(fp));
        rc |= fclose(fp);
    }
    if (!rc && rename(tmp, path))
        rc = -1;
    if (rc) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

int mw_write_llama2c(const mw_model *m, const char *path, char *err, size_t errlen)
{
    const mw_shape *s = &m->s;
    if (s->qkv_bias || s->window) {
        snprintf(err, errlen, "%s: llama2.c checkpoints hold no biases and no attention window", path);
        return -1;
    }
    size_t D = (size_t)s->dim, F = (size_t)s->ffn, L = (size_t)s->layers, V = (size_t)s->vocab;
    size_t hd = D / (size_t)s->heads, QD = (size_t)s->heads * hd, KVD = (size_t)s->kv_heads * hd;
    int32_t header[7] = {s->dim, s->ffn, s->layers, s->heads, s->kv_heads, s->tied ? s->vocab : -s->vocab,
                         s->max_pos};
    size_t rope_n = (size_t)s->max_pos * hd; /* run.c's two unused rotary tables */
    float *rope = calloc(rope_n ? rope_n : 1, sizeof(float));
    if (!rope) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const void *parts[] = {header, m->emb, m->attn_norm, m->wq, m->wk, m->wv, m->wo, m->ffn_norm, m->w1, m->w2,
                           m->w3, m->final_norm, rope, m->head};
    size_t f = sizeof(float);
    size_t sizes[] = {sizeof header, V * D * f, L * D * f, L * QD * D * f, L * KVD * D * f, L * KVD * D * f,
                      L * D * QD * f, L * D * f, L * F * D * f, L * D * F * f, L * F * D * f, D * f, rope_n * f,
                      s->tied ? 0 : V * D * f};
    int rc = write_atomic(path, parts, sizes, 14, err, errlen);
    free(rope);
    return rc;
}

/* q/k rows of one layer in Hugging Face's order: HF row c·(d/2) + j holds our row 2j + c. */
static float *permute_for_hf(const float *w, int heads, int hd, size_t k)
{
    float *out = malloc((size_t)heads * hd * k * sizeof *out);
    if (!out)
        return NULL;
    int half = hd / 2;
    for (int h = 0; h < heads; h++)
        for (int c = 0; c < 2; c++)
            for (int j = 0; j < half; j++)
                memcpy(out + ((size_t)h * hd + c * half + j) * k, w + ((size_t)h * hd + 2 * j + c) * k,
                       k * sizeof(float));
    return out;
}

static int write_config(const mw_model *m, const char *dir, st_dtype dtype, char *err, size_t errlen)
{
    const mw_shape *s = &m->s;
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(s->qkv_bias ? "Qwen2ForCausalLM" : s->window ? "MistralForCausalLM"
                                                                                          : "LlamaForCausalLM"));
    cJSON_AddStringToObject(c, "model_type", s->qkv_bias ? "qwen2" : s->window ? "mistral" : "llama");
    if (s->window) {
        cJSON_AddNumberToObject(c, "sliding_window", s->window);
        if (s->qkv_bias) /* Qwen2 uses the window only when told to */
            cJSON_AddBoolToObject(c, "use_sliding_window", 1);
    }
    cJSON_AddNumberToObject(c, "hidden_size", s->dim);
    cJSON_AddNumberToObject(c, "intermediate_size", s->ffn);
    cJSON_AddNumberToObject(c, "num_hidden_layers", s->layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", s->heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", s->kv_heads);
    cJSON_AddNumberToObject(c, "vocab_size", s->vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings", s->max_pos);
    cJSON_AddNumberToObject(c, "rms_norm_eps", 1e-5);
    cJSON_AddNumberToObject(c, "rope_theta", 10000.0);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", s->tied);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddNumberToObject(c, "bos_token_id", 1);
    cJSON_AddNumberToObject(c, "eos_token_id", 2);
    cJSON_AddStringToObject(c, "torch_dtype", dtype == ST_F32 ? "float32" : dtype == ST_F16 ? "float16" : "bfloat16");
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const void *parts[] = {text};
    size_t sizes[] = {text ? strlen(text) : 0};
    int rc = text ? write_atomic(path, parts, sizes, 1, err, errlen) : -1;
    free(text);
    return rc;
}

enum { MAX_TENSORS = 16 };


typedef struct tlist {
    st_out t[MAX_TENSORS];
    char names[MAX_TENSORS][96];
    float *owned[MAX_TENSORS];
    int n;
} tlist;

static void add2(tlist *l, const char *name, const float *data, int64_t rows, int64_t cols, st_dtype dt, int ndim,
                 float *owned)
{
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", name);
    l->t[l->n] = (st_out){l->names[l->n], dt, ndim, {rows, cols}, data};
    l->owned[l->n++] = owned;
}

static void tlist_free(tlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->owned[i]);
    l->n = 0;
}

/* The tensors of layer `layer` (or the globals when layer < 0) into l. */
static int layer_tensors(const mw_model *m, int layer, st_dtype dt, tlist *l)
{
    const mw_shape *s = &m->s;
    int64_t D = s->dim, F = s->ffn, V = s->vocab, hd = D / s->heads, QD = s->heads * hd, KVD = s->kv_heads * hd;
    char name[96];
    if (layer < 0) {
        add2(l, "model.embed_tokens.weight", m->emb, V, D, dt, 2, NULL);
        add2(l, "model.norm.weight", m->final_norm, D, 0, dt, 1, NULL);
        if (!s->tied)
            add2(l, "lm_head.weight", m->head, V, D, dt, 2, NULL);
        return 0;
    }
    size_t i = (size_t)layer;
    float *q = permute_for_hf(m->wq + i * QD * D, s->heads, (int)hd, (size_t)D);
    float *k = permute_for_hf(m->wk + i * KVD * D, s->kv_heads, (int)hd, (size_t)D);
    float *bq = s->qkv_bias ? permute_for_hf(m->bq + i * QD, s->heads, (int)hd, 1) : NULL;
    float *bk = s->qkv_bias ? permute_for_hf(m->bk + i * KVD, s->kv_heads, (int)hd, 1) : NULL;
    if (!q || !k || (s->qkv_bias && (!bq || !bk))) {
        free(q), free(k), free(bq), free(bk);
        return -1;
    }
#define LAYER(part, data, r, c, nd, own)                                                                              \
    do {                                                                                                              \
        snprintf(name, sizeof name, "model.layers.%d.%s", layer, part);                                               \
        add2(l, name, data, r, c, dt, nd, own);                                                                       \
    } while (0)
    LAYER("input_layernorm.weight", m->attn_norm + i * D, D, 0, 1, NULL);
    LAYER("self_attn.q_proj.weight", q, QD, D, 2, q);
    LAYER("self_attn.k_proj.weight", k, KVD, D, 2, k);
    LAYER("self_attn.v_proj.weight", m->wv + i * KVD * D, KVD, D, 2, NULL);
    LAYER("self_attn.o_proj.weight", m->wo + i * D * QD, D, QD, 2, NULL);
    if (s->qkv_bias) {
        LAYER("self_attn.q_proj.bias", bq, QD, 0, 1, bq);
        LAYER("self_attn.k_proj.bias", bk, KVD, 0, 1, bk);
        LAYER("self_attn.v_proj.bias", m->bv + i * KVD, KVD, 0, 1, NULL);
    }
    LAYER("post_attention_layernorm.weight", m->ffn_norm + i * D, D, 0, 1, NULL);
    LAYER("mlp.gate_proj.weight", m->w1 + i * F * D, F, D, 2, NULL);
    LAYER("mlp.up_proj.weight", m->w3 + i * F * D, F, D, 2, NULL);
    LAYER("mlp.down_proj.weight", m->w2 + i * D * F, D, F, 2, NULL);
#undef LAYER
    return 0;
}

/* Which shard holds layer `layer` (globals go to the first). */
static int shard_of(int layer, int layers, int shards) { return layer < 0 ? 0 : (int)((long)layer * shards / layers); }

int mw_write_hf(const mw_model *m, const char *dir, st_dtype dtype, int shards, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    if (shards < 1)
        shards = 1;
    if (shards > m->s.layers)
        shards = m->s.layers;
    if (write_config(m, dir, dtype, err, errlen))
        return -1;
    char stale[4096]; /* the other layout's files from an earlier write would shadow or contradict this one */
    snprintf(stale, sizeof stale, "%s/%s", dir, shards > 1 ? "model.safetensors" : "model.safetensors.index.json");
    unlink(stale);
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    cJSON_AddObjectToObject(index, "metadata");
    int rc = 0;
    for (int sh = 0; !rc && sh < shards; sh++) {
        /* a shard's tensors: the globals in the first, then its layers; written in one call */
        int count = 0;
        for (int l = -1; l < m->s.layers; l++)
            count += shard_of(l, m->s.layers, shards) == sh;
        tlist *lists = calloc((size_t)count, sizeof *lists);
        st_out *all = calloc((size_t)count * MAX_TENSORS, sizeof *all);
        int n = 0, k = 0;
        rc = lists && all ? 0 : -1;
        for (int l = -1; !rc && l < m->s.layers; l++) {
            if (shard_of(l, m->s.layers, shards) != sh)
                continue;
            rc = layer_tensors(m, l, dtype, &lists[k]);
            for (int i = 0; !rc && i < lists[k].n; i++)
                all[n++] = lists[k].t[i];
            k++;
        }
        char file[64], path[4096];
        if (shards == 1)
            snprintf(file, sizeof file, "model.safetensors");
        else
            snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", sh + 1, shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (!rc)
            rc = st_write(path, all, n, err, errlen);
        for (int i = 0; i < n; i++)
            cJSON_AddStringToObject(map, all[i].name, file);
        for (int i = 0; i < k; i++)
            tlist_free(&lists[i]);
        free(lists);
        free(all);
        if (rc && !*err)
            snprintf(err, errlen, "%s: out of memory", dir);
    }
    if (!rc && shards > 1) {
        char path[4096], *text = cJSON_Print(index);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        const void *parts[] = {text};
        size_t sizes[] = {text ? strlen(text) : 0};
        rc = text ? write_atomic(path, parts, sizes, 1, err, errlen) : -1;
        free(text);
    }
    cJSON_Delete(index);
    return rc;
}

/* ---- BERT, RoBERTa, GPT-2 ---- */

/* A growing list of named random tensors. */
typedef struct xlist {
    st_out *t;
    char **names;
    float **data;
    int n, cap, failed;
    st_dtype dtype;
    uint64_t rng;
} xlist;

static void xadd(xlist *l, const char *name, int64_t rows, int64_t cols, float center, float std)
{
    if (l->failed)
        return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        st_out *t = realloc(l->t, (size_t)cap * sizeof *t);
        char **nm = t ? realloc(l->names, (size_t)cap * sizeof *nm) : NULL;
        float **d = nm ? realloc(l->data, (size_t)cap * sizeof *d) : NULL;
        if (t)
            l->t = t;
        if (nm)
            l->names = nm;
        if (!d) {
            l->failed = 1;
            return;
        }
        l->data = d;
        l->cap = cap;
    }
    size_t n = (size_t)(rows * (cols ? cols : 1));
    char *copy = strdup(name);
    float *x = malloc(n * sizeof *x);
    if (!copy || !x) {
        free(copy), free(x);
        l->failed = 1;
        return;
    }
    fill(x, n, center, std, &l->rng);
    l->names[l->n] = copy;
    l->data[l->n] = x;
    l->t[l->n] = (st_out){copy, l->dtype, cols ? 2 : 1, {rows, cols}, x};
    l->n++;
}

static void xlist_free(xlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]), free(l->data[i]);
    free(l->t), free(l->names), free(l->data);
}

/* name = printf(fmt, ...) into a scratch buffer */
#define XADD(l, rows, cols, center, std, ...)                                                                        \
    do {                                                                                                              \
        char nm_[200];                                                                                                \
        snprintf(nm_, sizeof nm_, __VA_ARGS__);                                                                       \
        xadd(l, nm_, rows, cols, center, std);                                                                        \
    } while (0)

static void encoder_tensors(const mw_xshape *s, xlist *l)
{
    int64_t D = s->dim, F = s->ffn, V = s->vocab;
    int roberta = s->arch == MW_ROBERTA;
    const char *p = roberta ? "roberta." : "bert.";
    float wd = 1.0f / sqrtf((float)D), wf = 1.0f / sqrtf((float)F);
    int64_t positions = s->max_pos + (roberta ? 2 : 0); /* RoBERTa: pad id 1, positions from 2 */
    XADD(l, V, D, 0.0f, 0.5f, "%sembeddings.word_embeddings.weight", p);
    XADD(l, positions, D, 0.0f, 0.1f, "%sembeddings.position_embeddings.weight", p);
    XADD(l, s->types, D, 0.0f, 0.1f, "%sembeddings.token_type_embeddings.weight", p);
    XADD(l, D, 0, 1.0f, 0.1f, "%sembeddings.LayerNorm.weight", p);
    XADD(l, D, 0, 0.0f, 0.1f, "%sembeddings.LayerNorm.bias", p);
    for (int i = 0; i < s->layers; i++) {
        static const char *const qkv[3] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            XADD(l, D, D, 0.0f, wd, "%sencoder.layer.%d.attention.self.%s.weight", p, i, qkv[k]);
            XADD(l, D, 0, 0.0f, 0.1f, "%sencoder.layer.%d.attention.self.%s.bias", p, i, qkv[k]);
        }
        XADD(l, D, D, 0.0f, wd, "%sencoder.layer.%d.attention.output.dense.weight", p, i);
        XADD(l, D, 0, 0.0f, 0.1f, "%sencoder.layer.%d.attention.output.dense.bias", p, i);
        XADD(l, D, 0, 1.0f, 0.1f, "%sencoder.layer.%d.attention.output.LayerNorm.weight", p, i);
        XADD(l, D, 0, 0.0f, 0.1f, "%sencoder.layer.%d.attention.output.LayerNorm.bias", p, i);
        XADD(l, F, D, 0.0f, wd, "%sencoder.layer.%d.intermediate.dense.weight", p, i);
        XADD(l, F, 0, 0.0f, 0.1f, "%sencoder.layer.%d.intermediate.dense.bias", p, i);
        XADD(l, D, F, 0.0f, wf, "%sencoder.layer.%d.output.dense.weight", p, i);
        XADD(l, D, 0, 0.0f, 0.1f, "%sencoder.layer.%d.output.dense.bias", p, i);
        XADD(l, D, 0, 1.0f, 0.1f, "%sencoder.layer.%d.output.LayerNorm.weight", p, i);
        XADD(l, D, 0, 0.0f, 0.1f, "%sencoder.layer.%d.output.LayerNorm.bias", p, i);
    }
    const char *h = roberta ? "lm_head." : "cls.predictions.", *t = roberta ? "lm_head." : "cls.predictions.transform.";
    XADD(l, D, D, 0.0f, wd, "%sdense.weight", t);
    XADD(l, D, 0, 0.0f, 0.1f, "%sdense.bias", t);
    XADD(l, D, 0, 1.0f, 0.1f, "%s%s.weight", t, roberta ? "layer_norm" : "LayerNorm");
    XADD(l, D, 0, 0.0f, 0.1f, "%s%s.bias", t, roberta ? "layer_norm" : "LayerNorm");
    XADD(l, V, 0, 0.0f, 0.5f, "%sbias", h);
    if (s->untied)
        XADD(l, V, D, 0.0f, 0.5f, "%sdecoder.weight", h);
}

static void gpt2_tensors(const mw_xshape *s, xlist *l)
{
    int64_t D = s->dim, F = s->ffn, V = s->vocab;
    float wd = 1.0f / sqrtf((float)D), wf = 1.0f / sqrtf((float)F);
    XADD(l, V, D, 0.0f, 0.5f, "transformer.wte.weight");
    XADD(l, s->max_pos, D, 0.0f, 0.1f, "transformer.wpe.weight");
    for (int i = 0; i < s->layers; i++) { /* Conv1D weights: [in][out] */
        XADD(l, D, 0, 1.0f, 0.1f, "transformer.h.%d.ln_1.weight", i);
        XADD(l, D, 0, 0.0f, 0.1f, "transformer.h.%d.ln_1.bias", i);
        XADD(l, D, 3 * D, 0.0f, wd, "transformer.h.%d.attn.c_attn.weight", i);
        XADD(l, 3 * D, 0, 0.0f, 0.1f, "transformer.h.%d.attn.c_attn.bias", i);
        XADD(l, D, D, 0.0f, wd, "transformer.h.%d.attn.c_proj.weight", i);
        XADD(l, D, 0, 0.0f, 0.1f, "transformer.h.%d.attn.c_proj.bias", i);
        XADD(l, D, 0, 1.0f, 0.1f, "transformer.h.%d.ln_2.weight", i);
        XADD(l, D, 0, 0.0f, 0.1f, "transformer.h.%d.ln_2.bias", i);
        XADD(l, D, F, 0.0f, wd, "transformer.h.%d.mlp.c_fc.weight", i);
        XADD(l, F, 0, 0.0f, 0.1f, "transformer.h.%d.mlp.c_fc.bias", i);
        XADD(l, F, D, 0.0f, wf, "transformer.h.%d.mlp.c_proj.weight", i);
        XADD(l, D, 0, 0.0f, 0.1f, "transformer.h.%d.mlp.c_proj.bias", i);
    }
    XADD(l, D, 0, 1.0f, 0.1f, "transformer.ln_f.weight");
    XADD(l, D, 0, 0.0f, 0.1f, "transformer.ln_f.bias");
    if (s->untied)
        XADD(l, V, D, 0.0f, wd, "lm_head.weight");
}

static char *xformer_config(const mw_xshape *s, st_dtype dtype)
{
    static const char *const arch[] = {"BertForMaskedLM", "RobertaForMaskedLM", "GPT2LMHeadModel"};
    static const char *const type[] = {"bert", "roberta", "gpt2"};
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "architectures"), cJSON_CreateString(arch[s->arch]));
    cJSON_AddStringToObject(c, "model_type", type[s->arch]);
    if (s->arch == MW_GPT2) {
        cJSON_AddNumberToObject(c, "n_embd", s->dim);
        cJSON_AddNumberToObject(c, "n_layer", s->layers);
        cJSON_AddNumberToObject(c, "n_head", s->heads);
        cJSON_AddNumberToObject(c, "n_inner", s->ffn);
        cJSON_AddNumberToObject(c, "n_positions", s->max_pos);
        cJSON_AddNumberToObject(c, "n_ctx", s->max_pos);
        cJSON_AddNumberToObject(c, "layer_norm_epsilon", 1e-5);
        cJSON_AddStringToObject(c, "activation_function", "gelu_new");
        cJSON_AddNumberToObject(c, "bos_token_id", s->vocab - 1);
        cJSON_AddNumberToObject(c, "eos_token_id", s->vocab - 1);
    } else {
        int roberta = s->arch == MW_ROBERTA;
        cJSON_AddNumberToObject(c, "hidden_size", s->dim);
        cJSON_AddNumberToObject(c, "num_hidden_layers", s->layers);
        cJSON_AddNumberToObject(c, "num_attention_heads", s->heads);
        cJSON_AddNumberToObject(c, "intermediate_size", s->ffn);
        cJSON_AddNumberToObject(c, "max_position_embeddings", s->max_pos + (roberta ? 2 : 0));
        cJSON_AddNumberToObject(c, "type_vocab_size", s->types);
        cJSON_AddNumberToObject(c, "layer_norm_eps", roberta ? 1e-5 : 1e-12);
        cJSON_AddNumberToObject(c, "pad_token_id", roberta ? 1 : 0);
        if (roberta) {
            cJSON_AddNumberToObject(c, "bos_token_id", 0);
            cJSON_AddNumberToObject(c, "eos_token_id", 2);
        }
        cJSON_AddStringToObject(c, "hidden_act", "gelu");
        cJSON_AddStringToObject(c, "position_embedding_type", "absolute");
    }
    cJSON_AddNumberToObject(c, "vocab_size", s->vocab);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", !s->untied);
    cJSON_AddStringToObject(c, "torch_dtype", dtype == ST_F32 ? "float32" : dtype == ST_F16 ? "float16" : "bfloat16");
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    return text;
}

int mw_write_xformer(const mw_xshape *s, uint64_t seed, const char *dir, st_dtype dtype, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    unlink(path); /* a sharded layout from an earlier write would shadow this one */
    char *text = xformer_config(s, dtype);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const void *parts[] = {text};
    size_t sizes[] = {text ? strlen(text) : 0};
    int rc = text ? write_atomic(path, parts, sizes, 1, err, errlen) : -1;
    if (!text)
        snprintf(err, errlen, "%s: out of memory", dir);
    free(text);
    xlist l = {.dtype = dtype, .rng = seed};
    if (!rc) {
        if (s->arch == MW_GPT2)
            gpt2_tensors(s, &l);
        else
            encoder_tensors(s, &l);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (l.failed) {
            snprintf(err, errlen, "%s: out of memory", dir);
            rc = -1;
        } else {
            rc = st_write(path, l.t, l.n, err, errlen);
        }
    }
    xlist_free(&l);
    return rc;
}
