/* row_index.c — the embedding table hashed by row contents, so that an embedded token is recognised exactly.
 *
 * vLLM-style clients send whole sequences as embeddings (BOS, prompt rows, template tokens). A row that is exactly a
 * token's embedding is scored as that token, so such requests compute what the local scorer computes, bit for bit; a
 * row that is no token's embedding goes in as an added prompt row. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/serve/serve_internal.h"
#include "common/bytes.h"

static uint64_t row_hash(const float *row, int hidden)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < hidden; i++) {
        uint32_t u;
        memcpy(&u, &row[i], 4);
        h ^= u;
        h = common_splitmix64(&h);
    }
    return h;
}

int row_index_build(row_index *ri, const float *emb, int vocab, int hidden)
{
    size_t cap = 16;
    while (cap < (size_t)vocab * 2)
        cap <<= 1;
    ri->slots = calloc(cap, sizeof *ri->slots);
    if (!ri->slots)
        return -1;
    ri->mask = cap - 1;
    for (int v = 0; v < vocab; v++) {
        const float *row = emb + (size_t)v * hidden;
        size_t at = row_hash(row, hidden) & ri->mask;
        while (ri->slots[at]) {
            if (!memcmp(emb + (size_t)(ri->slots[at] - 1) * hidden, row, (size_t)hidden * sizeof *row))
                break; /* a duplicate row keeps the lowest id */
            at = (at + 1) & ri->mask;
        }
        if (!ri->slots[at])
            ri->slots[at] = v + 1;
    }
    return 0;
}

int row_index_find(const row_index *ri, const float *emb, int hidden, const float *row)
{
    size_t at = row_hash(row, hidden) & ri->mask;
    while (ri->slots[at]) {
        int v = ri->slots[at] - 1;
        if (!memcmp(emb + (size_t)v * hidden, row, (size_t)hidden * sizeof *row))
            return v;
        at = (at + 1) & ri->mask;
    }
    return -1;
}

void row_index_free(row_index *ri)
{
    free(ri->slots);
    memset(ri, 0, sizeof *ri);
}
