/* llama.c — the causal decoder forward pass, batched: the Llama family (RMSNorm, rotary positions, SwiGLU,
 * grouped-query attention) and GPT-2 (LayerNorm, learned positions, GELU feed-forward, biases; see llama.h).
 *
 * Reading guide. One forward pass (`forward`) takes a set of whole sequences laid out as rows — every (sequence, token)
 * pair is one row of every matrix product — and runs the layers:
 *
 *     x  = input rows (token embeddings; soft-prompt rows inserted or added; GPT-2: + the position's embedding)
 *     for each layer:
 *         xb   = rmsnorm(x) · g_attn                         (written in the compute type; GPT-2: LayerNorm)
 *         qkv  = xb · [Wq Wk Wv]ᵀ (+ b)                      one GEMM for the three projections, biases inside it
 *         att  = softmax(rot(q) rot(k)ᵀ / √d + causal mask) v  per sequence; never across sequences; the rotary
 *                                                             position embedding is applied as q and k are read
 *         x   += att · Woᵀ (+ b)                              the residual add is the GEMM's accumulate
 *         xb   = rmsnorm(x) · g_ffn
 *         g    = silu(xb · W1ᵀ)                               SiLU fused into the gate's GEMM
 *         u    = (xb · W3ᵀ) ⊙ g                               the product fused into the up GEMM
 *                (GPT-2: u = gelu_tanh(xb · W1ᵀ + b1), fused likewise)
 *         x   += u · W2ᵀ (+ b)
 *     out = rmsnorm(x) · g_final       only for the rows whose output is needed
 *
 * In the last layer only the needed rows go on after attention (their keys and values still come from every row).
 * Scoring needs one row per sequence (the end of the prefix) plus one per extra token of multi-token labels; those
 * label tokens are extra rows that attend to the shared prefix and to their own label only, so every label of a
 * sequence reuses the prefix. The output head is applied to the needed rows only (or, for raw logits, only the label
 * tokens' rows of the head are used).
 *
 * Sequences are grouped into chunks of about 1024 rows (whole sequences). When there are chunks enough and a layer's
 * weights fit the shared cache, each thread runs its own chunks with single-threaded products (no barriers at all);
 * otherwise the chunks go one after the other with every thread inside each product.
 *
 * Generation keeps the keys and values of the sequence so far (`kv_cache`), so each new token is one row.
 */
#include "models/llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/attention.h"
#include "models/chunks.h"
#include "models/gemm.h"
#include "models/kernels.h"

typedef struct llama_layer {
    float *attn_norm, *ffn_norm;
    float *attn_norm_b, *ffn_norm_b; /* LayerNorm biases, or NULL (RMSNorm) */
    gemm_weight wqkv;     /* dim → q | k | v */
    gemm_weight wo;       /* heads·head_dim → dim */
    gemm_weight w1, w3;   /* dim → ffn: gate, up (GELU feed-forward: w1 only) */
    gemm_weight w2;       /* ffn → dim */
} llama_layer;

/* Scratch for one forward pass over up to cap_rows rows, one per thread slot (chunks.h); ffn1 holds the gate's
 * output and ffn2 the gated product (SwiGLU), or ffn1 the GELU output (GPT-2). */
typedef chunk_ws llama_ws;

/* Generation state: one sequence's keys and values, so each new token costs one row. */
typedef struct kv_cache {
    int len, cap;         /* positions held, room */
    int *ids;             /* the tokens they belong to */
    float *kv;            /* layers × cap × 2·kv_dim: each position's k | v as the q|k|v product gave them */
} kv_cache;

typedef struct llama {
    llama_cfg c;
    act_type act;
    gemm_ctx *g;
    float *tok_emb;       /* vocab × dim fp32 */
    float *pos_emb;       /* max_pos × dim fp32 (POS_LEARNED), or NULL */
    llama_layer *layers;
    float *final_norm, *final_norm_b;
    gemm_weight head;     /* plain rows: vocab × dim */
    float *inv_freq;      /* head_dim/2 rotary frequencies */
    float *rope;          /* (cos, sin) per position and frequency, positions [0, rope_len) */
    int rope_len;
    llama_ws *ws;         /* one per thread slot */
    int n_ws;
    lm_attention attn;    /* attention implementation asked for (LM_ATTN_AUTO: chosen per sequence) */
    kv_cache cache;
} llama;

/* One forward pass: whole sequences laid out row after row. */
typedef struct fwd_seq {
    int row0, n;          /* its rows */
    int out0, nout;       /* its needed rows: outs[out0 .. out0+nout) (relative to row0, ascending) */
} fwd_seq;

typedef struct fwd_batch {
    int rows, n_seqs, n_out;
    fwd_seq *seqs;
    int *pos, *kend, *bstart;   /* per row; kend and bstart relative to the sequence (see attn_seq) */
    int *outs;
    int *deep;                  /* per row: offset of its deep-prompt row within layer 0, or -1; NULL: none */
    float *x;
} fwd_batch;

/* ---- configuration and loading ---- */

