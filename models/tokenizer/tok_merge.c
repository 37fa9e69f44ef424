/* tok_merge.c — heap-driven BPE merge loop (see tok_merge.h). */
#include "models/tokenizer/tok_merge.h"

#include <stdlib.h>

void tok_merge_scratch_free(tok_merge_scratch *s)
{
    free(s->prev);
    free(s->next);
    free(s->id);
    free(s->heap);
    *s = (tok_merge_scratch){0};
}

static int reserve_symbols(tok_merge_scratch *s, int n)
{
    if (n <= s->sym_cap)
        return 0;
    int cap = s->sym_cap ? s->sym_cap : 64;
    while (cap < n)
        cap *= 2;
    int *p = realloc(s->prev, (size_t)cap * sizeof *p);
    if (!p)
        return -1;
    s->prev = p;
    p = realloc(s->next, (size_t)cap * sizeof *p);
    if (!p)
        return -1;
    s->next = p;
    p = realloc(s->id, (size_t)cap * sizeof *p);
    if (!p)
        return -1;
    s->id = p;
    s->sym_cap = cap;
    return 0;
}

/* a comes out of the heap before b */
static int before(const tok_merge_entry *a, const tok_merge_entry *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    return a->left < b->left;
}

static int heap_push(tok_merge_scratch *s, tok_merge_entry e)
{
    if (s->heap_len == s->heap_cap) {
        int cap = s->heap_cap ? s->heap_cap * 2 : 64;
        tok_merge_entry *h = realloc(s->heap, (size_t)cap * sizeof *h);
        if (!h)
            return -1;
        s->heap = h;
        s->heap_cap = cap;
    }
    int i = s->heap_len++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!before(&e, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = e;
    return 0;
}

static tok_merge_entry heap_pop(tok_merge_scratch *s)
{
    tok_merge_entry top = s->heap[0], last = s->heap[--s->heap_len];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= s->heap_len)
            break;
        if (c + 1 < s->heap_len && before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_len)
        s->heap[i] = last;
    return top;
}

static int consider(tok_merge_scratch *s, int left, tok_pair_fn pair, const void *ctx)
{
    int right = s->next[left];
    if (left < 0 || right < 0)
        return 0;
    tok_merge_entry e = {.left = left, .right = right, .left_id = s->id[left], .right_id = s->id[right]};
    if (!pair(ctx, e.left_id, e.right_id, &e.merged, &e.priority))
        return 0;
    return heap_push(s, e);
}

int tok_merge(tok_merge_scratch *s, int *ids, int n, tok_pair_fn pair, const void *ctx)
{
    if (n < 2)
        return n;
    if (reserve_symbols(s, n))
        return -1;
    for (int i = 0; i < n; i++) {
        s->id[i] = ids[i];
        s->prev[i] = i - 1;
        s->next[i] = i + 1 < n ? i + 1 : -1;
    }
    s->heap_len = 0;
    for (int i = 0; i + 1 < n; i++)
        if (consider(s, i, pair, ctx))
            return -1;
    while (s->heap_len) {
        tok_merge_entry e = heap_pop(s);
        /* stale: one side merged since this pair was queued */
        if (s->id[e.left] != e.left_id || s->next[e.left] != e.right || s->id[e.right] != e.right_id)
            continue;
        s->id[e.left] = e.merged;
        s->id[e.right] = -1;
        int after = s->next[e.right];
        s->next[e.left] = after;
        if (after >= 0)
            s->prev[after] = e.left;
        s->next[e.right] = -2;
        if (s->prev[e.left] >= 0 && consider(s, s->prev[e.left], pair, ctx))
            return -1;
        if (consider(s, e.left, pair, ctx))
            return -1;
    }
    int m = 0;
    for (int i = 0; i >= 0; i = s->next[i])
        ids[m++] = s->id[i];
    return m;
}
