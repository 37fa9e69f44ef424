/* tok_merge.h — the BPE merge loop shared by every BPE flavour.
 *
 * A word starts as a sequence of symbol ids. Repeatedly, the adjacent pair with the best (lowest) priority that can merge is
 * replaced by its merged symbol; ties go to the leftmost pair. This is what llama2.c does (priority = -score of the merged
 * piece), what Hugging Face's BPE model does (priority = merge rank) and what GPT-2's bpe() does (it merges every occurrence
 * of the best pair left to right in one sweep, which gives the same result). A binary heap of candidate pairs with lazy
 * invalidation makes it O(n log n) instead of the O(n²) rescans of the published loops.
 */
#ifndef BBT_MODELS_TOK_MERGE_H
#define BBT_MODELS_TOK_MERGE_H

/* Can a and b merge? Returns 1 and sets *merged and *priority (lower merges first), or 0. */
typedef int (*tok_pair_fn)(const void *ctx, int a, int b, int *merged, double *priority);

typedef struct tok_merge_entry {
    double priority;
    int left, right;      /* symbol indices */
    int left_id, right_id, merged;
} tok_merge_entry;

/* Reusable work space; zero-initialise, free with tok_merge_scratch_free. */
typedef struct tok_merge_scratch {
    int *prev, *next, *id;
    int sym_cap;
    tok_merge_entry *heap;
    int heap_len, heap_cap;
} tok_merge_scratch;

void tok_merge_scratch_free(tok_merge_scratch *s);

/* Merges ids[0..n) in place; returns the new count, or -1 when out of memory. */
int tok_merge(tok_merge_scratch *s, int *ids, int n, tok_pair_fn pair, const void *ctx);

#endif