int llama_cfg_check(const llama_cfg *c, const char *where, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->dim <= 0 || c->ffn <= 0 || c->layers <= 0 || c->heads <= 0 || c->kv_heads <= 0 || c->vocab <= 0 ||
        c->max_pos <= 0 || c->head_dim <= 0)
        bad = "sizes must be positive";
    else if (c->heads % c->kv_heads)
        bad = "the number of heads must be a multiple of the number of key/value heads";
    else if (c->positions == POS_ROPE && c->head_dim % 2)
        bad = "the head size must be even (rotary pairs)";
    else if ((long long)c->dim * c->vocab > (1LL << 40) || (long long)c->heads * c->head_dim > (1 << 20) ||
             c->dim > (1 << 20) || c->ffn > (1 << 22) || c->layers > 4096)
        bad = "sizes are implausibly large";
    else if (!(c->eps > 0.0f) || !(c->rope_theta > 0.0f))
        bad = "rms_norm_eps and rope_theta must be positive";
    if (bad) {
        snprintf(err, errlen, "%s: %s (dim %d, ffn %d, layers %d, heads %d, kv heads %d, head size %d, vocab %d, "
                 "max positions %d)", where, bad, c->dim, c->ffn, c->layers, c->heads, c->kv_heads, c->head_dim,
                 c->vocab, c->max_pos);
        return -1;
    }
    return 0;
}

static void llama_free(void *impl)
{
    llama *L = impl;
    if (!L)
        return;
    for (int l = 0; L->layers && l < L->c.layers; l++) {
        llama_layer *ly = &L->layers[l];
        free(ly->attn_norm);
        free(ly->ffn_norm);
        free(ly->attn_norm_b);
        free(ly->ffn_norm_b);
        gemm_weight_free(&ly->wqkv);
        gemm_weight_free(&ly->wo);
        gemm_weight_free(&ly->w1);
        gemm_weight_free(&ly->w3);
        gemm_weight_free(&ly->w2);
    }
    free(L->layers);
    gemm_weight_free(&L->head);
    free(L->tok_emb);
    free(L->pos_emb);
    free(L->final_norm);
    free(L->final_norm_b);
    free(L->inv_freq);
    free(L->rope);
    for (int i = 0; i < L->n_ws; i++)
        chunk_ws_free(&L->ws[i]);
    free(L->ws);
    free(L->cache.ids);
    free(L->cache.kv);
    gemm_ctx_free(L->g);
    free(L);
}

static float *read_vec(const llama_source *src, llama_role role, int layer, size_t n, char *err, size_t errlen)
{
    float *v = malloc(n * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory (%zu floats)", n);
        return NULL;
    }
    if (src->read(src->ctx, role, layer, v, n, err, errlen)) {
        free(v);
        return NULL;
    }
    return v;
}

/* Read the parts of a fused weight one below the other, then pack them as one matrix. */
static int pack_fused(llama *L, gemm_weight *w, const llama_source *src, const llama_role *roles, const int *rows,
                      int parts, int layer, int k, char *err, size_t errlen)
{
    int n = 0;
    for (int i = 0; i < parts; i++)
        n += rows[i];
    float *buf = malloc((size_t)n * k * sizeof *buf);
    if (!buf) {
        snprintf(err, errlen, "out of memory reading layer %d", layer);
        return -1;
    }
    int rc = 0;
    for (int i = 0, at = 0; !rc && i < parts; at += rows[i], i++)
        rc = src->read(src->ctx, roles[i], layer, buf + (size_t)at * k, (size_t)rows[i] * k, err, errlen);
    if (!rc)
        rc = gemm_weight_pack(L->g, w, buf, n, k, (size_t)k, 0, err, errlen);
    free(buf);
    return rc;
}

/* Read the biases of a fused weight's parts one after the other and give them to the weight. */
static int set_bias(gemm_weight *w, const llama_source *src, const llama_role *roles, const int *rows, int parts,
                    int layer, char *err, size_t errlen)
{
    int n = 0;
    for (int i = 0; i < parts; i++)
        n += rows[i];
    float *b = malloc((size_t)n * sizeof *b);
    int rc = b ? 0 : -1;
    if (!b)
        snprintf(err, errlen, "out of memory reading layer %d", layer);
    for (int i = 0, at = 0; !rc && i < parts; at += rows[i], i++)
        rc = src->read(src->ctx, roles[i], layer, b + at, (size_t)rows[i], err, errlen);
    if (!rc && gemm_weight_set_bias(w, b)) {
        snprintf(err, errlen, "out of memory reading layer %d", layer);
        rc = -1;
    }
    free(b);
    return rc;
}

