/* projcache.h — projections A rebuilt from a client's description, kept for the next request of the same run.
 *
 * A tuner sends the same (seed, distribution, d, L, α, σ0) with every generation, so the server draws A once (with
 * bbt/projection.c, the tuner's own code and PCG stream) and keeps the most recently used, up to 2 GiB. A BBTv2 run
 * needs one per layer: A_0 as BBT's, A_l (l >= 1) from stream l scaled by the client's σ̂_l (bbt/deep.h's
 * deep_layer_projection, the tuner's own code), each its own entry.
 */
#ifndef BBT_SERVE_PROJCACHE_H
#define BBT_SERVE_PROJCACHE_H

#include <pthread.h>
#include <stdint.h>

#include "bbt/projection.h"

typedef struct proj_key {
    uint64_t seed;
    projection_kind kind;
    int dim, prompt_len;
    double alpha, sigma0;
    int layer;         /* 0: A (BBT's, BBTv2's A_0), scaled by the model's σ̂; l >= 1: BBTv2's A_l */
    double layer_std;  /* layer >= 1: σ̂_l, the scale in place of σ̂ */
} proj_key;

typedef struct proj_entry {
    proj_key key;
    projection proj;
    int refs;
    int cached;     /* 0: the cache was full of held entries; freed by its one release */
    unsigned long long last_used;
} proj_entry;

#define PROJCACHE_SIZE 64 /* a BBTv2 run of a deep model holds one entry per layer */
#define PROJCACHE_BYTES ((size_t)2 << 30) /* what kept projections may take together (one in use may add to it) */

typedef struct proj_cache {
    pthread_mutex_t lock;
    proj_entry *entries[PROJCACHE_SIZE];
    unsigned long long clock;
    int hidden;
    double embedding_std;
} proj_cache;

void projcache_init(proj_cache *c, int hidden, double embedding_std);
void projcache_free(proj_cache *c);

/* The projection for key, drawn if not cached, held until projcache_release. NULL with a message on failure. */
proj_entry *projcache_get(proj_cache *c, const proj_key *key, bbt_error *err);
void projcache_release(proj_cache *c, proj_entry *e);

#endif
