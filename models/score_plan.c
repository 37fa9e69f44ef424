/* score_plan.c — a causal score batch as rows, and the prefixes its sequences share (see score_plan.h).
 *
 * Finding the groups: the sequences are sorted by their trunk rows (lexicographically, by trunk_row), so sequences
 * with a long common prefix end up next to each other and the common prefix of a run of them is the smallest common
 * prefix of neighbours. Runs are grown greedily along the sorted order while the rows they save, (members − 1) ×
 * prefix, do not shrink: one sequence that diverges early (a short text, another prompt) ends the run instead of
 * cutting its prefix short.
 */
#include "models/score_plan.h"

#include <stdlib.h>

int label_len(const lm_batch *b, int j) { return b->first_token_only ? 1 : b->labels[j].n; }

void plan_seq(const lm_batch *b, const lm_seq *q, seq_plan *p)
{
    p->read = q->read_pos < 0 ? q->n - 1 : q->read_pos;
    p->insert = (q->mode == LM_PROMPT_CAT && q->prompt_pos <= p->read) ? q->prompt_pos : -1;
    p->trunk = p->read + 1 + (p->insert >= 0 ? b->prompt_len : 0);
    p->nout = 1;
    for (int j = 0; j < b->n_labels; j++)
        p->nout += label_len(b, j) - 1;
    p->rows = p->trunk + p->nout - 1;
}

trunk_row trunk_row_at(const lm_batch *b, const lm_seq *q, const seq_plan *p, int r)
{
    int Lp = b->prompt_len;
    if (p->insert >= 0 && r >= p->insert) {
        if (r < p->insert + Lp)
            return (trunk_row){-1, q->prompt, r - p->insert};
        r -= Lp;
    }
    int j = r - q->prompt_pos;
    if (q->mode == LM_PROMPT_ADD && j >= 0 && j < Lp)
        return (trunk_row){q->ids[r], q->prompt, j};
    return (trunk_row){q->ids[r], -1, -1};
}

static int row_cmp(trunk_row a, trunk_row b)
{
    if (a.tok != b.tok)
        return a.tok < b.tok ? -1 : 1;
    if (a.prompt != b.prompt)
        return a.prompt < b.prompt ? -1 : 1;
    return (a.j > b.j) - (a.j < b.j);
}

/* A sequence as the sort sees it. */
typedef struct sort_item {
    const lm_batch *b;
    const seq_plan *plan;
    int s;
} sort_item;

/* Rows sequences s and t have in common at the start of their trunks; *cmp: their order (trunks, then index). */
static int common_rows(const lm_batch *b, const seq_plan *plan, int s, int t, int *cmp)
{
    const seq_plan *ps = &plan[s], *pt = &plan[t];
    int n = ps->trunk < pt->trunk ? ps->trunk : pt->trunk, r = 0, c = 0;
    while (r < n && !(c = row_cmp(trunk_row_at(b, &b->seqs[s], ps, r), trunk_row_at(b, &b->seqs[t], pt, r))))
        r++;
    if (!c)
        c = ps->trunk != pt->trunk ? (ps->trunk < pt->trunk ? -1 : 1) : (s > t) - (s < t);
    *cmp = c;
    return r;
}

static int item_cmp(const void *x, const void *y)
{
    const sort_item *a = x, *b = y;
    int c;
    common_rows(a->b, a->plan, a->s, b->s, &c);
    return c;
}