static int load_layer(llama *L, const llama_source *src, int l, char *err, size_t errlen)
{
    const llama_cfg *c = &L->c;
    llama_layer *ly = &L->layers[l];
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    if (!(ly->attn_norm = read_vec(src, LR_ATTN_NORM, l, (size_t)c->dim, err, errlen)) ||
        !(ly->ffn_norm = read_vec(src, LR_FFN_NORM, l, (size_t)c->dim, err, errlen)))
        return -1;
    if (c->norm == NORM_LAYER && (!(ly->attn_norm_b = read_vec(src, LR_ATTN_NORM_B, l, (size_t)c->dim, err, errlen)) ||
                                  !(ly->ffn_norm_b = read_vec(src, LR_FFN_NORM_B, l, (size_t)c->dim, err, errlen))))
        return -1;
    const llama_role qkv[3] = {LR_WQ, LR_WK, LR_WV}, o[1] = {LR_WO}, w1[1] = {LR_W1}, w3[1] = {LR_W3}, w2[1] = {LR_W2};
    const llama_role bqkv[3] = {LR_BQ, LR_BK, LR_BV}, bo[1] = {LR_BO}, b1[1] = {LR_B1}, b2[1] = {LR_B2};
    const int qkv_rows[3] = {qd, kvd, kvd}, o_rows[1] = {c->dim}, ffn_rows[1] = {c->ffn}, w2_rows[1] = {c->dim};
    if (pack_fused(L, &ly->wqkv, src, qkv, qkv_rows, 3, l, c->dim, err, errlen) ||
        pack_fused(L, &ly->wo, src, o, o_rows, 1, l, qd, err, errlen) ||
        pack_fused(L, &ly->w1, src, w1, ffn_rows, 1, l, c->dim, err, errlen) ||
        (c->ffn_act == FFN_SWIGLU && pack_fused(L, &ly->w3, src, w3, ffn_rows, 1, l, c->dim, err, errlen)) ||
        pack_fused(L, &ly->w2, src, w2, w2_rows, 1, l, c->ffn, err, errlen))
        return -1;
    /* biases go into the products (added before the epilogue): q/k/v before attention rotates q and k */
    if ((c->qkv_bias && set_bias(&ly->wqkv, src, bqkv, qkv_rows, 3, l, err, errlen)) ||
        (c->bias && (set_bias(&ly->wo, src, bo, o_rows, 1, l, err, errlen) ||
                     set_bias(&ly->w1, src, b1, ffn_rows, 1, l, err, errlen) ||
                     set_bias(&ly->w2, src, b2, w2_rows, 1, l, err, errlen))))
        return -1;
    return 0;
}

/* Rotary frequencies, with the context-extension rescaling some checkpoints ask for. */
static int init_rope(llama *L)
{
    const llama_cfg *c = &L->c;
    int half = c->head_dim / 2;
    if (!(L->inv_freq = malloc((size_t)half * sizeof(float))))
        return -1;
    for (int j = 0; j < half; j++) {
        double f = pow((double)c->rope_theta, -2.0 * j / c->head_dim);
        if (c->scaling == ROPE_LINEAR) {
            f /= c->scale_factor;
        } else if (c->scaling == ROPE_LLAMA3) {
            double low_wavelen = c->orig_max_pos / c->low_freq_factor;
            double high_wavelen = c->orig_max_pos / c->high_freq_factor;
            double wavelen = 2.0 * 3.14159265358979323846 / f;
            if (wavelen > low_wavelen) {
                f /= c->scale_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (c->orig_max_pos / wavelen - c->low_freq_factor) /
                                (c->high_freq_factor - c->low_freq_factor);
                f = (1.0 - smooth) * f / c->scale_factor + smooth * f;
            }
        }
        L->inv_freq[j] = (float)f;
    }
    return 0;
}

/* Make the (cos, sin) table cover positions [0, n). */
static int rope_reserve(llama *L, int n)
{
    if (n <= L->rope_len)
        return 0;
    int half = L->c.head_dim / 2;
    float *t = realloc(L->rope, (size_t)n * half * 2 * sizeof(float));
    if (!t)
        return -1;
    for (int p = L->rope_len; p < n; p++)
        for (int j = 0; j < half; j++) {
            double a = (double)p * L->inv_freq[j];
            t[((size_t)p * half + j) * 2] = (float)cos(a);
            t[((size_t)p * half + j) * 2 + 1] = (float)sin(a);
        }
    L->rope = t;
    L->rope_len = n;
    return 0;
}

static const lm_ops llama_ops;

