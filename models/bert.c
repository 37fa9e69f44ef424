/* bert.c — BERT and RoBERTa masked LMs (Hugging Face layout): the batched encoder and scoring at the mask.
 *
 * Reading guide (Devlin et al. 2019; RoBERTa, Liu et al. 2019, changes only the embeddings' position numbering and the
 * head's GELU). All sequences of a chunk are laid out as rows; every (sequence, token) pair is one row of every matrix
 * product:
 *
 *     x   = LayerNorm(word[id] + position[p] + type[t])   token rows (RoBERTa: p counts from padding id + 1)
 *           the soft prompt meets this output: added onto rows prompt_pos.. ("add") or inserted as rows before token
 *           prompt_pos ("cat"; no position or type embedding, the tokens keep their positions)
 *     for each layer (post-norm):
 *         qkv = x · [Wq Wk Wv]ᵀ + b                    one GEMM for the three projections, biases inside it,
 *                                                        written in the compute type
 *         att = softmax(q kᵀ / √d) v                     per sequence: every row sees every row of its own sequence;
 *                                                        in bf16 as two matrix products reading q, k, v in place
 *         x   = LayerNorm(x + att · Woᵀ + bo)            residual add inside the GEMM; the norm writes x (fp32) and
 *         h   = gelu(x · W1ᵀ + b1)                       its copy in the compute type in one pass; exact-erf GELU
 *         x   = LayerNorm(x + h · W2ᵀ + b2)              fused into the GEMM
 *     head, at the mask rows only:  t = LayerNorm(gelu(x · Wdᵀ + bd)),  score_j = t · E[label_j] + bias[label_j]
 *
 * Only the work the scores need is done: the last layer computes keys and values for every row but goes on past
 * attention with the mask rows alone, and the head's decoder is a dot product with each label's row of the (tied)
 * embedding table instead of a product with the whole vocabulary. Sequences are independent and never padded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/attention.h"
#include "models/chunks.h"
#include "models/gemm.h"
#include "models/hf.h"
#include "models/kernels.h"
#include "models/lm_impl.h"

typedef struct bert_cfg {
    int dim, ffn, layers, heads, vocab, positions, types;
    float eps;
    int roberta;          /* positions count from pad + 1, skipping padding tokens; the head's GELU is the exact one */
    int pad;              /* padding id (RoBERTa's position numbering), -1 if none */
    int gelu_tanh;        /* hidden_act is the tanh approximation (gelu_new); else the exact erf */
    int tied;             /* the decoder is the word embedding table */
} bert_cfg;

typedef struct bert_layer {
    gemm_weight wqkv, wo, w1, w2;   /* with their biases */
    float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
} bert_layer;

/* Scratch for one forward pass over up to cap_rows rows, one per thread slot (chunks.h); ffn1 holds the
 * feed-forward's hidden rows; q|k|v are in the compute type. */
typedef chunk_ws bert_ws;

typedef struct bert {
    bert_cfg c;
    act_type act;
    gemm_ctx *g;
    lm_attention attn;
    float *word, *pos_emb, *type_emb, *emb_g, *emb_b;  /* fp32 tables; word is vocab × dim */
    bert_layer *layers;
    gemm_weight head;                    /* the head's dense transform, with its bias */
    float *head_g, *head_b, *dec_bias;   /* the head's LayerNorm; the decoder's bias (vocab) */
    float *decoder;                      /* vocab × dim fp32 when not tied, else NULL (the word table is used) */
    gemm_weight dec;                     /* the decoder packed for whole-vocabulary logits, made on first use */
    int pack_status;                     /* while loading: the lm_status of a failed weight pack, or 0 */
    bert_ws *ws;
    int n_ws;
} bert;

/* One forward chunk: whole sequences as rows. */
typedef struct enc_seq {
    int row0, n;          /* its rows (tokens and inserted prompt rows) */
    int out0, nout;       /* its needed rows: outs[out0 .. out0+nout), relative to row0 */
} enc_seq;

typedef struct enc_batch {
    int rows, n_seqs, n_out;
    enc_seq *seqs;
    int *outs;
    int *deep;            /* per row: offset of its deep-prompt row within a layer's prompts, or -1; NULL: none */
} enc_batch;

static const lm_ops bert_ops;

/* ---- loading ---- */

