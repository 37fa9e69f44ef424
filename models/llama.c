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
 * Shared prefixes (score_plan.h). A row depends on the rows before it only, so sequences of a batch that begin with
 * the same input rows — in BBT every example of a candidate prompt starts with BOS and the prompt's rows — have the
 * same states, keys and values there at every layer. The planner groups such sequences into units: the common prefix
 * goes into the forward pass once, as a sequence of its own whose output nobody reads, and each member brings only
 * its rows after it; attention reads a member's first `pre` keys and values from the prefix's rows (attn_seq.pre).
 * Every row still gets the same arithmetic as without sharing. The generation cache uses the same mechanism: the
 * cached rows are the `pre` rows of the one sequence.
 *
 * Units (a sequence on its own, or a prefix and its members) are grouped into chunks of about 1024 rows. When there
 * are chunks enough and a layer's weights fit the shared cache, each thread runs its own chunks with single-threaded
 * products (no barriers at all); otherwise the chunks go one after the other with every thread inside each product.
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
#include "models/score_plan.h"

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

/* One sequence of a forward pass. Its attention rows ("index rows", as attn_seq numbers them) are r = 0 .. pre+n-1:
 * the first `pre` are rows it shares with other sequences and does not compute (their keys and values come from
 * elsewhere), the other n are its own rows row0 .. row0+n-1 of the batch. */
typedef struct fwd_seq {
    int row0, n;          /* its own rows */
    int out0, nout;       /* its needed rows: outs[out0 .. out0+nout) (index rows, ascending) */
    int idx0;             /* its index rows' entries in pos, kend and bstart: [idx0, idx0 + pre + n) */
    int pre;              /* rows before its own that it attends to */
    int pre_row0;         /* >= 0: they are rows pre_row0 .. of this batch (a shared prefix, itself a sequence of the
                             batch); -1: their keys and values come from the batch's kv_in */
    int id;               /* the batch sequence it scores; -1: a shared prefix */
} fwd_seq;