int llama_create(lm *m, const llama_cfg *c, const llama_source *src, const char *arch)
{
    char err[512] = "";
    llama *L = calloc(1, sizeof *L);
    if (!L)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    L->c = *c;
    L->act = m->opts.dtype == LM_BF16 ? ACT_BF16 : ACT_F32;
    L->attn = m->opts.attention;
    int rc = LM_ENOMEM;
    size_t emb = (size_t)c->vocab * c->dim;
    if (gemm_ctx_create(&L->g, L->act, err, sizeof err)) {
        rc = LM_EUNSUPPORTED;
        goto fail;
    }
    if (!(L->layers = calloc((size_t)c->layers, sizeof *L->layers)) || init_rope(L)) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    rc = LM_EFORMAT;
    if (!(L->tok_emb = read_vec(src, LR_EMBED, 0, emb, err, sizeof err)))
        goto fail;
    for (int l = 0; l < c->layers; l++)
        if (load_layer(L, src, l, err, sizeof err))
            goto fail;
    if (!(L->final_norm = read_vec(src, LR_FINAL_NORM, 0, (size_t)c->dim, err, sizeof err)) ||
        (c->norm == NORM_LAYER && !(L->final_norm_b = read_vec(src, LR_FINAL_NORM_B, 0, (size_t)c->dim, err,
                                                               sizeof err))) ||
        (c->positions == POS_LEARNED && !(L->pos_emb = read_vec(src, LR_POS_EMBED, 0, (size_t)c->max_pos * c->dim,
                                                                err, sizeof err))))
        goto fail;
    if (c->tied) {
        if (gemm_weight_pack(L->g, &L->head, L->tok_emb, c->vocab, c->dim, (size_t)c->dim, 1, err, sizeof err))
            goto fail;
    } else {
        float *head = read_vec(src, LR_HEAD, 0, emb, err, sizeof err);
        int bad = !head || gemm_weight_pack(L->g, &L->head, head, c->vocab, c->dim, (size_t)c->dim, 1, err, sizeof err);
        free(head);
        if (bad)
            goto fail;
    }
    L->n_ws = lm_thread_slots(m);
    if (!(L->ws = calloc((size_t)L->n_ws, sizeof *L->ws))) {
        rc = LM_ENOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    m->info = (lm_info){.arch = arch, .kind = LM_CAUSAL, .hidden = c->dim, .layers = c->layers, .heads = c->heads,
                        .kv_heads = c->kv_heads, .head_dim = c->head_dim, .ffn = c->ffn, .vocab = c->vocab,
                        .max_pos = c->max_pos, .bos = c->bos, .eos = c->eos, .pad = c->pad, .unk = -1, .mask = -1,
                        .cls = -1, .sep = -1, .tied = c->tied, .ffn_gated = c->ffn_act == FFN_SWIGLU};
    m->ops = &llama_ops;
    m->impl = L;
    m->embeddings = L->tok_emb;
    return LM_OK;
fail:
    llama_free(L);
    return lm_fail(m, rc, "%s", err);
}

/* ---- the forward pass ---- */

static int ws_reserve(const llama *L, llama_ws *w, int rows, int n_seqs, int n_out)
{
    const llama_cfg *c = &L->c;
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    chunk_widths cw = {c->dim, c->dim > qd ? c->dim : qd, qd, qd + 2 * kvd, c->ffn, c->ffn_act == FFN_SWIGLU, L->act};
    return chunk_ws_reserve(w, &cw, rows, n_seqs, n_out);
}

/* Room for cap_out rows of vocabulary logits (allocated on first use: raw-logit scoring never needs it). */
static int ws_logits(const llama *L, llama_ws *w)
{
    if (!w->logits && !(w->logits = malloc((size_t)w->cap_out * L->c.vocab * sizeof(float))))
        return -1;
    return 0;
}

static void add_deep(float *x, int rows, int dim, const int *deep, const float *layer_prompts)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        if (deep[r] >= 0) {
            float *row = x + (size_t)r * dim;
            const float *p = layer_prompts + deep[r];
            for (int i = 0; i < dim; i++)
                row[i] += p[i];
        }
}

static void gather_rows(float *dst, const float *x, int dim, const fwd_batch *b)
{
#pragma omp parallel for schedule(static)
    for (int s = 0; s < b->n_seqs; s++) {
        const fwd_seq *q = &b->seqs[s];
        for (int i = 0; i < q->nout; i++)
            memcpy(dst + (size_t)(q->out0 + i) * dim, x + (size_t)(q->row0 + b->outs[q->out0 + i]) * dim,
                   (size_t)dim * sizeof(float));
    }
}

/* Attention through the implementation asked for at open; rope = NULL when q and k arrive rotated. */
static int attention_any(const llama *L, llama_ws *w, const attn_seq *seqs, int n, const float *rope)
{
    const llama_cfg *c = &L->c;
    attn_shape sh = {c->heads, c->kv_heads, c->head_dim, 1.0f / sqrtf((float)c->head_dim), c->window, rope};
    return attention_run(L->g, L->attn, seqs, n, &sh, w->err, sizeof w->err);
}

/* Attention over every sequence of the batch; in the last layer only the needed query rows (sel). */
static int attend(const llama *L, llama_ws *w, const fwd_batch *b, int sel, const float *rope)
{
    const llama_cfg *c = &L->c;
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim, ld = qd + 2 * kvd;
    size_t es = act_size(L->act);
    for (int s = 0; s < b->n_seqs; s++) {
        const fwd_seq *q = &b->seqs[s];
        const float *base = w->qkv + (size_t)q->row0 * ld;
        w->aseq[s] = (attn_seq){
            .n = q->n, .q = base, .k = base + qd, .v = base + qd + kvd, .ldq = ld, .ldk = ld, .ldv = ld,
            .kend = b->kend + q->row0, .bstart = b->bstart + q->row0, .pos = b->pos + q->row0,
            .qrows = sel ? b->outs + q->out0 : w->iota, .nq = sel ? q->nout : q->n,
            .out = (char *)w->att + (size_t)(sel ? q->out0 : q->row0) * qd * es, .ldo = qd, .t = L->act};
    }
    return attention_any(L, w, w->aseq, b->n_seqs, rope);
}

/* The normalisation of the model (RMSNorm, or LayerNorm with bias b) of m rows of x into y, written as t. */
static void norm_rows(const llama *L, void *y, act_type t, const float *x, const float *g, const float *b, int m)
{
    int dim = L->c.dim;
    if (L->c.norm == NORM_LAYER)
        layernorm_rows(y, t, dim, NULL, x, dim, g, b, m, dim, L->c.eps);
    else
        rmsnorm_rows(y, t, dim, x, dim, g, m, dim, L->c.eps);
}

/* GPT-2's learned positions: add the embedding of each row's position. */
static void add_positions(const llama *L, float *x, int m, const int *pos)
{
    int dim = L->c.dim;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m; r++) {
        float *row = x + (size_t)r * dim;
        const float *p = L->pos_emb + (size_t)pos[r] * dim;
        for (int i = 0; i < dim; i++)
            row[i] += p[i];
    }
}

