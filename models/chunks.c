/* chunks.c — chunking a batch of sequences and running the chunks on the thread pool (see chunks.h). */
#include "models/chunks.h"

#include <omp.h>
#include <stdlib.h>

/* A layer's weights at most this large are streamed by each thread on its own without spilling the shared cache;
 * measured on hidden 64 and 768 (the latter 0.53 s instead of 0.57-0.64 s per batch on 2 threads). */
#define OUTER_MAX_LAYER_BYTES 64e6

int run_chunks(const int *rows, int n_seqs, int chunk_rows, int threads, double layer_bytes, chunk_fn fn, void *ctx,
               int *failed_slot)
{
    if (chunk_rows <= 0)
        chunk_rows = DEFAULT_CHUNK_ROWS;
    int *starts = malloc(((size_t)n_seqs + 1) * sizeof *starts);
    if (!starts) {
        *failed_slot = -1;
        return -1;
    }
    int n_chunks = 0;
    for (int s = 0, sum = 0; s < n_seqs; s++) {
        if (s == 0 || sum + rows[s] > chunk_rows) {
            starts[n_chunks++] = s;
            sum = 0;
        }
        sum += rows[s];
    }
    starts[n_chunks] = n_seqs;
    int outer = threads > 1 && n_chunks >= CHUNKS_PER_THREAD * threads && layer_bytes <= OUTER_MAX_LAYER_BYTES;
    int failed = -1;
    if (outer) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 0; k < n_chunks; k++) {
            int slot = omp_get_thread_num();
            if (fn(ctx, slot, starts[k], starts[k + 1])) {
#pragma omp critical(run_chunks_fail)
                failed = slot;
            }
        }
    } else { /* not inside an (inactive) parallel region: the products' own regions then reuse the pool's threads */
        for (int k = 0; k < n_chunks && failed < 0; k++)
            if (fn(ctx, 0, starts[k], starts[k + 1]))
                failed = 0;
    }
    free(starts);
    *failed_slot = failed;
    return failed >= 0 ? -1 : 0;
}

int grow_block(void *p, size_t bytes)
{
    void *q = realloc(*(void **)p, bytes ? bytes : 1);
    if (!q)
        return -1;
    *(void **)p = q;
    return 0;
}

int chunk_ws_reserve(chunk_ws *w, const chunk_widths *cw, int rows, int n_seqs, int n_out)
{
    w->status = 0;
    size_t es = act_size(cw->t);
    if (rows > w->cap_rows) {
        if (grow_block(&w->xb, (size_t)rows * cw->xb * es) || grow_block(&w->att, (size_t)rows * cw->att * es) ||
            grow_block(&w->ffn1, (size_t)rows * cw->ffn * es) ||
            (cw->gated && grow_block(&w->ffn2, (size_t)rows * cw->ffn * es)) || !GROW(w->x, (size_t)rows * cw->dim) ||
            !GROW(w->qkv, (size_t)rows * cw->qkv) || !GROW(w->deep, rows))
            return -1;
        w->cap_rows = rows;
    }
    if (chunk_ws_reserve_index(w, rows))
        return -1;
    if (n_seqs > w->cap_seqs) {
        if (!GROW(w->aseq, n_seqs))
            return -1;
        w->cap_seqs = n_seqs;
    }
    if (n_out > w->cap_out) {
        if (!GROW(w->outs, n_out) || !GROW(w->xs, (size_t)n_out * cw->dim) || !GROW(w->hid, (size_t)n_out * cw->dim))
            return -1;
        free(w->logits);
        w->logits = NULL;
        w->cap_out = n_out;
    }
    return 0;
}

int chunk_ws_reserve_index(chunk_ws *w, int n)
{
    if (n <= w->cap_index)
        return 0;
    if (!GROW(w->pos, n) || !GROW(w->kend, n) || !GROW(w->bstart, n) || !GROW(w->iota, n))
        return -1;
    for (int i = 0; i < n; i++)
        w->iota[i] = i;
    w->cap_index = n;
    return 0;
}

void chunk_ws_free(chunk_ws *w)
{
    free(w->x), free(w->qkv), free(w->xs), free(w->hid), free(w->logits);
    free(w->xb), free(w->att), free(w->ffn1), free(w->ffn2);
    free(w->pos), free(w->kend), free(w->bstart), free(w->deep), free(w->outs), free(w->iota), free(w->aseq);
}
