/* tok_pairmap.c — the merge table (see tok_pairmap.h). */
#include "models/tokenizer/tok_pairmap.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY UINT64_MAX

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

static uint32_t hash_pair(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (uint32_t)k;
}

static uint32_t probe(const tok_pairmap *m, uint64_t key)
{
    uint32_t mask = m->nslots - 1;
    uint32_t i = hash_pair(key) & mask;
    while (m->keys[i] != EMPTY && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static int grow(tok_pairmap *m)
{
    tok_pairmap big = {0};
    big.nslots = m->nslots ? m->nslots * 2 : 1024;
    big.keys = malloc(big.nslots * sizeof *big.keys);
    big.rank = malloc(big.nslots * sizeof *big.rank);
    big.merged = malloc(big.nslots * sizeof *big.merged);
    if (!big.keys || !big.rank || !big.merged) {
        tok_pairmap_free(&big);
        return -1;
    }
    memset(big.keys, 0xFF, big.nslots * sizeof *big.keys);
    for (uint32_t i = 0; i < m->nslots; i++)
        if (m->keys[i] != EMPTY) {
            uint32_t j = probe(&big, m->keys[i]);
            big.keys[j] = m->keys[i];
            big.rank[j] = m->rank[i];
            big.merged[j] = m->merged[i];
        }
    big.n = m->n;
    tok_pairmap_free(m);
    *m = big;
    return 0;
}

int tok_pairmap_add(tok_pairmap *m, int left, int right, int rank, int merged)
{
    if ((m->n + 1) * 2 > m->nslots && grow(m))
        return -1;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t i = probe(m, key);
    if (m->keys[i] == EMPTY) {
        m->keys[i] = key;
        m->rank[i] = rank;
        m->merged[i] = merged;
        m->n++;
    }
    return 0;
}

int tok_pairmap_get(const tok_pairmap *m, int left, int right, int *merged)
{
    if (!m->nslots)
        return -1;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t i = probe(m, key);
    if (m->keys[i] == EMPTY)
        return -1;
    *merged = m->merged[i];
    return m->rank[i];
}