#define GEMM(wt, m, a, lda, c_, ldc, ep, mul)                                                                       \
    do {                                                                                                             \
        if (gemm_run(L->g, (wt), (m), (a), (lda), (c_), (ldc), (ep), (mul), w->err, sizeof w->err))                 \
            return -1;                                                                                               \
    } while (0)

/* The second half of a layer on m rows of x: x += att · Woᵀ, then x += ffn(norm(x)). */
static int layer_rest(const llama *L, llama_ws *w, const llama_layer *ly, float *x, int m)
{
    const llama_cfg *c = &L->c;
    int dim = c->dim, qd = c->heads * c->head_dim;
    GEMM(&ly->wo, m, w->att, qd, x, dim, GEMM_ADD, NULL);
    norm_rows(L, w->xb, L->act, x, ly->ffn_norm, ly->ffn_norm_b, m);
    void *hidden = w->ffn1;
    if (c->ffn_act == FFN_SWIGLU) {
        GEMM(&ly->w1, m, w->xb, dim, w->ffn1, c->ffn, GEMM_SILU, NULL);
        GEMM(&ly->w3, m, w->xb, dim, w->ffn2, c->ffn, GEMM_MUL, w->ffn1);
        hidden = w->ffn2;
    } else {
        GEMM(&ly->w1, m, w->xb, dim, w->ffn1, c->ffn, c->ffn_act == FFN_GELU_TANH ? GEMM_GELU_TANH : GEMM_GELU_ERF,
             NULL);
    }
    GEMM(&ly->w2, m, hidden, c->ffn, x, dim, GEMM_ADD, NULL);
    return 0;
}

/* Run every layer over the batch; the final-normed states of the needed rows go to w->hid (n_out × dim). With a
 * trace (then every row is needed), each layer's input and the last layer's output are copied there: (layers + 1) ×
 * rows × dim floats. */
static int forward(const llama *L, llama_ws *w, fwd_batch *b, const float *deep, size_t deep_layer_stride,
                   float *trace)
{
    const llama_cfg *c = &L->c;
    int R = b->rows, dim = c->dim, qkvd = (c->heads + 2 * c->kv_heads) * c->head_dim;
    size_t plane = (size_t)R * dim;
    if (c->positions == POS_LEARNED)
        add_positions(L, b->x, R, b->pos);
    for (int l = 0; l < c->layers; l++) {
        const llama_layer *ly = &L->layers[l];
        if (b->deep)
            add_deep(b->x, R, dim, b->deep, deep + (size_t)l * deep_layer_stride);
        if (trace)
            memcpy(trace + l * plane, b->x, plane * sizeof(float));
        norm_rows(L, w->xb, L->act, b->x, ly->attn_norm, ly->attn_norm_b, R);
        GEMM(&ly->wqkv, R, w->xb, dim, w->qkv, qkvd, GEMM_STORE, NULL);
        int sel = l == c->layers - 1 && b->n_out < R;
        if (attend(L, w, b, sel, c->positions == POS_ROPE ? L->rope : NULL))
            return -1;
        float *x = b->x;
        int m = R;
        if (sel) { /* the last layer goes on with the needed rows only */
            gather_rows(w->xs, b->x, dim, b);
            x = w->xs;
            m = b->n_out;
        }
        if (layer_rest(L, w, ly, x, m))
            return -1;
        if (l == c->layers - 1) {
            if (trace)
                memcpy(trace + (size_t)c->layers * plane, x, plane * sizeof(float));
            norm_rows(L, w->hid, ACT_F32, x, L->final_norm, L->final_norm_b, b->n_out);
        }
    }
    return 0;
}

/* Logits over the vocabulary for the first n rows of w->hid, into out (n × vocab). */
static int head_logits(const llama *L, llama_ws *w, int n, float *out)
{
    int dim = L->c.dim;
    for (int r = 0; r < n; r++)
        act_store((char *)w->xb + (size_t)r * dim * act_size(L->act), L->act, w->hid + (size_t)r * dim, dim);
    GEMM(&L->head, n, w->xb, dim, out, L->c.vocab, GEMM_STORE, NULL);
    return 0;
}

/* ---- scoring ---- */

/* How one sequence of a score batch becomes rows. */
typedef struct seq_plan {
    int read;          /* token index whose next-token distribution is read */
    int insert;        /* cat mode: the prompt's rows are inserted before token `insert`; -1 = not in the prefix */
    int trunk;         /* rows of the prefix, prompt rows included */
    int rows, nout;
} seq_plan;

static int label_len(const lm_batch *b, int j) { return b->first_token_only ? 1 : b->labels[j].n; }

static void plan_seq(const lm_batch *b, const lm_seq *q, seq_plan *p)
{
    p->read = q->read_pos < 0 ? q->n - 1 : q->read_pos;
    p->insert = (q->mode == LM_PROMPT_CAT && q->prompt_pos <= p->read) ? q->prompt_pos : -1;
    p->trunk = p->read + 1 + (p->insert >= 0 ? b->prompt_len : 0);
    p->nout = 1;
    for (int j = 0; j < b->n_labels; j++)
        p->nout += label_len(b, j) - 1;
    p->rows = p->trunk + p->nout - 1;
}

