/* handles.c — the example-set store with least-recently-used expiry (see handles.h). */
#include "bbt/serve/handles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void handles_init(handle_store *h, int max_handles)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    h->max = max_handles;
    h->sets = calloc((size_t)max_handles, sizeof *h->sets);
}

void example_set_free(example_set *s)
{
    if (!s)
        return;
    free(s->placeholders);
    encoded_labels_free(&s->labels);
    encoded_set_free(&s->set);
    free(s);
}

void handles_free(handle_store *h)
{
    for (int i = 0; i < h->n; i++)
        example_set_free(h->sets[i]);
    free(h->sets);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof *h);
}

static void new_id(char *out, size_t cap)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) { /* no entropy source: still unique, less unguessable */
        static unsigned long long fallback;
        memset(r, 0, sizeof r);
        memcpy(r, &fallback, sizeof fallback);
        fallback++;
    }
    int n = snprintf(out, cap, "ex-");
    for (size_t i = 0; i < sizeof r && (size_t)n + 2 < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", r[i]);
}

/* Drop the least recently used set no one holds (lock held); -1 if all are held. */
static int evict_one(handle_store *h)
{
    int victim = -1;
    for (int i = 0; i < h->n; i++)
        if (h->sets[i]->refs == 0 && (victim < 0 || h->sets[i]->last_used < h->sets[victim]->last_used))
            victim = i;
    if (victim < 0)
        return -1;
    example_set_free(h->sets[victim]);
    h->sets[victim] = h->sets[--h->n];
    return 0;
}

int handles_add(handle_store *h, example_set *s, char *id)
{
    pthread_mutex_lock(&h->lock);
    if (h->n == h->max && evict_one(h)) {
        pthread_mutex_unlock(&h->lock);
        return -1;
    }
    new_id(s->id, sizeof s->id);
    s->refs = 0;
    s->last_used = ++h->clock;
    h->sets[h->n++] = s;
    memcpy(id, s->id, sizeof s->id);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

example_set *handles_get(handle_store *h, const char *id)
{
    example_set *found = NULL;
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->n && !found; i++)
        if (!strcmp(h->sets[i]->id, id))
            found = h->sets[i];
    if (found) {
        found->refs++;
        found->last_used = ++h->clock;
    }
    pthread_mutex_unlock(&h->lock);
    return found;
}

void handles_release(handle_store *h, example_set *s)
{
    pthread_mutex_lock(&h->lock);
    s->refs--;
    pthread_mutex_unlock(&h->lock);
}
