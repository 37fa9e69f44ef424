/* icl.c — choosing and writing in-context demonstrations (see icl.h). */
#include <stdlib.h>
#include <string.h>

#include "bbt/icl.h"
#include "bbt/util.h"
#include "optim/pcg.h"

/* The stream of the demonstrations' draw: apart from the projection's and the optimizer's streams of the same seed. */
#define ICL_STREAM 0x1c1d3005ULL

typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_trim_spaces(strbuf *b)
{
    while (b->n > 0 && (b->s[b->n - 1] == ' ' || b->s[b->n - 1] == '\t'))
        b->s[--b->n] = 0;
}

char *icl_render(const task *t, const example *e, int label_space)
{
    strbuf b = {0};
    sb_add(&b, "", 0);
    const template_spec *tpl = &t->causal;
    for (int i = 0; i < tpl->n_parts; i++) {
        const tpl_part *p = &tpl->parts[i];
        const char *s = p->kind == TPL_LITERAL ? p->literal
                        : p->kind == TPL_TEXT || p->kind == TPL_TEXT_A ? e->text_a
                        : p->kind == TPL_TEXT_B ? (e->text_b ? e->text_b : "")
                                                : NULL;
        if (s) {
            sb_add(&b, s, strlen(s));
        } else if (p->kind == TPL_MASK) {
            sb_trim_spaces(&b); /* as the encoder does: the label word brings its own space */
            if (label_space)
                sb_add(&b, " ", 1);
            const char *w = t->label_words[e->label];
            sb_add(&b, w, strlen(w));
            break; /* a causal template ends at <mask> */
        }
    }
    /* {prompt} at the start leaves the template's leading space: a demonstration starts with its text */
    size_t lead = strspn(b.s, " ");
    memmove(b.s, b.s + lead, b.n - lead + 1);
    return b.s;
}