/* Lay out sequence q at rows [r0, r0+p->rows) of batch fb: input rows, positions, attention ranges, needed rows. */
static void fill_seq(const llama *L, const lm_batch *b, const lm_seq *q, const seq_plan *p, fwd_batch *fb, int s,
                     int r0, int out0)
{
    int dim = L->c.dim, Lp = b->prompt_len, layers = L->c.layers;
    const float *prompt = q->mode != LM_PROMPT_NONE && b->prompts ? b->prompts + (size_t)q->prompt * Lp * dim : NULL;
    size_t deep0 = (size_t)q->prompt * layers * Lp * dim;
    float *x = fb->x + (size_t)r0 * dim;
    int *deep = fb->deep ? fb->deep + r0 : NULL;
    int r = 0;
    for (int i = 0; i <= p->read; i++) {
        if (i == p->insert)
            for (int j = 0; j < Lp; j++, r++) {
                if (prompt)
                    memcpy(x + (size_t)r * dim, prompt + (size_t)j * dim, (size_t)dim * sizeof(float));
                else
                    memset(x + (size_t)r * dim, 0, (size_t)dim * sizeof(float));
                if (deep)
                    deep[r] = (int)(deep0 + (size_t)j * dim);
            }
        memcpy(x + (size_t)r * dim, L->tok_emb + (size_t)q->ids[i] * dim, (size_t)dim * sizeof(float));
        int j = i - q->prompt_pos;
        int added = q->mode == LM_PROMPT_ADD && j >= 0 && j < Lp;
        if (added && prompt)
            for (int d = 0; d < dim; d++)
                x[(size_t)r * dim + d] += prompt[(size_t)j * dim + d];
        if (deep)
            deep[r] = added ? (int)(deep0 + (size_t)j * dim) : -1;
        r++;
    }
    int *pos = fb->pos + r0, *kend = fb->kend + r0, *bstart = fb->bstart + r0, *outs = fb->outs + out0;
    for (int i = 0; i < p->trunk; i++) {
        pos[i] = i;
        kend[i] = i + 1;
        bstart[i] = i + 1;
    }
    int o = 0;
    outs[o++] = p->trunk - 1;
    for (int j = 0; j < b->n_labels; j++) {
        int branch = r;
        for (int i = 0; i + 1 < label_len(b, j); i++, r++) {
            memcpy(x + (size_t)r * dim, L->tok_emb + (size_t)b->labels[j].ids[i] * dim, (size_t)dim * sizeof(float));
            if (deep)
                deep[r] = -1;
            pos[r] = p->trunk + i;
            kend[r] = p->trunk;
            bstart[r] = branch;
            outs[o++] = r;
        }
    }
    fb->seqs[s] = (fwd_seq){r0, p->rows, out0, p->nout};
}

/* The label tokens' rows of the output head in fp32, for raw-logit scoring: tokens in label order. */
static float *label_head_rows(const llama *L, const lm_batch *b)
{
    int n = 0, dim = L->c.dim;
    for (int j = 0; j < b->n_labels; j++)
        n += label_len(b, j);
    float *rows = malloc((size_t)n * dim * sizeof *rows);
    if (!rows)
        return NULL;
    for (int j = 0, k = 0; j < b->n_labels; j++)
        for (int i = 0; i < label_len(b, j); i++, k++)
            gemm_weight_row(&L->head, b->labels[j].ids[i], rows + (size_t)k * dim);
    return rows;
}

/* Scores of sequences [s0, s1) from their needed rows' final states in w->hid. */
static int chunk_scores(const llama *L, llama_ws *w, const lm_batch *b, const fwd_batch *fb, int s0,
                        const float *lab_rows, float *scores)
{
    int dim = L->c.dim, V = L->c.vocab;
    if (!lab_rows) {
        if (ws_logits(L, w)) {
            snprintf(w->err, sizeof w->err, "out of memory for logits");
            return -1;
        }
        if (head_logits(L, w, fb->n_out, w->logits))
            return -1;
    }
    for (int s = 0; s < fb->n_seqs; s++) {
        const fwd_seq *q = &fb->seqs[s];
        float *out = scores + (size_t)(s0 + s) * b->n_labels;
        int branch = q->out0 + 1; /* the rows of label j's tokens 1.. follow the read row */
        for (int j = 0, k = 0; j < b->n_labels; j++) {
            float sum = 0.0f;
            for (int i = 0; i < label_len(b, j); i++, k++) {
                int row = i == 0 ? q->out0 : branch + i - 1, tok = b->labels[j].ids[i];
                if (lab_rows) {
                    sum += dot_f32(w->hid + (size_t)row * dim, lab_rows + (size_t)k * dim, dim);
                } else {
                    const float *lg = w->logits + (size_t)row * V;
                    sum += lg[tok] - logsumexp(lg, V);
                }
            }
            branch += label_len(b, j) - 1;
            out[j] = sum;
        }
    }
    return 0;
}

static int run_chunk(const llama *L, llama_ws *w, const lm_batch *b, const seq_plan *plan, int s0, int s1,
                     const float *lab_rows, float *scores)
{
    int rows = 0, n_out = 0, n = s1 - s0;
    for (int s = s0; s < s1; s++) {
        rows += plan[s].rows;
        n_out += plan[s].nout;
    }
    if (ws_reserve(L, w, rows, n, n_out)) {
        snprintf(w->err, sizeof w->err, "out of memory for a chunk of %d rows", rows);
        return -1;
    }
    fwd_seq *seqs = malloc((size_t)n * sizeof *seqs);
    if (!seqs) {
        snprintf(w->err, sizeof w->err, "out of memory");
        return -1;
    }
    fwd_batch fb = {rows, n, n_out, seqs, w->pos, w->kend, w->bstart, w->outs, b->deep_prompts ? w->deep : NULL, w->x};
    for (int s = s0, r = 0, o = 0; s < s1; r += plan[s].rows, o += plan[s].nout, s++)
        fill_seq(L, b, &b->seqs[s], &plan[s], &fb, s - s0, r, o);
    int rc = forward(L, w, &fb, b->deep_prompts, (size_t)b->prompt_len * L->c.dim, NULL);
    if (!rc)
        rc = chunk_scores(L, w, b, &fb, s0, lab_rows, scores);
    free(seqs);
    return rc;
}