static void bert_free(void *impl)
{
    bert *B = impl;
    if (!B)
        return;
    for (int l = 0; B->layers && l < B->c.layers; l++) {
        bert_layer *ly = &B->layers[l];
        gemm_weight_free(&ly->wqkv), gemm_weight_free(&ly->wo), gemm_weight_free(&ly->w1), gemm_weight_free(&ly->w2);
        free(ly->ln1_g), free(ly->ln1_b), free(ly->ln2_g), free(ly->ln2_b);
    }
    free(B->layers);
    free(B->word), free(B->pos_emb), free(B->type_emb), free(B->emb_g), free(B->emb_b);
    gemm_weight_free(&B->head);
    gemm_weight_free(&B->dec);
    free(B->head_g), free(B->head_b), free(B->dec_bias), free(B->decoder);
    for (int i = 0; i < B->n_ws; i++)
        chunk_ws_free(&B->ws[i]);
    free(B->ws);
    gemm_ctx_free(B->g);
    free(B);
}

/* Where the tensors are: the prefix of the encoder ("bert." / "roberta.") and the head's names. */
typedef struct names {
    const char *base;     /* "bert." or "roberta." */
    const char *dense, *norm, *decoder, *bias, *dec_bias;
} names;

/* A tensor read into fresh memory; NULL with err. When `alt` is given and `name` is absent, alt is read instead
 * (older checkpoints name LayerNorm parameters gamma and beta, and some keep the decoder's bias under another name). */
static float *read_new(const hf_model *hf, const char *name, const char *alt, int ndim, int64_t rows, int64_t cols,
                       char *err, size_t errlen)
{
    float *v = malloc((size_t)(rows * cols) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory reading %s", name);
        return NULL;
    }
    const char *which = alt && !hf_has(hf, name) && hf_has(hf, alt) ? alt : name;
    int64_t shape[2] = {rows, cols};
    if (hf_read(hf, which, ndim, shape, v, err, errlen)) {
        free(v);
        return NULL;
    }
    return v;
}

/* A LayerNorm's weight and bias: <prefix>.weight/.bias, or the older .gamma/.beta. */
static int read_norm(const hf_model *hf, const char *prefix, int dim, float **g, float **b, char *err, size_t errlen)
{
    char wn[200], bn[200], ga[200], be[200];
    snprintf(wn, sizeof wn, "%s.weight", prefix);
    snprintf(bn, sizeof bn, "%s.bias", prefix);
    snprintf(ga, sizeof ga, "%s.gamma", prefix);
    snprintf(be, sizeof be, "%s.beta", prefix);
    if (!(*g = read_new(hf, wn, ga, 1, dim, 1, err, errlen)) || !(*b = read_new(hf, bn, be, 1, dim, 1, err, errlen)))
        return -1;
    return 0;
}

/* A Linear layer (or several stacked: q, k, v) packed as one weight with its bias. */
static int read_linear(bert *B, const hf_model *hf, gemm_weight *w, const char *const *parts, int n_parts, int out,
                       int in, char *err, size_t errlen)
{
    size_t rows = (size_t)out * n_parts;
    float *wt = malloc(rows * (size_t)in * sizeof *wt), *bias = malloc(rows * sizeof *bias);
    int rc = wt && bias ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "out of memory reading %s", parts[0]);
    for (int i = 0; !rc && i < n_parts; i++) {
        char wn[200], bn[200];
        snprintf(wn, sizeof wn, "%s.weight", parts[i]);
        snprintf(bn, sizeof bn, "%s.bias", parts[i]);
        int64_t ws[2] = {out, in}, bs[1] = {out};
        rc = hf_read(hf, wn, 2, ws, wt + (size_t)i * out * in, err, errlen) ||
             hf_read(hf, bn, 1, bs, bias + (size_t)i * out, err, errlen);
    }
    if (!rc && (rc = gemm_weight_pack(B->g, w, wt, (int)rows, in, (size_t)in, 0, err, errlen)))
        B->pack_status = chunk_lm_status(rc);
    if (!rc && gemm_weight_set_bias(w, bias)) {
        snprintf(err, errlen, "out of memory reading %s", parts[0]);
        rc = -1;
        B->pack_status = LM_ENOMEM;
    }
    free(wt), free(bias);
    return rc ? -1 : 0;
}

