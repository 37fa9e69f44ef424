/* handles.h — uploaded few-shot sets ("handles"): encoded once by POST /bbt/v1/examples, scored many times.
 *
 * The store keeps at most max_handles sets; adding one more drops the least recently used set that no request is
 * scoring at that moment (a set in use stays alive until its last user releases it). Handle ids are 128 random bits,
 * so one client cannot guess another's handle.
 */
#ifndef BBT_SERVE_HANDLES_H
#define BBT_SERVE_HANDLES_H

#include <pthread.h>

#include "bbt/encode.h"

typedef struct example_set {
    char id[40];
    encode_options enc;        /* mode, L, label space, placeholders (pointing at `placeholders`) */
    int *placeholders;         /* add mode: L ids; NULL otherwise */
    encoded_labels labels;
    encoded_set set;
    int raw_logits, first_token_only;
    /* store bookkeeping */
    int refs;
    unsigned long long last_used;
} example_set;

typedef struct handle_store {
    pthread_mutex_t lock;
    example_set **sets;
    int n, max;
    unsigned long long clock;
} handle_store;

void handles_init(handle_store *h, int max_handles);
void handles_free(handle_store *h);

/* Free a set that is not in a store. */
void example_set_free(example_set *s);

/* Give the store a set (it takes ownership and assigns the id, copied to id: sizeof example_set.id bytes, since the set
 * may be evicted as soon as the lock is released). Returns 0, or -1 when every kept set is in use and the store is
 * full (then the caller still owns the set). */
int handles_add(handle_store *h, example_set *s, char *id);

/* Find a set by id and hold it (NULL if unknown or expired); release it when done. */
example_set *handles_get(handle_store *h, const char *id);
void handles_release(handle_store *h, example_set *s);

#endif