typedef struct score_job {
    const llama *L;
    const lm_batch *b;
    const seq_plan *plan;
    const float *lab_rows;
    float *scores;
} score_job;

static int score_chunk(void *ctx, int slot, int s0, int s1)
{
    const score_job *j = ctx;
    return run_chunk(j->L, &j->L->ws[slot], j->b, j->plan, s0, s1, j->lab_rows, j->scores);
}

static int llama_score(lm *m, const lm_batch *b, float *scores)
{
    llama *L = m->impl;
    int S = b->n_seqs;
    seq_plan *plan = malloc((size_t)(S + 1) * sizeof *plan);
    int *rows = malloc((size_t)(S + 1) * sizeof *rows);
    float *lab_rows = b->raw_logits ? label_head_rows(L, b) : NULL;
    int max_rows = 1;
    if (!plan || !rows || (b->raw_logits && !lab_rows)) {
        free(plan), free(rows), free(lab_rows);
        return lm_fail(m, LM_ENOMEM, "out of memory planning a batch of %d sequences", S);
    }
    for (int s = 0; s < S; s++) {
        plan_seq(b, &b->seqs[s], &plan[s]);
        rows[s] = plan[s].rows;
        max_rows = plan[s].rows > max_rows ? plan[s].rows : max_rows;
    }
    if (rope_reserve(L, max_rows)) {
        free(plan), free(rows), free(lab_rows);
        return lm_fail(m, LM_ENOMEM, "out of memory for rotary tables");
    }
    const llama_cfg *c = &L->c;
    double layer_bytes = ((double)c->dim * (c->heads + 2 * c->kv_heads) * c->head_dim +
                          (double)c->heads * c->head_dim * c->dim +
                          (c->ffn_act == FFN_SWIGLU ? 3.0 : 2.0) * c->dim * c->ffn) * act_size(L->act);
    score_job job = {L, b, plan, lab_rows, scores};
    int failed;
    int rc = run_chunks(rows, S, m->opts.chunk_rows, m->opts.threads, layer_bytes, score_chunk, &job, &failed);
    free(plan), free(rows), free(lab_rows);
    if (rc)
        return lm_fail(m, LM_ENOMEM, "%s", failed >= 0 ? L->ws[failed].err : "out of memory");
    return LM_OK;
}

/* Every row's state at the input of every layer and at the output of the last, for one sequence of a batch: its
 * whole token sequence (tokens after read_pos too) with its prompt, no label rows. */
static int llama_hidden(lm *m, const lm_batch *b, int s, float *out)
{
    llama *L = m->impl;
    llama_ws *w = &L->ws[0];
    lm_seq q = b->seqs[s];
    q.read_pos = q.n - 1;
    lm_batch one = *b;
    one.n_labels = 0;
    seq_plan p;
    plan_seq(&one, &q, &p);
    if (rope_reserve(L, p.rows) || ws_reserve(L, w, p.rows, 1, p.rows))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d rows", p.rows);
    fwd_seq seq;
    fwd_batch fb = {p.rows, 1, p.rows, &seq, w->pos, w->kend, w->bstart, w->outs, b->deep_prompts ? w->deep : NULL,
                    w->x};
    fill_seq(L, &one, &q, &p, &fb, 0, 0, 0);
    seq.nout = p.rows;
    for (int i = 0; i < p.rows; i++)
        w->outs[i] = i;
    if (forward(L, w, &fb, b->deep_prompts, (size_t)b->prompt_len * L->c.dim, out))
        return lm_fail(m, LM_ENOMEM, "%s", w->err);
    return LM_OK;
}

/* ---- plain language-model use ---- */

/* One sequence without a prompt; the needed rows are the last `nout` ones. */
static int run_plain(lm *m, const int *ids, int n, int nout)
{
    llama *L = m->impl;
    llama_ws *w = &L->ws[0];
    if (rope_reserve(L, n) || ws_reserve(L, w, n, 1, nout))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d tokens", n);
    fwd_seq seq = {0, n, 0, nout};
    fwd_batch fb = {n, 1, nout, &seq, w->pos, w->kend, w->bstart, w->outs, NULL, w->x};
    for (int i = 0; i < n; i++) {
        memcpy(w->x + (size_t)i * L->c.dim, L->tok_emb + (size_t)ids[i] * L->c.dim, (size_t)L->c.dim * sizeof(float));
        w->pos[i] = i;
        w->kend[i] = i + 1;
        w->bstart[i] = i + 1;
    }
    for (int i = 0; i < nout; i++)
        w->outs[i] = n - nout + i;
    if (forward(L, w, &fb, NULL, 0, NULL))
        return lm_fail(m, LM_ENOMEM, "%s", w->err);
    return LM_OK;
}

