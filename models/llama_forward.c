/* llama_forward.c — the causal decoder's forward pass (see the reading guide in llama.c): rotary tables, scratch,
 * the layers over a batch of sequences laid out as rows, and the output head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama_impl.h"

/* Rotary frequencies, with the context-extension rescaling some checkpoints ask for. */
int llama_rope_init(llama *L)
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
int llama_rope_reserve(llama *L, int n)
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


/* ---- the forward pass ---- */

int llama_ws_reserve(const llama *L, llama_ws *w, int rows, int n_seqs, int n_out)
{
    const llama_cfg *c = &L->c;
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    chunk_widths cw = {c->dim, c->dim > qd ? c->dim : qd, qd, qd + 2 * kvd, c->ffn, c->ffn_act == FFN_SWIGLU, L->act};
    return chunk_ws_reserve(w, &cw, rows, n_seqs, n_out);
}

/* Room for cap_out rows of vocabulary logits (allocated on first use: raw-logit scoring never needs it). */
int llama_ws_logits(const llama *L, llama_ws *w)
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
    int rc = attention_run(L->g, L->attn, seqs, n, &sh, w->err, sizeof w->err);
    return rc ? chunk_ws_fail(w, rc) : 0;
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
        int gemm_rc_ = gemm_run(L->g, (wt), (m), (a), (lda), (c_), (ldc), (ep), (mul), w->err, sizeof w->err);       \
        if (gemm_rc_)                                                                                                \
            return chunk_ws_fail(w, gemm_rc_);                                                                       \
    } while (0)

/* The GEMM epilogue that applies a one-activation feed-forward's activation. */
static gemm_epilogue ffn_epilogue(ffn_kind k)
{
    switch (k) {
    case FFN_GELU_TANH: return GEMM_GELU_TANH;
    case FFN_GELU_ERF: return GEMM_GELU_ERF;
    case FFN_RELU: return GEMM_RELU;
    case FFN_QUICK_GELU: return GEMM_QUICK_GELU;
    case FFN_SILU: case FFN_SWIGLU: break;
    }
    return GEMM_SILU;
}

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
        GEMM(&ly->w1, m, w->xb, dim, w->ffn1, c->ffn, ffn_epilogue(c->ffn_act), NULL);
    }
    GEMM(&ly->w2, m, hidden, c->ffn, x, dim, GEMM_ADD, NULL);
    return 0;
}

/* Run every layer over the batch; the final-normed states of the needed rows go to w->hid (n_out × dim). With a
 * trace (then every row is needed), each layer's input and the last layer's output are copied there: (layers + 1) ×
 * rows × dim floats. */
int llama_forward(const llama *L, llama_ws *w, fwd_batch *b, const float *deep, size_t deep_layer_stride,
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
int llama_head_logits(const llama *L, llama_ws *w, int n, float *out)
{
    int dim = L->c.dim;
    for (int r = 0; r < n; r++)
        act_store((char *)w->xb + (size_t)r * dim * act_size(L->act), L->act, w->hid + (size_t)r * dim, dim);
    GEMM(&L->head, n, w->xb, dim, out, L->c.vocab, GEMM_STORE, NULL);
    return 0;
}