static int load_layer(bert *B, const hf_model *hf, const names *nm, int l, char *err, size_t errlen)
{
    const bert_cfg *c = &B->c;
    bert_layer *ly = &B->layers[l];
    char p[8][200];
    const char *suffix[8] = {"attention.self.query", "attention.self.key", "attention.self.value",
                             "attention.output.dense", "intermediate.dense", "output.dense",
                             "attention.output.LayerNorm", "output.LayerNorm"};
    for (int i = 0; i < 8; i++)
        snprintf(p[i], sizeof p[i], "%sencoder.layer.%d.%s", nm->base, l, suffix[i]);
    const char *qkv[3] = {p[0], p[1], p[2]}, *o[1] = {p[3]}, *up[1] = {p[4]}, *down[1] = {p[5]};
    if (read_linear(B, hf, &ly->wqkv, qkv, 3, c->dim, c->dim, err, errlen) ||
        read_linear(B, hf, &ly->wo, o, 1, c->dim, c->dim, err, errlen) ||
        read_linear(B, hf, &ly->w1, up, 1, c->ffn, c->dim, err, errlen) ||
        read_linear(B, hf, &ly->w2, down, 1, c->dim, c->ffn, err, errlen) ||
        read_norm(hf, p[6], c->dim, &ly->ln1_g, &ly->ln1_b, err, errlen) ||
        read_norm(hf, p[7], c->dim, &ly->ln2_g, &ly->ln2_b, err, errlen))
        return -1;
    return 0;
}

static int load_embeddings(bert *B, const hf_model *hf, const names *nm, char *err, size_t errlen)
{
    const bert_cfg *c = &B->c;
    char wn[200], pn[200], tn[200], ln[200];
    snprintf(wn, sizeof wn, "%sembeddings.word_embeddings.weight", nm->base);
    snprintf(pn, sizeof pn, "%sembeddings.position_embeddings.weight", nm->base);
    snprintf(tn, sizeof tn, "%sembeddings.token_type_embeddings.weight", nm->base);
    snprintf(ln, sizeof ln, "%sembeddings.LayerNorm", nm->base);
    if (!(B->word = read_new(hf, wn, NULL, 2, c->vocab, c->dim, err, errlen)) ||
        !(B->pos_emb = read_new(hf, pn, NULL, 2, c->positions, c->dim, err, errlen)) ||
        !(B->type_emb = read_new(hf, tn, NULL, 2, c->types, c->dim, err, errlen)) ||
        read_norm(hf, ln, c->dim, &B->emb_g, &B->emb_b, err, errlen))
        return -1;
    return 0;
}

static int load_head(bert *B, const hf_model *hf, const names *nm, char *err, size_t errlen)
{
    const bert_cfg *c = &B->c;
    const char *dense[1] = {nm->dense};
    if (read_linear(B, hf, &B->head, dense, 1, c->dim, c->dim, err, errlen) ||
        read_norm(hf, nm->norm, c->dim, &B->head_g, &B->head_b, err, errlen) ||
        !(B->dec_bias = read_new(hf, nm->bias, nm->dec_bias, 1, c->vocab, 1, err, errlen)))
        return -1;
    if (!c->tied && !(B->decoder = read_new(hf, nm->decoder, NULL, 2, c->vocab, c->dim, err, errlen)))
        return -1;
    return 0;
}

/* Read the configuration; 0 or an lm_status with the handle's message set. */
static int read_config(lm *m, const hf_model *hf, int roberta, bert_cfg *c)
{
    char err[512];
    double eps;
    int tie;
    memset(c, 0, sizeof *c);
    c->roberta = roberta;
    if (hf_int(hf, "hidden_size", &c->dim, err, sizeof err) ||
        hf_int(hf, "num_hidden_layers", &c->layers, err, sizeof err) ||
        hf_int(hf, "num_attention_heads", &c->heads, err, sizeof err) ||
        hf_int(hf, "intermediate_size", &c->ffn, err, sizeof err) ||
        hf_int(hf, "vocab_size", &c->vocab, err, sizeof err) ||
        hf_int_or(hf, "max_position_embeddings", 512, &c->positions, err, sizeof err) ||
        hf_int_or(hf, "type_vocab_size", 2, &c->types, err, sizeof err) ||
        hf_int_or(hf, "pad_token_id", roberta ? 1 : 0, &c->pad, err, sizeof err) ||
        hf_float_or(hf, "layer_norm_eps", 1e-12, &eps, err, sizeof err) ||
        hf_bool_or(hf, "tie_word_embeddings", 1, &tie, err, sizeof err))
        return lm_fail(m, LM_EFORMAT, "%s", err);
    c->eps = (float)eps;
    c->tied = tie;
    const char *act = hf_string_or(hf, "hidden_act", "gelu");
    const char *pos = hf_string_or(hf, "position_embedding_type", "absolute");
    if (strcmp(act, "gelu") && strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh"))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: hidden_act '%s' is not supported (gelu, gelu_new and "
                       "gelu_pytorch_tanh are)", hf->config_path, act);
    if (strcmp(pos, "absolute"))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: position_embedding_type '%s' is not supported (absolute is)",
                       hf->config_path, pos);
    c->gelu_tanh = strcmp(act, "gelu") != 0;
    const char *bad = NULL;
    if (c->dim <= 0 || c->layers <= 0 || c->heads <= 0 || c->ffn <= 0 || c->vocab <= 0 || c->positions <= 0 ||
        c->types <= 0)
        bad = "sizes must be positive";
    else if (c->dim % c->heads)
        bad = "hidden_size must be a multiple of num_attention_heads";
    else if ((long long)c->dim * c->vocab > (1LL << 40) || c->dim > (1 << 20) || c->ffn > (1 << 22) ||
             c->layers > 4096 || c->types > (1 << 20) || c->positions > (1 << 24))
        bad = "sizes are implausibly large";
    else if (!(c->eps > 0.0f))
        bad = "layer_norm_eps must be positive";
    else if (roberta && (c->pad < 0 || c->pad + 1 >= c->positions))
        bad = "RoBERTa numbers positions from pad_token_id + 1, which must lie inside max_position_embeddings";
    if (bad)
        return lm_fail(m, LM_EFORMAT, "%s: %s (hidden %d, layers %d, heads %d, intermediate %d, vocab %d, positions "
                       "%d, token types %d, pad %d)", hf->config_path, bad, c->dim, c->layers, c->heads, c->ffn,
                       c->vocab, c->positions, c->types, c->pad);
    return LM_OK;
}

