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
 *
 * Files: this one loads the weights and builds the engine; llama_forward.c runs the forward pass (`llama_forward`);
 * llama_score.c scores batches, gives logits and generates; llama_impl.h holds the state they share.
 */
#include "models/llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama_impl.h"

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
    if (!rc && (rc = gemm_weight_pack(L->g, w, buf, n, k, (size_t)k, 0, err, errlen)))
        L->pack_status = chunk_lm_status(rc);
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

static const lm_ops llama_ops = {
    .name = "llama",
    .close = llama_free,
    .score = llama_score,
    .logits = llama_logits,
    .next_logits = llama_next_logits,
    .hidden = llama_hidden,
};

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
    int grc = gemm_ctx_create(&L->g, L->act, err, sizeof err);
    if (grc) {
        rc = chunk_lm_status(grc);
        goto fail;
    }
    if (!(L->layers = calloc((size_t)c->layers, sizeof *L->layers)) || llama_rope_init(L)) {
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
    float *head = c->tied ? L->tok_emb : read_vec(src, LR_HEAD, 0, emb, err, sizeof err);
    if (!head)
        goto fail;
    grc = gemm_weight_pack(L->g, &L->head, head, c->vocab, c->dim, (size_t)c->dim, 1, err, sizeof err);
    if (head != L->tok_emb)
        free(head);
    if (grc) {
        rc = chunk_lm_status(grc);
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
    if (L->pack_status) /* the weights were readable; packing them failed */
        rc = L->pack_status;
    llama_free(L);
    return lm_fail(m, rc, "%s", err);
}