static int int_cmp(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

static int unit_cmp(const void *x, const void *y)
{
    const score_unit *a = x, *b = y;
    return (a->lead > b->lead) - (a->lead < b->lead);
}

static void add_unit(score_units *out, const seq_plan *plan, int first, int count, int pre)
{
    if (count < 2)
        pre = 0;
    score_unit *u = &out->u[out->n++];
    *u = (score_unit){first, count, pre, pre, pre, 0, out->order[first]};
    for (int i = first; i < first + count; i++) {
        const seq_plan *p = &plan[out->order[i]];
        u->rows += p->rows - pre;
        u->index_rows += p->rows;
        u->n_out += p->nout;
    }
    out->rows += u->rows;
}

/* A run of sequences order[first .. first+count) sharing `pre` rows (pre = 0: one sequence); rest: their rows after
 * it. */
typedef struct group {
    int first, count, pre;
    long long rest;
} group;

/* How many units group g becomes: as few as keep each within chunk_rows, and at least its share (by rows) of
 * min_units over all groups, whose rows after their prefixes add up to total. */
static long long group_units(const group *g, int chunk_rows, int min_units, long long total)
{
    long long k = chunk_rows > g->pre ? (g->rest + (chunk_rows - g->pre) - 1) / (chunk_rows - g->pre) : g->count;
    long long share = total > 0 ? ((long long)min_units * g->rest + total - 1) / total : 1;
    k = k > share ? k : share;
    return k < 1 ? 1 : k > g->count ? g->count : k;
}

/* Group g as k units, its members (ascending) spread over them by their rows after the prefix. */
static void split_group(score_units *out, const seq_plan *plan, const group *g, long long k)
{
    long long acc = 0;
    int start = g->first, at = 0;
    for (int i = g->first; i < g->first + g->count; i++) {
        long long own = plan[out->order[i]].rows - g->pre;
        int u = (int)((acc + own / 2) * k / (g->rest > 0 ? g->rest : 1));
        if (u != at && i > start) {
            add_unit(out, plan, start, i - start, g->pre);
            start = i;
            at = u;
        }
        acc += own;
    }
    add_unit(out, plan, start, g->first + g->count - start, g->pre);
}

/* The end of the group that starts at order[i] (sorted): grown while the rows it saves do not shrink; *pre: its
 * prefix. */
static int group_end(const lm_batch *b, const seq_plan *plan, const int *order, int i, int min_pre, int *pre)
{
    int S = b->n_seqs, j = i + 1, cmp;
    *pre = plan[order[i]].trunk - 1;
    for (; j < S; j++) {
        int t = order[j];
        int np = common_rows(b, plan, order[j - 1], t, &cmp);
        np = np < *pre ? np : *pre;
        np = np < plan[t].trunk - 1 ? np : plan[t].trunk - 1;
        long long members = j - i;
        if (np < min_pre || members * np < (members - 1) * *pre)
            break;
        *pre = np;
    }
    if (j - i < 2)
        *pre = 0;
    return j;
}

/* The batch's sequences sorted by their trunk rows into out->order, then cut into groups; returns how many. */
static int find_groups(const lm_batch *b, const seq_plan *plan, int min_pre, sort_item *items, score_units *out,
                       group *groups)
{
    int S = b->n_seqs, n = 0;
    for (int s = 0; s < S; s++)
        items[s] = (sort_item){b, plan, s};
    qsort(items, (size_t)S, sizeof *items, item_cmp);
    for (int s = 0; s < S; s++)
        out->order[s] = items[s].s;
    for (int i = 0, j, pre; i < S; i = j) {
        j = group_end(b, plan, out->order, i, min_pre, &pre);
        qsort(out->order + i, (size_t)(j - i), sizeof *out->order, int_cmp); /* members in batch order */
        group *g = &groups[n++];
        *g = (group){i, j - i, pre, 0};
        for (int k = i; k < j; k++)
            g->rest += plan[out->order[k]].rows - pre;
    }
    return n;
}

int plan_units(const lm_batch *b, const seq_plan *plan, int min_pre, int chunk_rows, int min_units,
               score_units *out)
{
    int S = b->n_seqs;
    *out = (score_units){0, malloc(((size_t)S + 1) * sizeof *out->u), malloc(((size_t)S + 1) * sizeof *out->order), 0};
    sort_item *items = min_pre > 0 ? malloc(((size_t)S + 1) * sizeof *items) : NULL;
    group *groups = min_pre > 0 ? malloc(((size_t)S + 1) * sizeof *groups) : NULL;
    if (!out->u || !out->order || (min_pre > 0 && (!items || !groups))) {
        free(items), free(groups);
        score_units_free(out);
        return -1;
    }
    if (min_pre <= 0) {
        for (int s = 0; s < S; s++) {
            out->order[s] = s;
            add_unit(out, plan, s, 1, 0);
        }
        return 0;
    }
    int n = find_groups(b, plan, min_pre, items, out, groups);
    long long total = 0;
    for (int g = 0; g < n; g++)
        total += groups[g].rest;
    for (int g = 0; g < n; g++)
        split_group(out, plan, &groups[g], group_units(&groups[g], chunk_rows, min_units, total));
    free(items), free(groups);
    qsort(out->u, (size_t)out->n, sizeof *out->u, unit_cmp);
    return 0;
}

void score_units_free(score_units *u)
{
    free(u->u);
    free(u->order);
    *u = (score_units){0};
}
