/* tok_vocab.c — piece table with an open-addressing hash index (see tok_vocab.h). */
#include "models/tokenizer/tok_vocab.h"

#include <stdlib.h>
#include <string.h>

#define HOLE UINT32_MAX

void tok_vocab_init(tok_vocab *v)
{
    memset(v, 0, sizeof *v);
}

void tok_vocab_free(tok_vocab *v)
{
    free(v->off);
    free(v->len);
    free(v->bytes);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

uint32_t tok_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static int grow_ids(tok_vocab *v, int need)
{
    if (need <= v->cap)
        return 0;
    int cap = v->cap ? v->cap : 256;
    while (cap < need)
        cap *= 2;
    uint32_t *off = realloc(v->off, (size_t)cap * sizeof *off);
    if (!off)
        return -1;
    v->off = off;
    uint32_t *len = realloc(v->len, (size_t)cap * sizeof *len);
    if (!len)
        return -1;
    v->len = len;
    for (int i = v->cap; i < cap; i++) {
        v->off[i] = HOLE;
        v->len[i] = 0;
    }
    v->cap = cap;
    return 0;
}

static int append_bytes(tok_vocab *v, const char *piece, size_t len, uint32_t *off)
{
    if (v->nbytes + len + 1 > UINT32_MAX - 1)
        return -1;
    if (v->nbytes + len + 1 > v->bytes_cap) {
        size_t cap = v->bytes_cap ? v->bytes_cap : 4096;
        while (cap < v->nbytes + len + 1)
            cap *= 2;
        char *b = realloc(v->bytes, cap);
        if (!b)
            return -1;
        v->bytes = b;
        v->bytes_cap = cap;
    }
    memcpy(v->bytes + v->nbytes, piece, len);
    v->bytes[v->nbytes + len] = '\0';
    *off = (uint32_t)v->nbytes;
    v->nbytes += len + 1;
    return 0;
}

/* Slot where piece is, or the empty slot where it would go. */
static uint32_t probe(const tok_vocab *v, const char *piece, size_t len)
{
    uint32_t mask = v->nslots - 1;
    for (uint32_t i = tok_hash_bytes(piece, len) & mask;; i = (i + 1) & mask) {
        uint32_t s = v->slots[i];
        if (!s)
            return i;
        uint32_t id = s - 1;
        if (v->len[id] == len && !memcmp(v->bytes + v->off[id], piece, len))
            return i;
    }
}

static int rehash(tok_vocab *v)
{
    uint32_t n = v->nslots ? v->nslots * 2 : 1024;
    uint32_t *old = v->slots, oldn = v->nslots;
    v->slots = calloc(n, sizeof *v->slots);
    if (!v->slots) {
        v->slots = old;
        return -1;
    }
    v->nslots = n;
    for (uint32_t i = 0; i < oldn; i++)
        if (old[i]) {
            uint32_t id = old[i] - 1;
            v->slots[probe(v, v->bytes + v->off[id], v->len[id])] = old[i];
        }
    free(old);
    return 0;
}

int tok_vocab_set(tok_vocab *v, int id, const char *piece, size_t len)
{
    if (id < 0 || grow_ids(v, id + 1))
        return -1;
    if (v->off[id] != HOLE)
        return 1;
    if ((uint64_t)(v->nindexed + 1) * 2 > v->nslots && rehash(v))
        return -1;
    uint32_t off;
    if (append_bytes(v, piece, len, &off))
        return -1;
    v->off[id] = off;
    v->len[id] = (uint32_t)len;
    if (id >= v->n)
        v->n = id + 1;
    uint32_t s = probe(v, piece, len);
    if (!v->slots[s]) {     /* a duplicate piece keeps its first id */
        v->slots[s] = (uint32_t)id + 1;
        v->nindexed++;
    }
    return 0;
}

int tok_vocab_find(const tok_vocab *v, const char *piece, size_t len)
{
    if (!v->nslots)
        return -1;
    uint32_t s = v->slots[probe(v, piece, len)];
    return s ? (int)(s - 1) : -1;
}

const char *tok_vocab_piece(const tok_vocab *v, int id, size_t *len)
{
    if (id < 0 || id >= v->n || v->off[id] == HOLE)
        return NULL;
    if (len)
        *len = v->len[id];
    return v->bytes + v->off[id];
}