void icl_order(int n, uint64_t seed, int *order)
{
    pcg_rng rng;
    pcg_seed(&rng, seed, ICL_STREAM);
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) { /* Fisher–Yates */
        int j = (int)pcg_bounded(&rng, (uint64_t)i + 1);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* Tokens of one demonstration and its separator, tokenized on its own. */
static int demo_tokens(lm *m, const char *text, int *n, bbt_error *err)
{
    size_t len = strlen(text);
    char *with_sep = xmalloc(len + sizeof ICL_SEPARATOR);
    memcpy(with_sep, text, len);
    memcpy(with_sep + len, ICL_SEPARATOR, sizeof ICL_SEPARATOR);
    int dummy; /* only the count is wanted: lm_tokenize returns the ids a text needs whatever cap is */
    int k = lm_tokenize(m, with_sep, strlen(with_sep), 0, &dummy, 0);
    free(with_sep);
    if (k < 0)
        return bbt_fail(err, "icl: cannot tokenize a demonstration: %s", lm_errmsg(m));
    *n = k;
    return 0;
}

/* Rebuild d->text from d->index. */
static void join_demos(icl_demos *d, const dataset *train, const task *t, int label_space)
{
    strbuf b = {0};
    sb_add(&b, "", 0);
    for (int i = 0; i < d->n; i++) {
        char *s = icl_render(t, &train->ex[d->index[i]], label_space);
        sb_add(&b, s, strlen(s));
        sb_add(&b, ICL_SEPARATOR, strlen(ICL_SEPARATOR));
        free(s);
    }
    free(d->text);
    d->text = b.s;
}

/* The chosen set as flags over the training set → d (in the drawn order). */
static void collect(icl_demos *d, const int *order, const char *chosen, const int *len, int n)
{
    d->n = 0;
    d->n_tokens = 0;
    for (int i = 0; i < n; i++)
        if (chosen[order[i]]) {
            d->index[d->n] = order[i];
            d->tokens[d->n++] = len[order[i]];
            d->n_tokens += len[order[i]];
        }
}

/* One per class: the first of each class in the drawn order, or (shortest) the shortest of each. Returns the tokens. */
static long pick_one_per_class(const dataset *train, int n_classes, const int *order, const int *len, int shortest,
                               char *chosen, int *missing_class)
{
    long sum = 0;
    *missing_class = -1;
    for (int c = 0; c < n_classes; c++) {
        int best = -1;
        for (int i = 0; i < train->n; i++) {
            int k = order[i];
            if (train->ex[k].label != c)
                continue;
            if (best < 0 || (shortest && len[k] < len[best]))
                best = k;
            if (!shortest)
                break;
        }
        if (best < 0) {
            *missing_class = c;
            return -1;
        }
        chosen[best] = 1;
        sum += len[best];
    }
    return sum;
}

int icl_choose(lm *m, const task *t, const dataset *train, int label_space, uint64_t seed, int room, icl_demos *out,
               bbt_error *err)
{
    memset(out, 0, sizeof *out);
    int n = train->n;
    int *order = xmalloc((size_t)n * sizeof *order), *len = xmalloc((size_t)n * sizeof *len);
    char *chosen = xcalloc((size_t)n, 1);
    int rc = 0;
    icl_order(n, seed, order);
    for (int i = 0; i < n && !rc; i++) {
        char *s = icl_render(t, &train->ex[i], label_space);
        rc = demo_tokens(m, s, &len[i], err);
        free(s);
    }
    int missing = -1;
    long sum = rc ? 0 : pick_one_per_class(train, t->n_classes, order, len, 0, chosen, &missing);
    if (!rc && sum > room) {
        memset(chosen, 0, (size_t)n);
        sum = pick_one_per_class(train, t->n_classes, order, len, 1, chosen, &missing);
    }
    if (!rc && missing >= 0)
        rc = bbt_fail(err, "icl: the training set %s has no example of class %d (%s), and demonstrations take one of each",
                      train->path, missing, t->label_words[missing]);
    else if (!rc && sum > room)
        rc = bbt_fail(err, "icl: one demonstration per class takes %ld tokens even with the shortest of each (%d classes), "
                           "but only %d positions are left beside 95 %% of the examples; the model's context is too "
                           "short for in-context learning",
                      sum, t->n_classes, room < 0 ? 0 : room);
    for (int i = 0; i < n && !rc; i++) /* then every further one that still fits */
        if (!chosen[order[i]] && sum + len[order[i]] <= room) {
            chosen[order[i]] = 1;
            sum += len[order[i]];
        }
    if (!rc) {
        out->index = xmalloc((size_t)n * sizeof *out->index);
        out->tokens = xmalloc((size_t)n * sizeof *out->tokens);
        collect(out, order, chosen, len, n);
        join_demos(out, train, t, label_space);
    }
    free(order);
    free(len);
    free(chosen);
    return rc;
}

int icl_drop_one(icl_demos *d, const dataset *train, const task *t, int label_space)
{
    for (int i = d->n - 1; i >= 0; i--) {
        int label = train->ex[d->index[i]].label, same = 0;
        for (int j = 0; j < d->n; j++)
            same += train->ex[d->index[j]].label == label;
        if (same < 2)
            continue;
        d->n_tokens -= d->tokens[i];
        memmove(d->index + i, d->index + i + 1, (size_t)(d->n - i - 1) * sizeof *d->index);
        memmove(d->tokens + i, d->tokens + i + 1, (size_t)(d->n - i - 1) * sizeof *d->tokens);
        d->n--;
        join_demos(d, train, t, label_space);
        return 0;
    }
    return -1;
}

void icl_prepend(task *t, const char *text)
{
    template_spec *tpl = &t->causal;
    tpl->parts = xrealloc(tpl->parts, (size_t)(tpl->n_parts + 1) * sizeof *tpl->parts);
    memmove(tpl->parts + 1, tpl->parts, (size_t)tpl->n_parts * sizeof *tpl->parts);
    tpl->parts[0] = (tpl_part){TPL_LITERAL, xstrdup(text)};
    tpl->n_parts++;
}

void icl_demos_free(icl_demos *d)
{
    free(d->index);
    free(d->tokens);
    free(d->text);
    memset(d, 0, sizeof *d);
}
