/* chunks.h — a batch of whole sequences cut into chunks of rows and run on the thread pool (internal to models/).
 *
 * Every local engine scores a batch the same way: sequences are laid out as rows, whole sequences go into chunks of
 * about chunk_rows rows (big enough for efficient matrix products, small enough to stay in cache), and the chunks run
 * either one per thread with single-threaded products (no barriers at all) or one after the other with every thread
 * inside each product.
 */
#ifndef BBT_MODELS_CHUNKS_H
#define BBT_MODELS_CHUNKS_H

#include <stddef.h>

#include "models/attention.h"

/* Rows per forward chunk: measured on hidden 64 and 768, 1024 rows keep a chunk's q|k|v in cache for attention while
 * the products stay efficient (512–1024 best, 4096 ~15% slower). */
enum { DEFAULT_CHUNK_ROWS = 1024 };

/* Chunks per thread at least for the threads to take whole chunks each (see run_chunks). */
enum { CHUNKS_PER_THREAD = 2 };

/* Run sequences [s0, s1) as one chunk on thread slot `slot` (its scratch space). 0, or -1 with the slot's message. */
typedef int (*chunk_fn)(void *ctx, int slot, int s0, int s1);

/* Cut sequences 0 .. n_seqs-1 (rows[s] rows each) into chunks of whole sequences of up to chunk_rows rows (0 = the
 * default; a longer sequence gets a chunk of its own) and run fn on each. With threads > 1, CHUNKS_PER_THREAD chunks
 * per thread or more and a layer's weights (layer_bytes) small enough to stay in the shared cache, each thread takes
 * whole chunks (slot = its thread number); otherwise the chunks run in order on slot 0, outside any parallel region so
 * that the products' own regions use every thread. Returns 0, or -1 with *failed_slot set to a slot whose chunk
 * failed. */
int run_chunks(const int *rows, int n_seqs, int chunk_rows, int threads, double layer_bytes, chunk_fn fn, void *ctx,
               int *failed_slot);

/* Resize the block *p points to (p is the address of a pointer) to `bytes`, keeping the old block when that fails;
 * the engines' scratch space grows with it. 0, or -1 (memory). */
int grow_block(void *p, size_t bytes);
#define GROW(ptr, n) (grow_block(&(ptr), (size_t)(n) * sizeof *(ptr)) == 0)

/* The scratch space of one forward chunk (one per thread slot), as every engine lays it out: the residual stream x,
 * q|k|v, the normalised rows xb and the attention output in the compute type, the feed-forward's hidden rows (ffn1,
 * and ffn2 for a gated one), each row's deep-prompt offset, each attention row's position and range (pos, kend,
 * bstart, iota: "index rows", as many as the rows unless a causal engine's sequences attend to rows they share and do
 * not compute, see chunk_ws_reserve_index), the needed rows (outs, their states xs and final states hid), vocabulary
 * logits, and the slot's error message. */
typedef struct chunk_ws {
    int cap_rows, cap_index, cap_seqs, cap_out;
    float *x, *qkv, *xs, *hid, *logits;
    void *xb, *att, *ffn1, *ffn2;
    int *pos, *kend, *bstart, *deep, *outs, *iota;   /* iota[i] = i */
    attn_seq *aseq;
    char err[512];
    int status;               /* lm_status of the failure err describes (0: LM_ENOMEM); chunk_ws_reserve clears it */
} chunk_ws;

/* The lm_status of a gemm_status (gemm.h, attention.h): a failed oneDNN call is LM_EBACKEND, not LM_ENOMEM. */
static inline int chunk_lm_status(int gemm_rc)
{
    return gemm_rc == GEMM_EBACKEND ? LM_EBACKEND : gemm_rc == GEMM_EUNSUPPORTED ? LM_EUNSUPPORTED : LM_ENOMEM;
}

/* Note the failure of a product or attention call (its message is already in w->err); returns -1. */
static inline int chunk_ws_fail(chunk_ws *w, int gemm_rc)
{
    w->status = chunk_lm_status(gemm_rc);
    return -1;
}

/* The lm_status to report for the failure in w->err. */
static inline int chunk_ws_status(const chunk_ws *w) { return w->status ? w->status : LM_ENOMEM; }

/* The widths (values per row) of a model's chunk buffers. */
typedef struct chunk_widths {
    int dim, xb, att, qkv, ffn;
    int gated;                /* a second ffn buffer */
    act_type t;               /* the compute type (xb, att, ffn in it; x, qkv, xs, hid in fp32) */
} chunk_widths;

/* Room for rows rows, n_seqs sequences and n_out needed rows (the logits, when grown, are dropped: ws_logits-style
 * users allocate them on first use). 0, or -1 (memory; what was there is kept). */
int chunk_ws_reserve(chunk_ws *w, const chunk_widths *cw, int rows, int n_seqs, int n_out);
/* Room for n index rows (pos, kend, bstart, iota); chunk_ws_reserve makes room for `rows` of them. 0, or -1
 * (memory). */
int chunk_ws_reserve_index(chunk_ws *w, int n);
void chunk_ws_free(chunk_ws *w);

#endif