static int llama_logits(lm *m, const int *ids, int n, float *out)
{
    llama *L = m->impl;
    int rc = run_plain(m, ids, n, n);
    if (!rc && head_logits(L, &L->ws[0], n, out))
        rc = lm_fail(m, LM_ENOMEM, "%s", L->ws[0].err);
    return rc;
}

/* ---- generation with a key/value cache ---- */

static int cache_reserve(llama *L, int n)
{
    kv_cache *kc = &L->cache;
    if (n <= kc->cap)
        return 0;
    int cap = kc->cap ? kc->cap : 64;
    while (cap < n)
        cap *= 2;
    cap = cap < L->c.max_pos ? cap : L->c.max_pos;
    size_t row = 2 * (size_t)L->c.kv_heads * L->c.head_dim;
    float *kv = malloc((size_t)L->c.layers * cap * row * sizeof *kv);
    int *ids = realloc(kc->ids, (size_t)cap * sizeof *ids);
    if (!kv || !ids) {
        free(kv);
        if (ids)
            kc->ids = ids;
        return -1;
    }
    for (int l = 0; kc->kv && l < L->c.layers; l++)
        memcpy(kv + (size_t)l * cap * row, kc->kv + (size_t)l * kc->cap * row, (size_t)kc->len * row * sizeof *kv);
    free(kc->kv);
    kc->kv = kv;
    kc->ids = ids;
    kc->cap = cap;
    return 0;
}

/* Run rows [keep, n) of ids through the layers, keys and values of rows [0, keep) coming from the cache; the last
 * row's final state goes to w->hid. */
static int forward_cached(llama *L, llama_ws *w, const int *ids, int keep, int n)
{
    const llama_cfg *c = &L->c;
    kv_cache *kc = &L->cache;
    int dim = c->dim, hd = c->head_dim, qd = c->heads * hd, kvd = c->kv_heads * hd, qkvd = qd + 2 * kvd;
    int fresh = n - keep;
    act_type t = L->act;
    for (int i = 0; i < fresh; i++) {
        memcpy(w->x + (size_t)i * dim, L->tok_emb + (size_t)ids[keep + i] * dim, (size_t)dim * sizeof(float));
        w->outs[i] = keep + i;
    }
    for (int i = 0; i < n; i++) {
        w->pos[i] = i;
        w->kend[i] = i + 1;
        w->bstart[i] = i + 1;
    }
    if (c->positions == POS_LEARNED)
        add_positions(L, w->x, fresh, w->pos + keep);
    for (int l = 0; l < c->layers; l++) {
        const llama_layer *ly = &L->layers[l];
        float *kv = kc->kv + (size_t)l * kc->cap * 2 * kvd;
        int last = l == c->layers - 1;
        norm_rows(L, w->xb, t, w->x, ly->attn_norm, ly->attn_norm_b, fresh);
        GEMM(&ly->wqkv, fresh, w->xb, dim, w->qkv, qkvd, GEMM_STORE, NULL);
        for (int i = 0; i < fresh; i++)
            memcpy(kv + (size_t)(keep + i) * 2 * kvd, w->qkv + (size_t)i * qkvd + qd, 2 * (size_t)kvd * sizeof(float));
        /* in the last layer only the last row goes on */
        attn_seq sq = {.n = n, .q = w->qkv, .k = kv, .v = kv + kvd, .ldq = qkvd, .ldk = 2 * kvd, .ldv = 2 * kvd,
                       .q0 = keep, .kend = w->kend, .bstart = w->bstart, .pos = w->pos,
                       .qrows = last ? w->outs + fresh - 1 : w->outs, .nq = last ? 1 : fresh, .out = w->att,
                       .ldo = qd, .t = t};
        if (attention_any(L, w, &sq, 1, c->positions == POS_ROPE ? L->rope : NULL))
            return -1;
        float *x = last ? w->x + (size_t)(fresh - 1) * dim : w->x;
        int m = last ? 1 : fresh;
        if (layer_rest(L, w, ly, x, m))
            return -1;
        if (last)
            norm_rows(L, w->hid, ACT_F32, x, L->final_norm, L->final_norm_b, 1);
    }
    return 0;
}

/* Logits after ids[0..n-1], reusing the cached keys and values of the longest common prefix with the last call
 * (generation appends one token per call, so each costs one row). */
static int llama_next_logits(lm *m, const int *ids, int n, float *out)
{
    llama *L = m->impl;
    llama_ws *w = &L->ws[0];
    kv_cache *kc = &L->cache;
    int keep = 0;
    while (keep < kc->len && keep < n - 1 && kc->ids[keep] == ids[keep])
        keep++;
    if (rope_reserve(L, n) || ws_reserve(L, w, n, 1, n) || cache_reserve(L, n))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d tokens", n);
    kc->len = keep; /* until the new rows are in */
    memcpy(kc->ids + keep, ids + keep, (size_t)(n - keep) * sizeof *ids);
    if (forward_cached(L, w, ids, keep, n) || head_logits(L, w, 1, out))
        return lm_fail(m, LM_ENOMEM, "%s", w->err);
    kc->len = n;
    return LM_OK;
}

static const lm_ops llama_ops = {
    .name = "llama",
    .close = llama_free,
    .score = llama_score,
    .logits = llama_logits,
    .next_logits = llama_next_logits,
    .hidden = llama_hidden,
};