typedef struct fwd_batch {
    int rows, n_seqs, n_out;
    fwd_seq *seqs;
    int *pos, *kend, *bstart;   /* per index row (see fwd_seq, attn_seq) */
    int *outs;
    int *deep;                  /* per row: offset of its deep-prompt row within layer 0, or -1; NULL: none */
    float *x;
    /* generation: keys and values of the earlier rows (pre_row0 = -1) read from kv_in, those of every row of the
     * batch written to kv_out; layer l at + l·kv_layer floats, row r at + r·2·kv_dim (k | v); NULL: none */
    const float *kv_in;
    float *kv_out;
    size_t kv_layer;
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
            memcpy(dst + (size_t)(q->out0 + i) * dim, x + (size_t)(q->row0 + b->outs[q->out0 + i] - q->pre) * dim,
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

/* Attention over every sequence of the batch, in layer l; in the last layer only the needed query rows (sel). */
static int attend(const llama *L, llama_ws *w, const fwd_batch *b, int l, int sel, const float *rope)
{
    const llama_cfg *c = &L->c;
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim, ld = qd + 2 * kvd, n = 0;
    size_t es = act_size(L->act);
    for (int s = 0; s < b->n_seqs; s++) {
        const fwd_seq *q = &b->seqs[s];
        int nq = sel ? q->nout : q->n;
        if (!nq) /* a shared prefix in the last layer: only its keys and values were needed */
            continue;
        const float *base = w->qkv + (size_t)q->row0 * ld, *pk = NULL;
        int ldp = 0;
        if (q->pre && q->pre_row0 >= 0) { /* rows of this batch: their keys and values are in this layer's q|k|v */
            pk = w->qkv + (size_t)q->pre_row0 * ld + qd;
            ldp = ld;
        } else if (q->pre) {
            pk = b->kv_in + (size_t)l * b->kv_layer;
            ldp = 2 * kvd;
        }
        w->aseq[n++] = (attn_seq){
            .n = q->pre + q->n, .q = base, .k = base + qd, .v = base + qd + kvd, .ldq = ld, .ldk = ld, .ldv = ld,
            .pre = q->pre, .pk = pk, .pv = pk ? pk + kvd : NULL, .ldp = ldp,
            .kend = b->kend + q->idx0, .bstart = b->bstart + q->idx0, .pos = b->pos + q->idx0,
            .qrows = sel ? b->outs + q->out0 : w->iota + q->pre, .nq = nq,
            .out = (char *)w->att + (size_t)(sel ? q->out0 : q->row0) * qd * es, .ldo = qd, .t = L->act};
    }
    return attention_any(L, w, w->aseq, n, rope);
}

/* Keys and values of every row of the batch, as the q|k|v product of layer l gave them, to b->kv_out. */
static void save_kv(const llama *L, const llama_ws *w, const fwd_batch *b, int l)
{
    const llama_cfg *c = &L->c;
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    float *dst = b->kv_out + (size_t)l * b->kv_layer;
    for (int r = 0; r < b->rows; r++)
        memcpy(dst + (size_t)r * 2 * kvd, w->qkv + (size_t)r * (qd + 2 * kvd) + qd, 2 * (size_t)kvd * sizeof(float));
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

/* GPT-2's learned positions: add to every row of the batch the embedding of its position. */
static void add_positions(const llama *L, const fwd_batch *b)
{
    int dim = L->c.dim;
#pragma omp parallel for schedule(dynamic, 1)
    for (int s = 0; s < b->n_seqs; s++) {
        const fwd_seq *q = &b->seqs[s];
        for (int i = 0; i < q->n; i++) {
            float *row = b->x + (size_t)(q->row0 + i) * dim;
            const float *p = L->pos_emb + (size_t)b->pos[q->idx0 + q->pre + i] * dim;
            for (int d = 0; d < dim; d++)
                row[d] += p[d];
        }
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
        add_positions(L, b);
    for (int l = 0; l < c->layers; l++) {
        const llama_layer *ly = &L->layers[l];
        if (b->deep)
            add_deep(b->x, R, dim, b->deep, deep + (size_t)l * deep_layer_stride);
        if (trace)
            memcpy(trace + l * plane, b->x, plane * sizeof(float));
        norm_rows(L, w->xb, L->act, b->x, ly->attn_norm, ly->attn_norm_b, R);
        GEMM(&ly->wqkv, R, w->xb, dim, w->qkv, qkvd, GEMM_STORE, NULL);
        if (b->kv_out)
            save_kv(L, w, b, l);
        int sel = l == c->layers - 1 && b->n_out < R;
        if (attend(L, w, b, l, sel, c->positions == POS_ROPE ? L->rope : NULL))
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

/* Input rows of trunk rows [from, to) of sequence q (plan p) into x, one after the other, and their deep-prompt
 * offsets into deep (NULL: none). */
static void fill_trunk(const llama *L, const lm_batch *b, const lm_seq *q, const seq_plan *p, int from, int to,
                       float *x, int *deep)
{
    int dim = L->c.dim, Lp = b->prompt_len;
    const float *prompt = q->mode != LM_PROMPT_NONE && b->prompts ? b->prompts + (size_t)q->prompt * Lp * dim : NULL;
    size_t deep0 = (size_t)q->prompt * L->c.layers * Lp * dim;
    for (int r = from; r < to; r++) {
        trunk_row k = trunk_row_at(b, q, p, r);
        float *row = x + (size_t)(r - from) * dim;
        const float *add = prompt && k.j >= 0 ? prompt + (size_t)k.j * dim : NULL;
        if (k.tok >= 0) {
            memcpy(row, L->tok_emb + (size_t)k.tok * dim, (size_t)dim * sizeof(float));
            for (int d = 0; add && d < dim; d++)
                row[d] += add[d];
        } else if (add) {
            memcpy(row, add, (size_t)dim * sizeof(float));
        } else {
            memset(row, 0, (size_t)dim * sizeof(float));
        }
        if (deep)
            deep[r - from] = k.j >= 0 ? (int)(deep0 + (size_t)k.j * dim) : -1;
    }
}

/* Plain causal index rows [0, n): positions 0 .. n-1, each row seeing the rows up to itself. */
static void causal_index(fwd_batch *fb, int idx0, int n)
{
    for (int i = 0; i < n; i++) {
        fb->pos[idx0 + i] = i;
        fb->kend[idx0 + i] = i + 1;
        fb->bstart[idx0 + i] = i + 1;
    }
}

/* Lay out sequence q as fb->seqs[k]: its own rows (those after its first `pre` trunk rows, which are rows pre_row0 ..
 * of the batch, or none) from row0, its index rows from idx0, its needed rows from out0. */
static void fill_seq(const llama *L, const lm_batch *b, const lm_seq *q, const seq_plan *p, fwd_batch *fb, int k,
                     fwd_seq at)
{
    int dim = L->c.dim;
    float *x = fb->x + (size_t)at.row0 * dim;
    int *deep = fb->deep ? fb->deep + at.row0 : NULL;
    fill_trunk(L, b, q, p, at.pre, p->trunk, x, deep);
    causal_index(fb, at.idx0, p->trunk);
    int *pos = fb->pos + at.idx0, *kend = fb->kend + at.idx0, *bstart = fb->bstart + at.idx0;
    int *outs = fb->outs + at.out0;
    int o = 0, r = p->trunk; /* r: index row; its row is r - pre */
    outs[o++] = p->trunk - 1;
    for (int j = 0; j < b->n_labels; j++) {
        int branch = r;
        for (int i = 0; i + 1 < label_len(b, j); i++, r++) {
            memcpy(x + (size_t)(r - at.pre) * dim, L->tok_emb + (size_t)b->labels[j].ids[i] * dim,
                   (size_t)dim * sizeof(float));
            if (deep)
                deep[r - at.pre] = -1;
            pos[r] = p->trunk + i;
            kend[r] = p->trunk;
            bstart[r] = branch;
            outs[o++] = r;
        }
    }
    at.n = p->rows - at.pre;
    at.nout = p->nout;
    fb->seqs[k] = at;
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

/* Scores of the batch's sequences in fb from their needed rows' final states in w->hid. */
static int chunk_scores(const llama *L, llama_ws *w, const lm_batch *b, const fwd_batch *fb, const float *lab_rows,
                        float *scores)
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
        if (q->id < 0)
            continue;
        float *out = scores + (size_t)q->id * b->n_labels;
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

typedef struct score_job {
    const llama *L;
    const lm_batch *b;
    const seq_plan *plan;
    const score_units *units;
    const float *lab_rows;
    float *scores;
} score_job;

/* Lay out unit u of the score batch in fb after what is there (*at: the next row, index row, needed row and fwd_seq):
 * its shared prefix first, as a sequence whose output nobody reads, then each member's own rows. */
static void fill_unit(const score_job *j, const score_unit *u, fwd_batch *fb, fwd_seq *at)
{
    const lm_batch *b = j->b;
    const int *members = j->units->order + u->first;
    int pre_row0 = -1, k = fb->n_seqs;
    if (u->pre) { /* the prefix: the first member's first rows (every member's are the same) */
        int s = members[0], dim = j->L->c.dim;
        fill_trunk(j->L, b, &b->seqs[s], &j->plan[s], 0, u->pre, fb->x + (size_t)at->row0 * dim,
                   fb->deep ? fb->deep + at->row0 : NULL);
        causal_index(fb, at->idx0, u->pre);
        fb->seqs[k++] = (fwd_seq){at->row0, u->pre, at->out0, 0, at->idx0, 0, -1, -1};
        pre_row0 = at->row0;
        at->row0 += u->pre;
        at->idx0 += u->pre;
    }
    for (int i = 0; i < u->count; i++) {
        int s = members[i];
        const seq_plan *p = &j->plan[s];
        fill_seq(j->L, b, &b->seqs[s], p, fb, k++, (fwd_seq){at->row0, 0, at->out0, 0, at->idx0, u->pre, pre_row0, s});
        at->row0 += p->rows - u->pre;
        at->idx0 += p->rows;
        at->out0 += p->nout;
    }
    fb->n_seqs = k;
}

/* Units [u0, u1) of a score batch as one forward pass, and their members' scores. */
static int run_chunk(const score_job *j, llama_ws *w, int u0, int u1)
{
    const lm_batch *b = j->b;
    int rows = 0, index_rows = 0, n_seqs = 0, n_out = 0;
    for (int u = u0; u < u1; u++) {
        const score_unit *un = &j->units->u[u];
        rows += un->rows;
        index_rows += un->index_rows;
        n_seqs += un->count + (un->pre > 0);
        n_out += un->n_out;
    }
    if (ws_reserve(j->L, w, rows, n_seqs, n_out) || chunk_ws_reserve_index(w, index_rows)) {
        snprintf(w->err, sizeof w->err, "out of memory for a chunk of %d rows", rows);
        return -1;
    }
    fwd_seq *seqs = malloc((size_t)n_seqs * sizeof *seqs);
    if (!seqs) {
        snprintf(w->err, sizeof w->err, "out of memory");
        return -1;
    }
    fwd_batch fb = {rows, 0, n_out, seqs, w->pos, w->kend, w->bstart, w->outs, b->deep_prompts ? w->deep : NULL,
                    w->x, NULL, NULL, 0};
    fwd_seq at = {0};
    for (int u = u0; u < u1; u++)
        fill_unit(j, &j->units->u[u], &fb, &at);
    int rc = forward(j->L, w, &fb, b->deep_prompts, (size_t)b->prompt_len * j->L->c.dim, NULL);
    if (!rc)
        rc = chunk_scores(j->L, w, b, &fb, j->lab_rows, j->scores);
    free(seqs);
    return rc;
}

static int score_chunk(void *ctx, int slot, int u0, int u1)
{
    const score_job *j = ctx;
    return run_chunk(j, &j->L->ws[slot], u0, u1);
}

/* Shortest common prefix computed once for several sequences by default (LM_SHARE_AUTO). Not a measured optimum:
 * a shorter one (BOS alone) saves a row or a few per sequence while the planner still regroups the batch, so the
 * default leaves such prefixes alone; BBT's (BOS + the prompt) are 10-100 rows. */
enum { SHARE_MIN_ROWS = 8 };

static int share_min_rows(lm_prefix_share share)
{
    return share == LM_SHARE_OFF ? 0 : share == LM_SHARE_ALWAYS ? 1 : SHARE_MIN_ROWS;
}

/* Bytes of one layer's weights in the compute type: run_chunks lets each thread run its own chunks when they fit the
 * shared cache. */
static double layer_bytes(const llama *L)
{
    const llama_cfg *c = &L->c;
    return ((double)c->dim * (c->heads + 2 * c->kv_heads) * c->head_dim + (double)c->heads * c->head_dim * c->dim +
            (c->ffn_act == FFN_SWIGLU ? 3.0 : 2.0) * c->dim * c->ffn) * act_size(L->act);
}

/* Plan every sequence, group them into units (sequences sharing a prefix) and run the units in chunks. */
static int llama_score(lm *m, const lm_batch *b, float *scores)
{
    llama *L = m->impl;
    int S = b->n_seqs, max_rows = 1, chunk_rows = m->opts.chunk_rows > 0 ? m->opts.chunk_rows : DEFAULT_CHUNK_ROWS;
    seq_plan *plan = malloc((size_t)(S + 1) * sizeof *plan);
    float *lab_rows = b->raw_logits ? label_head_rows(L, b) : NULL;
    score_units units = {0};
    int *rows = NULL, rc = LM_OK, failed;
    for (int s = 0; plan && s < S; s++) {
        plan_seq(b, &b->seqs[s], &plan[s]);
        max_rows = plan[s].rows > max_rows ? plan[s].rows : max_rows;
    }
    if (!plan || (b->raw_logits && !lab_rows) ||
        plan_units(b, plan, share_min_rows(m->opts.share_prefix), chunk_rows, CHUNKS_PER_THREAD * m->opts.threads,
                   &units) ||
        !(rows = malloc(((size_t)units.n + 1) * sizeof *rows))) {
        rc = lm_fail(m, LM_ENOMEM, "out of memory planning a batch of %d sequences", S);
    } else if (rope_reserve(L, max_rows)) {
        rc = lm_fail(m, LM_ENOMEM, "out of memory for rotary tables");
    } else {
        for (int u = 0; u < units.n; u++)
            rows[u] = units.u[u].rows;
        score_job job = {L, b, plan, &units, lab_rows, scores};
        if (run_chunks(rows, units.n, chunk_rows, m->opts.threads, layer_bytes(L), score_chunk, &job, &failed))
            rc = lm_fail(m, LM_ENOMEM, "%s", failed >= 0 ? L->ws[failed].err : "out of memory");
        else
            m->rows_computed = units.rows;
    }
    free(plan), free(rows), free(lab_rows), score_units_free(&units);
    return rc;
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
                    w->x, NULL, NULL, 0};
    fill_seq(L, &one, &q, &p, &fb, 0, (fwd_seq){0, 0, 0, 0, 0, 0, -1, s});
    seq.nout = p.rows;
    for (int i = 0; i < p.rows; i++)
        w->outs[i] = i;
    if (forward(L, w, &fb, b->deep_prompts, (size_t)b->prompt_len * L->c.dim, out))
        return lm_fail(m, LM_ENOMEM, "%s", w->err);
    return LM_OK;
}

/* ---- plain language-model use ---- */

/* Rows [keep, n) of ids (no prompt) through the layers; the final states of the last nout rows go to w->hid. With a
 * cache, the keys and values of rows [0, keep) come from it and those of the new rows go into it. */
static int run_plain(lm *m, const int *ids, int keep, int n, int nout, kv_cache *kc)
{
    llama *L = m->impl;
    llama_ws *w = &L->ws[0];
    int fresh = n - keep;
    if (rope_reserve(L, n) || ws_reserve(L, w, fresh, 1, nout) || chunk_ws_reserve_index(w, n))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d tokens", n);
    fwd_seq seq = {0, fresh, 0, nout, 0, keep, -1, -1};
    fwd_batch fb = {fresh, 1, nout, &seq, w->pos, w->kend, w->bstart, w->outs, NULL, w->x, NULL, NULL, 0};
    if (kc) {
        size_t row = 2 * (size_t)L->c.kv_heads * L->c.head_dim;
        fb.kv_in = kc->kv;
        fb.kv_out = kc->kv + (size_t)keep * row;
        fb.kv_layer = (size_t)kc->cap * row;
    }
    for (int i = 0; i < fresh; i++)
        memcpy(w->x + (size_t)i * L->c.dim, L->tok_emb + (size_t)ids[keep + i] * L->c.dim,
               (size_t)L->c.dim * sizeof(float));
    causal_index(&fb, 0, n);
    for (int i = 0; i < nout; i++)
        w->outs[i] = n - nout + i;
    if (forward(L, w, &fb, NULL, 0, NULL))
        return lm_fail(m, LM_ENOMEM, "%s", w->err);
    return LM_OK;
}

static int llama_logits(lm *m, const int *ids, int n, float *out)
{
    llama *L = m->impl;
    int rc = run_plain(m, ids, 0, n, n, NULL);
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

/* Logits after ids[0..n-1], reusing the cached keys and values of the longest common prefix with the last call
 * (generation appends one token per call, so each costs one row). */
static int llama_next_logits(lm *m, const int *ids, int n, float *out)
{
    llama *L = m->impl;
    kv_cache *kc = &L->cache;
    int keep = 0;
    while (keep < kc->len && keep < n - 1 && kc->ids[keep] == ids[keep])
        keep++;
    if (cache_reserve(L, n))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d tokens", n);
    kc->len = keep; /* until the new rows are in */
    memcpy(kc->ids + keep, ids + keep, (size_t)(n - keep) * sizeof *ids);
    int rc = run_plain(m, ids, keep, n, 1, kc);
    if (rc)
        return rc;
    if (head_logits(L, &L->ws[0], 1, out))
        return lm_fail(m, LM_ENOMEM, "%s", L->ws[0].err);
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
