/* llama_score.c — the causal decoder's operations on top of the forward pass (see llama.c): scoring a batch
 * (shared prefixes, chunks run per thread), hidden states, plain logits and generation with a key/value cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama_impl.h"
#include "models/score_plan.h"

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
        if (llama_ws_logits(L, w)) {
            snprintf(w->err, sizeof w->err, "out of memory for logits");
            return -1;
        }
        if (llama_head_logits(L, w, fb->n_out, w->logits))
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
    if (llama_ws_reserve(j->L, w, rows, n_seqs, n_out) || chunk_ws_reserve_index(w, index_rows)) {
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
    int rc = llama_forward(j->L, w, &fb, b->deep_prompts, (size_t)b->prompt_len * j->L->c.dim, NULL);
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
int llama_score(lm *m, const lm_batch *b, float *scores)
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
    } else if (llama_rope_reserve(L, max_rows)) {
        rc = lm_fail(m, LM_ENOMEM, "out of memory for rotary tables");
    } else {
        for (int u = 0; u < units.n; u++)
            rows[u] = units.u[u].rows;
        score_job job = {L, b, plan, &units, lab_rows, scores};
        if (run_chunks(rows, units.n, chunk_rows, m->opts.threads, layer_bytes(L), score_chunk, &job, &failed))
            rc = lm_fail(m, failed >= 0 ? chunk_ws_status(&L->ws[failed]) : LM_ENOMEM, "%s",
                         failed >= 0 ? L->ws[failed].err : "out of memory");
        else
            m->rows_computed = units.rows;
    }
    free(plan), free(rows), free(lab_rows), score_units_free(&units);
    return rc;
}

/* Every row's state at the input of every layer and at the output of the last, for one sequence of a batch: its
 * whole token sequence (tokens after read_pos too) with its prompt, no label rows. */
int llama_hidden(lm *m, const lm_batch *b, int s, float *out)
{
    llama *L = m->impl;
    llama_ws *w = &L->ws[0];
    lm_seq q = b->seqs[s];
    q.read_pos = q.n - 1;
    lm_batch one = *b;
    one.n_labels = 0;
    seq_plan p;
    plan_seq(&one, &q, &p);
    if (llama_rope_reserve(L, p.rows) || llama_ws_reserve(L, w, p.rows, 1, p.rows))
        return lm_fail(m, LM_ENOMEM, "out of memory for a sequence of %d rows", p.rows);
    fwd_seq seq;
    fwd_batch fb = {p.rows, 1, p.rows, &seq, w->pos, w->kend, w->bstart, w->outs, b->deep_prompts ? w->deep : NULL,
                    w->x, NULL, NULL, 0};
    fill_seq(L, &one, &q, &p, &fb, 0, (fwd_seq){0, 0, 0, 0, 0, 0, -1, s});
    seq.nout = p.rows;
    for (int i = 0; i < p.rows; i++)
        w->outs[i] = i;
    if (llama_forward(L, w, &fb, b->deep_prompts, (size_t)b->prompt_len * L->c.dim, out))
        return lm_fail(m, chunk_ws_status(w), "%s", w->err);
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
    if (llama_rope_reserve(L, n) || llama_ws_reserve(L, w, fresh, 1, nout) || chunk_ws_reserve_index(w, n))
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
    if (llama_forward(L, w, &fb, NULL, 0, NULL))
        return lm_fail(m, chunk_ws_status(w), "%s", w->err);
    return LM_OK;
}

int llama_logits(lm *m, const int *ids, int n, float *out)
{
    llama *L = m->impl;
    int rc = run_plain(m, ids, 0, n, n, NULL);
    if (!rc && llama_head_logits(L, &L->ws[0], n, out))
        rc = lm_fail(m, chunk_ws_status(&L->ws[0]), "%s", L->ws[0].err);
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
int llama_next_logits(lm *m, const int *ids, int n, float *out)
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
    if (llama_head_logits(L, &L->ws[0], 1, out))
        return lm_fail(m, chunk_ws_status(&L->ws[0]), "%s", L->ws[0].err);
    kc->len = n;
    return LM_OK;
}