int bert_open_hf(lm *m, hf_model *hf)
{
    const char *arch = hf_architecture(hf);
    int roberta = !strcmp(arch, "RobertaForMaskedLM") || !strcmp(arch, "roberta");
    bert_cfg c;
    int rc = read_config(m, hf, roberta, &c);
    if (rc)
        return rc;
    names nm = roberta ? (names){"roberta.", "lm_head.dense", "lm_head.layer_norm", "lm_head.decoder.weight",
                                 "lm_head.bias", "lm_head.decoder.bias"}
                       : (names){"bert.", "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                                 "cls.predictions.decoder.weight", "cls.predictions.bias",
                                 "cls.predictions.decoder.bias"};
    /* the decoder is the word table when the file has no decoder of its own, or when the config ties them */
    c.tied = c.tied || !hf_has(hf, nm.decoder);
    char err[512] = "";
    bert *B = calloc(1, sizeof *B);
    if (!B)
        return lm_fail(m, LM_ENOMEM, "out of memory");
    B->c = c;
    B->act = m->opts.dtype == LM_BF16 ? ACT_BF16 : ACT_F32;
    B->attn = m->opts.attention;
    rc = LM_EFORMAT;
    char probe[200];
    snprintf(probe, sizeof probe, "%sembeddings.word_embeddings.weight", nm.base);
    if (!hf_has(hf, probe)) {
        snprintf(err, sizeof err, "%s: no tensor '%s': not a %s masked LM in the Hugging Face layout", hf->dir,
                 probe, roberta ? "RoBERTa" : "BERT");
        goto fail;
    }
    char head_probe[200];
    snprintf(head_probe, sizeof head_probe, "%s.weight", nm.dense);
    if (!hf_has(hf, head_probe)) {
        snprintf(err, sizeof err, "%s: no tensor '%s': the weights have no masked-LM head (a bare encoder cannot "
                 "score label words)", hf->dir, head_probe);
        goto fail;
    }
    int grc = gemm_ctx_create(&B->g, B->act, err, sizeof err);
    if (grc) {
        rc = chunk_lm_status(grc);
        goto fail;
    }
    if (!(B->layers = calloc((size_t)c.layers, sizeof *B->layers))) {
        rc = LM_ENOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (load_embeddings(B, hf, &nm, err, sizeof err))
        goto fail;
    for (int l = 0; l < c.layers; l++)
        if (load_layer(B, hf, &nm, l, err, sizeof err))
            goto fail;
    if (load_head(B, hf, &nm, err, sizeof err))
        goto fail;
    B->n_ws = lm_thread_slots(m);
    if (!(B->ws = calloc((size_t)B->n_ws, sizeof *B->ws))) {
        rc = LM_ENOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    m->info = (lm_info){.arch = roberta ? "roberta" : "bert", .kind = LM_MASKED, .hidden = c.dim, .layers = c.layers,
                        .heads = c.heads, .kv_heads = c.heads, .head_dim = c.dim / c.heads, .ffn = c.ffn,
                        .vocab = c.vocab, .max_pos = roberta ? c.positions - c.pad - 1 : c.positions, .bos = -1,
                        .eos = -1, .pad = c.pad, .unk = -1, .mask = -1, .cls = -1, .sep = -1, .tied = c.tied,
                        .type_vocab = c.types};
    m->ops = &bert_ops;
    m->impl = B;
    m->embeddings = B->word;
    return LM_OK;
fail:
    if (B->pack_status) /* the weights were readable; packing them failed */
        rc = B->pack_status;
    bert_free(B);
    return lm_fail(m, rc, "%s", err);
}

/* ---- the forward pass ---- */

static int ws_reserve(const bert *B, bert_ws *w, int rows, int n_seqs, int n_out)
{
    const bert_cfg *c = &B->c;
    chunk_widths cw = {c->dim, c->dim, c->dim, 3 * c->dim, c->ffn, 0, B->act};
    return chunk_ws_reserve(w, &cw, rows, n_seqs, n_out);
}

#define GEMM(wt, m, a, lda, c_, ldc, ep)                                                                            \
    do {                                                                                                             \
        int gemm_rc_ = gemm_run(B->g, (wt), (m), (a), (lda), (c_), (ldc), (ep), NULL, w->err, sizeof w->err);        \
        if (gemm_rc_)                                                                                                \
            return chunk_ws_fail(w, gemm_rc_);                                                                       \
    } while (0)

/* Rows of a sequence: its tokens, plus the inserted prompt rows in cat mode. */
static int seq_rows(const lm_batch *b, const lm_seq *q) { return q->n + (q->mode == LM_PROMPT_CAT ? b->prompt_len : 0); }

/* The row of token i once the cat-mode prompt rows are in. */
static int token_row(const lm_batch *b, const lm_seq *q, int i)
{
    return i + (q->mode == LM_PROMPT_CAT && i >= q->prompt_pos ? b->prompt_len : 0);
}

/* The embedding output of one sequence at rows [r0, r0 + seq_rows) of w->x, before its LayerNorm: token rows get
 * word + position + type embeddings; inserted prompt rows are zeroed here and filled by embed_prompt. */
static void embed_tokens(const bert *B, const lm_batch *b, const lm_seq *q, float *x)
{
    const bert_cfg *c = &B->c;
    int dim = c->dim, count = 0;
    if (q->mode == LM_PROMPT_CAT)
        memset(x + (size_t)q->prompt_pos * dim, 0, (size_t)b->prompt_len * dim * sizeof(float));
    for (int i = 0; i < q->n; i++) {
        int id = q->ids[i], type = q->type_ids ? q->type_ids[i] : 0, pos = i;
        if (c->roberta) /* Hugging Face's numbering: padding tokens sit at pad, the others count on from pad + 1
                         * (BERT numbers positions 0, 1, 2, … whatever the tokens are) */
            pos = id == c->pad ? c->pad : c->pad + ++count;
        float *row = x + (size_t)token_row(b, q, i) * dim;
        const float *we = B->word + (size_t)id * dim, *pe = B->pos_emb + (size_t)pos * dim;
        const float *te = B->type_emb + (size_t)type * dim;
        for (int d = 0; d < dim; d++)
            row[d] = we[d] + pe[d] + te[d];
    }
}

/* After the embedding LayerNorm: the prompt inserted (cat) or added (add) into x and its copy xb in the compute type,
 * and the rows' deep-prompt offsets. */
static void embed_prompt(const bert *B, const lm_batch *b, const lm_seq *q, float *x, void *xb, int *deep)
{
    int dim = B->c.dim, Lp = b->prompt_len, rows = seq_rows(b, q);
    const float *prompt = q->mode != LM_PROMPT_NONE && b->prompts ? b->prompts + (size_t)q->prompt * Lp * dim : NULL;
    size_t deep0 = (size_t)q->prompt * B->c.layers * Lp * dim;
    for (int r = 0; deep && r < rows; r++)
        deep[r] = -1;
    if (q->mode == LM_PROMPT_NONE)
        return;
    int first = q->mode == LM_PROMPT_CAT ? q->prompt_pos : token_row(b, q, q->prompt_pos);
    for (int j = 0; j < Lp; j++) {
        float *row = x + (size_t)(first + j) * dim;
        const float *p = prompt ? prompt + (size_t)j * dim : NULL;
        if (q->mode == LM_PROMPT_CAT) {
            if (p)
                memcpy(row, p, (size_t)dim * sizeof(float));
            else
                memset(row, 0, (size_t)dim * sizeof(float));
        } else if (p) {
            for (int d = 0; d < dim; d++)
                row[d] += p[d];
        }
        act_store((char *)xb + (size_t)(first + j) * dim * act_size(B->act), B->act, row, dim);
        if (deep)
            deep[first + j] = (int)(deep0 + (size_t)j * dim);
    }
}

/* x[r] += layer_prompts[deep[r]] for the prompt rows, and their copy in the compute type follows. */
static void add_deep(const bert *B, float *x, void *xb, int rows, const int *deep, const float *layer_prompts)
{
    int dim = B->c.dim;
    size_t es = act_size(B->act);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        if (deep[r] >= 0) {
            float *row = x + (size_t)r * dim;
            const float *p = layer_prompts + deep[r];
            for (int i = 0; i < dim; i++)
                row[i] += p[i];
            act_store((char *)xb + (size_t)r * dim * es, B->act, row, dim);
        }
}

/* Attention over every sequence of the chunk (bidirectional); in the last layer only the needed query rows. */
static int attend(const bert *B, bert_ws *w, const enc_batch *eb, int sel)
{
    int dim = B->c.dim, ld = 3 * dim;
    size_t es = act_size(B->act);
    for (int s = 0; s < eb->n_seqs; s++) {
        const enc_seq *q = &eb->seqs[s];
        for (int r = 0; r < q->n; r++) { /* every key of the sequence, no causal branch */
            w->kend[q->row0 + r] = q->n;
            w->bstart[q->row0 + r] = q->n + 1;
        }
        const char *base = (const char *)w->qkv + (size_t)q->row0 * ld * es; /* q|k|v in the compute type */
        w->aseq[s] = (attn_seq){
            .n = q->n, .q = base, .k = base + dim * es, .v = base + 2 * dim * es, .ldq = ld, .ldk = ld, .ldv = ld,
            .kend = w->kend + q->row0, .bstart = w->bstart + q->row0, .pos = w->iota,
            .qrows = sel ? eb->outs + q->out0 : w->iota, .nq = sel ? q->nout : q->n,
            .out = (char *)w->att + (size_t)(sel ? q->out0 : q->row0) * dim * es, .ldo = dim, .t = B->act,
            .in_t = B->act};
    }
    const bert_cfg *c = &B->c;
    attn_shape sh = {c->heads, c->heads, dim / c->heads, 1.0f / sqrtf((float)(dim / c->heads)), 0, NULL};
    int rc = attention_run(B->g, B->attn, w->aseq, eb->n_seqs, &sh, w->err, sizeof w->err);
    return rc ? chunk_ws_fail(w, rc) : 0;
}

static void gather_rows(const bert *B, float *dst, const float *x, const enc_batch *eb)
{
    int dim = B->c.dim;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < eb->n_seqs; s++) {
        const enc_seq *q = &eb->seqs[s];
        for (int i = 0; i < q->nout; i++)
            memcpy(dst + (size_t)(q->out0 + i) * dim, x + (size_t)(q->row0 + eb->outs[q->out0 + i]) * dim,
                   (size_t)dim * sizeof(float));
    }
}

/* Every layer over the chunk whose embedding output (prompts applied) is in w->x and, in the compute type, w->xb. The
 * last layer's output of the
 * needed rows ends in w->xs (fp32) and w->xb (compute type), n_out rows. With a trace (every row needed), each layer's
 * input and the last output are copied there: (layers + 1) × rows × dim floats. */
static int forward(const bert *B, bert_ws *w, const enc_batch *eb, const float *deep, size_t deep_layer_stride,
                   float *trace)
{
    const bert_cfg *c = &B->c;
    int R = eb->rows, dim = c->dim;
    size_t plane = (size_t)R * dim;
    for (int l = 0; l < c->layers; l++) {
        const bert_layer *ly = &B->layers[l];
        if (eb->deep)
            add_deep(B, w->x, w->xb, R, eb->deep, deep + (size_t)l * deep_layer_stride);
        if (trace)
            memcpy(trace + l * plane, w->x, plane * sizeof(float));
        GEMM(&ly->wqkv, R, w->xb, dim, w->qkv, 3 * dim, GEMM_STORE_ACT);
        int sel = l == c->layers - 1 && eb->n_out < R;
        if (attend(B, w, eb, sel))
            return -1;
        float *x = w->x;
        int m = R;
        if (sel) { /* the last layer goes on with the needed rows only */
            gather_rows(B, w->xs, w->x, eb);
            x = w->xs;
            m = eb->n_out;
        }
        GEMM(&ly->wo, m, w->att, dim, x, dim, GEMM_ADD);
        layernorm_rows(w->xb, B->act, dim, x, x, dim, ly->ln1_g, ly->ln1_b, m, dim, c->eps);
        GEMM(&ly->w1, m, w->xb, dim, w->ffn1, c->ffn, c->gelu_tanh ? GEMM_GELU_TANH : GEMM_GELU_ERF);
        GEMM(&ly->w2, m, w->ffn1, c->ffn, x, dim, GEMM_ADD);
        layernorm_rows(w->xb, B->act, dim, x, x, dim, ly->ln2_g, ly->ln2_b, m, dim, c->eps);
        if (l == c->layers - 1 && !sel) /* every row was needed: they are the output */
            memcpy(w->xs, w->x, (size_t)m * dim * sizeof(float));
    }
    if (trace)
        memcpy(trace + (size_t)c->layers * plane, w->xs, plane * sizeof(float));
    return 0;
}

static float gelu(float x, int tanh_form)
{
    if (tanh_form)
        return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

/* The head's transform of the n needed rows (in w->xb): t = LayerNorm(gelu(x · Wdᵀ + bd)) into w->hid, fp32. */
static int head_transform(const bert *B, bert_ws *w, int n)
{
    const bert_cfg *c = &B->c;
    int dim = c->dim, tanh_form = c->gelu_tanh && !c->roberta; /* RoBERTa's head always uses the exact GELU */
    GEMM(&B->head, n, w->xb, dim, w->hid, dim, GEMM_STORE);
    for (size_t i = 0; i < (size_t)n * dim; i++)
        w->hid[i] = gelu(w->hid[i], tanh_form);
    layernorm_rows(NULL, ACT_F32, dim, w->hid, w->hid, dim, B->head_g, B->head_b, n, dim, c->eps);
    return 0;
}

/* ---- scoring ---- */

typedef struct score_job {
    lm *m;
    const bert *B;
    const lm_batch *b;
    float *scores;
} score_job;

/* Lay sequences [s0, s1) out as rows in w: embeddings, LayerNorm, prompts; the read row of each is its needed row. */
static void fill_chunk(const score_job *j, bert_ws *w, int s0, int s1, enc_batch *eb, int all_rows)
{
    const bert *B = j->B;
    const lm_batch *b = j->b;
    int dim = B->c.dim, r = 0, o = 0;
    for (int s = s0; s < s1; s++) {
        const lm_seq *q = &b->seqs[s];
        int rows = seq_rows(b, q);
        embed_tokens(B, b, q, w->x + (size_t)r * dim);
        eb->seqs[s - s0] = (enc_seq){r, rows, o, all_rows ? rows : 1};
        if (all_rows)
            for (int i = 0; i < rows; i++)
                eb->outs[o++] = i;
        else
            eb->outs[o++] = token_row(b, q, lm_read_pos(j->m, q));
        r += rows;
    }
    /* the LayerNorm runs over every row; inserted prompt rows are overwritten next */
    layernorm_rows(w->xb, B->act, dim, w->x, w->x, dim, B->emb_g, B->emb_b, r, dim, B->c.eps);
    size_t es = act_size(B->act);
    for (int s = s0; s < s1; s++) {
        const enc_seq *q = &eb->seqs[s - s0];
        embed_prompt(B, b, &b->seqs[s], w->x + (size_t)q->row0 * dim, (char *)w->xb + (size_t)q->row0 * dim * es,
                     eb->deep ? eb->deep + q->row0 : NULL);
    }
    eb->rows = r;
    eb->n_seqs = s1 - s0;
    eb->n_out = o;
}

/* A label's first token's decoder row (fp32). */
static const float *decoder_row(const bert *B, int id)
{
    return (B->decoder ? B->decoder : B->word) + (size_t)id * B->c.dim;
}

static int score_chunk(void *ctx, int slot, int s0, int s1)
{
    const score_job *j = ctx;
    const bert *B = j->B;
    const lm_batch *b = j->b;
    bert_ws *w = &B->ws[slot];
    int rows = 0, n = s1 - s0, dim = B->c.dim;
    for (int s = s0; s < s1; s++)
        rows += seq_rows(b, &b->seqs[s]);
    enc_seq *seqs = malloc((size_t)n * sizeof *seqs);
    if (!seqs || ws_reserve(B, w, rows, n, n)) {
        free(seqs);
        snprintf(w->err, sizeof w->err, "out of memory for a chunk of %d rows", rows);
        return -1;
    }
    enc_batch eb = {0, 0, 0, seqs, w->outs, b->deep_prompts ? w->deep : NULL};
    fill_chunk(j, w, s0, s1, &eb, 0);
    int rc = forward(B, w, &eb, b->deep_prompts, (size_t)b->prompt_len * dim, NULL);
    if (!rc)
        rc = head_transform(B, w, n);
    for (int s = 0; !rc && s < n; s++)
        for (int k = 0; k < b->n_labels; k++) {
            int id = b->labels[k].ids[0];
            j->scores[(size_t)(s0 + s) * b->n_labels + k] =
                dot_f32(w->hid + (size_t)s * dim, decoder_row(B, id), dim) + B->dec_bias[id];
        }
    free(seqs);
    return rc;
}

static int bert_score(lm *m, const lm_batch *b, float *scores)
{
    const bert *B = m->impl;
    int S = b->n_seqs;
    int *rows = malloc((size_t)S * sizeof *rows);
    if (!rows)
        return lm_fail(m, LM_ENOMEM, "out of memory planning a batch of %d sequences", S);
    long long total = 0;
    for (int s = 0; s < S; s++)
        total += rows[s] = seq_rows(b, &b->seqs[s]);
    const bert_cfg *c = &B->c;
    double layer_bytes = (4.0 * c->dim * c->dim + 2.0 * c->dim * c->ffn) * act_size(B->act);
    score_job job = {m, B, b, scores};
    int failed;
    int rc = run_chunks(rows, S, m->opts.chunk_rows, m->opts.threads, layer_bytes, score_chunk, &job, &failed);
    free(rows);
    if (rc)
        return lm_fail(m, failed >= 0 ? chunk_ws_status(&B->ws[failed]) : LM_ENOMEM, "%s",
                         failed >= 0 ? B->ws[failed].err : "out of memory");
    m->rows_computed = total; /* every row sees every row: nothing is shared */
    return LM_OK;
}

/* One sequence of a batch with every row needed, on slot 0: the last layer's output of all rows in w->xs / w->xb. */
static int run_all_rows(lm *m, const lm_batch *b, int s, float *trace)
{
    const bert *B = m->impl;
    bert_ws *w = &B->ws[0];
    int rows = seq_rows(b, &b->seqs[s]);
    enc_seq seq;
    if (ws_reserve(B, w, rows, 1, rows))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d rows", rows);
    score_job job = {m, B, b, NULL};
    enc_batch eb = {0, 0, 0, &seq, w->outs, b->deep_prompts ? w->deep : NULL};
    fill_chunk(&job, w, s, s + 1, &eb, 1);
    if (forward(B, w, &eb, b->deep_prompts, (size_t)b->prompt_len * B->c.dim, trace))
        return lm_fail(m, chunk_ws_status(w), "%s", w->err);
    return LM_OK;
}

static int bert_hidden(lm *m, const lm_batch *b, int s, float *out) { return run_all_rows(m, b, s, out); }

/* The MLM head over the whole vocabulary at every position (checking; the decoder is packed on first use). */
static int bert_logits(lm *m, const int *ids, int n, float *out)
{
    bert *B = m->impl;
    bert_ws *w = &B->ws[0];
    int dim = B->c.dim;
    lm_seq q = {ids, n, 0, LM_PROMPT_NONE, 0, n - 1, NULL};
    lm_batch b = {0};
    b.n_seqs = 1;
    b.seqs = &q;
    int rc = run_all_rows(m, &b, 0, NULL);
    if (rc)
        return rc;
    if (!B->dec.data) {
        char err[512];
        int grc = gemm_weight_pack(B->g, &B->dec, B->decoder ? B->decoder : B->word, B->c.vocab, dim, (size_t)dim, 0,
                                   err, sizeof err);
        if (!grc && gemm_weight_set_bias(&B->dec, B->dec_bias))
            grc = GEMM_ENOMEM, snprintf(err, sizeof err, "out of memory");
        if (grc) {
            gemm_weight_free(&B->dec);
            return lm_fail(m, chunk_lm_status(grc), "packing the decoder: %s", err);
        }
    }
    if (head_transform(B, w, n))
        return lm_fail(m, chunk_ws_status(w), "%s", w->err);
    for (int r = 0; r < n; r++)
        act_store((char *)w->xb + (size_t)r * dim * act_size(B->act), B->act, w->hid + (size_t)r * dim, dim);
    int grc = gemm_run(B->g, &B->dec, n, w->xb, dim, out, B->c.vocab, GEMM_STORE, NULL, w->err, sizeof w->err);
    if (grc)
        return lm_fail(m, chunk_lm_status(grc), "%s", w->err);
    return LM_OK;
}

static const lm_ops bert_ops = {
    .name = "bert",
    .close = bert_free,
    .score = bert_score,
    .logits = bert_logits,
    .next_logits = NULL, /* a masked LM does not generate */
    .hidden = bert_hidden,
};
