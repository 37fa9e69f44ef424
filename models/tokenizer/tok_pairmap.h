/* tok_pairmap.h — BPE merge table: (left id, right id) → (rank, merged id), an open-addressing hash. */
#ifndef BBT_MODELS_TOK_PAIRMAP_H
#define BBT_MODELS_TOK_PAIRMAP_H

#include <stdint.h>

typedef struct tok_pairmap {
    uint64_t *keys;       /* left << 32 | right, or UINT64_MAX for empty */
    int32_t *rank, *merged;
    uint32_t nslots, n;
} tok_pairmap;

void tok_pairmap_free(tok_pairmap *m);
/* Adds a merge; a pair already present keeps its first (better) rank. Returns 0, or -1 when out of memory. */
int tok_pairmap_add(tok_pairmap *m, int left, int right, int rank, int merged);
/* Rank of the pair and its merged id, or -1 when the pair does not merge. */
int tok_pairmap_get(const tok_pairmap *m, int left, int right, int *merged);

#endif
