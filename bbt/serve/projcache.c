/* projcache.c — a small cache of projections (see projcache.h). Drawing happens outside the lock. */
#include "bbt/serve/projcache.h"

#include <stdlib.h>
#include <string.h>

#include "bbt/deep.h"

void projcache_init(proj_cache *c, int hidden, double embedding_std)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->hidden = hidden;
    c->embedding_std = embedding_std;
}

static void entry_free(proj_entry *e)
{
    projection_free(&e->proj);
    free(e);
}

void projcache_free(proj_cache *c)
{
    for (int i = 0; i < PROJCACHE_SIZE; i++)
        if (c->entries[i])
            entry_free(c->entries[i]);
    pthread_mutex_destroy(&c->lock);
}

static int same_key(const proj_key *a, const proj_key *b)
{
    return a->seed == b->seed && a->kind == b->kind && a->dim == b->dim && a->prompt_len == b->prompt_len &&
           a->alpha == b->alpha && a->sigma0 == b->sigma0 && a->layer == b->layer && a->layer_std == b->layer_std;
}

static proj_entry *lookup(proj_cache *c, const proj_key *key)
{
    for (int i = 0; i < PROJCACHE_SIZE; i++)
        if (c->entries[i] && same_key(&c->entries[i]->key, key)) {
            c->entries[i]->refs++;
            c->entries[i]->last_used = ++c->clock;
            return c->entries[i];
        }
    return NULL;
}

static size_t entry_bytes(const proj_entry *e) { return (size_t)e->proj.rows * (size_t)e->proj.dim * sizeof(float); }

/* The least recently used entry no one holds, or -1. */
static int lru_idle(const proj_cache *c)
{
    int slot = -1;
    for (int i = 0; i < PROJCACHE_SIZE; i++)
        if (c->entries[i] && c->entries[i]->refs == 0 &&
            (slot < 0 || c->entries[i]->last_used < c->entries[slot]->last_used))
            slot = i;
    return slot;
}

/* Keep e if a slot and the byte budget allow, dropping idle entries least recently used first; 0 if not kept. */
static int insert(proj_cache *c, proj_entry *e)
{
    for (;;) {
        size_t total = entry_bytes(e);
        int free_slot = -1;
        for (int i = 0; i < PROJCACHE_SIZE; i++) {
            if (c->entries[i])
                total += entry_bytes(c->entries[i]);
            else if (free_slot < 0)
                free_slot = i;
        }
        if (free_slot >= 0 && total <= PROJCACHE_BYTES) {
            c->entries[free_slot] = e;
            return 1;
        }
        int victim = lru_idle(c);
        if (victim < 0)
            return 0;
        entry_free(c->entries[victim]);
        c->entries[victim] = NULL;
    }
}

proj_entry *projcache_get(proj_cache *c, const proj_key *key, bbt_error *err)
{
    pthread_mutex_lock(&c->lock);
    proj_entry *e = lookup(c, key);
    pthread_mutex_unlock(&c->lock);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e) {
        bbt_fail(err, "out of memory");
        return NULL;
    }
    e->key = *key;
    int rows = key->prompt_len * c->hidden;
    int rc = key->layer ? deep_layer_projection(&e->proj, rows, key->dim, key->seed, key->layer, key->kind, key->alpha,
                                                key->sigma0, key->layer_std, err)
                        : projection_init(&e->proj, rows, key->dim, key->seed, key->kind, key->alpha, key->sigma0,
                                          c->embedding_std, NULL, err);
    if (rc) {
        free(e);
        return NULL;
    }
    e->refs = 1;
    pthread_mutex_lock(&c->lock);
    proj_entry *other = lookup(c, key); /* another request drew the same one meanwhile */
    if (other) {
        entry_free(e);
        e = other;
    } else {
        e->last_used = ++c->clock;
        e->cached = insert(c, e); /* every slot held: this request alone uses it, and its release frees it */
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

void projcache_release(proj_cache *c, proj_entry *e)
{
    if (!e->cached) {
        entry_free(e);
        return;
    }
    pthread_mutex_lock(&c->lock);
    e->refs--;
    pthread_mutex_unlock(&c->lock);
}
