/* encode.c — templates to token ids.
 *
 * Why chunks are tokenized "in context": tokenizers treat the start of a text specially (sentencepiece prepends a space,
 * byte-level BPE does not), so tokenizing " . It was" on its own would not give the tokens it gets inside a sentence.
 * A chunk that begins with whitespace is therefore tokenized after an anchor word ("a" + chunk) and the anchor's tokens
 * are removed; this gives the mid-sentence tokens for sentencepiece, byte-level BPE and WordPiece alike.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/encode.h"
#include "bbt/util.h"

#define ANCHOR "a"

/* A growing list of token ids. */
typedef struct idlist {
    int *v;
    int n, cap;
} idlist;

static void ids_push(idlist *l, int id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = id;
}

/* Tokenize into a fresh list; -1 with the model's message on failure. */
static int tokenize_into(lm *m, const char *text, size_t len, int flags, idlist *out, bbt_error *err)
{
    int need = lm_tokenize(m, text, len, flags, NULL, 0);
    if (need < 0)
        return bbt_fail(err, "cannot tokenize \"%.*s\": %s", (int)(len > 60 ? 60 : len), text, lm_errmsg(m));
    out->v = xmalloc((size_t)(need + 1) * sizeof *out->v);
    out->cap = need + 1;
    out->n = lm_tokenize(m, text, len, flags, out->v, need);
    return 0;
}

/* Append the mid-sentence tokens of a chunk (see the comment at the top). */
static int append_chunk(lm *m, const char *text, size_t len, idlist *out, bbt_error *err)
{
    if (len == 0)
        return 0;
    idlist anchor = {0}, both = {0}, plain = {0};
    int rc = 0;
    if (isspace((unsigned char)text[0])) {
        char *joined = xmalloc(len + sizeof ANCHOR);
        memcpy(joined, ANCHOR, sizeof ANCHOR - 1);
        memcpy(joined + sizeof ANCHOR - 1, text, len);
        int failed = tokenize_into(m, ANCHOR, sizeof ANCHOR - 1, 0, &anchor, err) ||
                     tokenize_into(m, joined, len + sizeof ANCHOR - 1, 0, &both, err);
        free(joined);
        if (!failed && both.n >= anchor.n && !memcmp(both.v, anchor.v, (size_t)anchor.n * sizeof(int))) {
            for (int i = anchor.n; i < both.n; i++)
                ids_push(out, both.v[i]);
            goto done;
        }
        /* otherwise the chunk on its own: its own error message, without the anchor, if it cannot be tokenized */
    }
    if (!(rc = tokenize_into(m, text, len, 0, &plain, err)))
        for (int i = 0; i < plain.n; i++)
            ids_push(out, plain.v[i]);
done:
    free(anchor.v);
    free(both.v);
    free(plain.v);
    return rc ? -1 : 0;
}

/* The special tokens the model puts before and after a text, found by tokenizing a probe word with and without them. */
typedef struct wrapping {
    int pre[8], post[8];
    int n_pre, n_post;
} wrapping;

static int find_wrapping(lm *m, wrapping *w, bbt_error *err)
{
    idlist with = {0}, without = {0};
    memset(w, 0, sizeof *w);
    int rc = tokenize_into(m, "probe", 5, LM_TOK_SPECIAL, &with, err) || tokenize_into(m, "probe", 5, 0, &without, err);
    if (!rc) {
        int at = -1;
        for (int i = 0; i + without.n <= with.n && at < 0; i++)
            if (!memcmp(with.v + i, without.v, (size_t)without.n * sizeof(int)))
                at = i;
        int post = with.n - at - without.n;
        if (at < 0 || at > 8 || post > 8)
            rc = bbt_fail(err, "the model's tokenizer adds special tokens in an unexpected way");
        else {
            w->n_pre = at;
            w->n_post = post;
            memcpy(w->pre, with.v, (size_t)at * sizeof(int));
            memcpy(w->post, with.v + at + without.n, (size_t)post * sizeof(int));
        }
    }
    free(with.v);
    free(without.v);
    return rc ? -1 : 0;
}

/* Text of a template part for one example. */
static const char *part_text(const tpl_part *p, const example *e)
{
    switch (p->kind) {
    case TPL_LITERAL: return p->literal;
    case TPL_TEXT:
    case TPL_TEXT_A: return e->text_a;
    case TPL_TEXT_B: return e->text_b ? e->text_b : "";
    default: return "";
    }
}

/* Build one sequence without length limits. */
static int build_sequence(lm *m, const template_spec *tpl, const example *e, const encode_options *o, int masked,
                          const wrapping *w, idlist *ids, lm_seq *seq, bbt_error *err)
{
    const lm_info *info = lm_get_info(m);
    size_t cap = 256, len = 0;
    char *chunk = xmalloc(cap);
    int has_prompt = 0, rc = 0;
    memset(seq, 0, sizeof *seq);
    seq->read_pos = -1;
    seq->mode = o->mode;
    for (int i = 0; i < w->n_pre; i++)
        ids_push(ids, w->pre[i]);
    for (int i = 0; i <= tpl->n_parts && !rc; i++) {
        const tpl_part *p = i < tpl->n_parts ? &tpl->parts[i] : NULL;
        if (p && p->kind != TPL_PROMPT && p->kind != TPL_MASK) {
            const char *s = part_text(p, e);
            size_t n = strlen(s);
            if (len + n + 1 > cap)
                chunk = xrealloc(chunk, cap = 2 * (len + n + 1));
            memcpy(chunk + len, s, n);
            len += n;
            continue;
        }
        if (p && p->kind == TPL_MASK)
            while (len > 0 && isspace((unsigned char)chunk[len - 1]))
                len--; /* the mask (or the label word's own leading space) takes the place of this space */
        rc = append_chunk(m, chunk, len, ids, err);
        len = 0;
        if (!p || rc)
            break;
        if (p->kind == TPL_PROMPT) {
            has_prompt = 1;
            seq->prompt_pos = ids->n;
            if (o->mode == LM_PROMPT_ADD)
                for (int k = 0; k < o->prompt_len; k++)
                    ids_push(ids, o->placeholders[k]);
        } else if (masked) {
            seq->read_pos = ids->n;
            ids_push(ids, info->mask);
        } else {
            break; /* causal: the prefix ends at <mask> */
        }
    }
    free(chunk);
    if (rc)
        return -1;
    if (!has_prompt && o->mode != LM_PROMPT_NONE) {
        /* no {prompt} in the template: the prompt goes right after the leading special tokens */
        seq->prompt_pos = w->n_pre;
        if (o->mode == LM_PROMPT_ADD) {
            for (int k = 0; k < o->prompt_len; k++)
                ids_push(ids, 0);
            memmove(ids->v + w->n_pre + o->prompt_len, ids->v + w->n_pre,
                    (size_t)(ids->n - o->prompt_len - w->n_pre) * sizeof(int));
            memcpy(ids->v + w->n_pre, o->placeholders, (size_t)o->prompt_len * sizeof(int));
            if (seq->read_pos >= 0)
                seq->read_pos += o->prompt_len;
        }
    }
    if (masked)
        for (int i = 0; i < w->n_post; i++)
            ids_push(ids, w->post[i]);
    else
        seq->read_pos = ids->n - 1;
    return 0;
}

/* Drop the last word of the longer text field; 0 when nothing is left to drop. */
static int shorten_example(example *e)
{
    char *s = e->text_b && strlen(e->text_b) > strlen(e->text_a) ? e->text_b : e->text_a;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    while (n > 0 && !isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 && !s[0])
        return 0;
    s[n] = 0;
    return 1;
}

/* The example after `drops` calls of shorten_example, into *copy (its texts owned by the caller); returns how many drops
 * were made (fewer when the texts ran out). */
static int shortened_copy(const example *e, int drops, example *copy)
{
    free(copy->text_a);
    free(copy->text_b);
    *copy = (example){xstrdup(e->text_a), e->text_b ? xstrdup(e->text_b) : NULL, e->label, e->line};
    int made = 0;
    while (made < drops && shorten_example(copy))
        made++;
    return made;
}

/* The sequence of the example shortened by `drops` words into *ids; sets *fits, and *exhausted when the texts ran out
 * before `drops`. */
static int try_drops(lm *m, const task *t, const example *e, const encode_options *o, int masked, const wrapping *w,
                     int limit, int drops, example *copy, idlist *ids, lm_seq *seq, int *fits, int *exhausted,
                     bbt_error *err)
{
    *exhausted = shortened_copy(e, drops, copy) < drops;
    ids->n = 0;
    if (build_sequence(m, masked ? &t->masked : &t->causal, copy, o, masked, w, ids, seq, err))
        return -1;
    *fits = ids->n <= limit;
    return 0;
}

/* The fewest words to drop (shorten_example, one after another) for the sequence to fit, left built in *ids. Found by
 * doubling and then bisection, as the token count falls as words are dropped: a few tokenizations instead of one per
 * word (a 1,500-word example took 5 CPU seconds word by word under ASan). */
static int fit_by_dropping(lm *m, const task *t, const example *e, const encode_options *o, int masked,
                           const wrapping *w, int limit, idlist *ids, lm_seq *seq, int *truncated, bbt_error *err)
{
    example copy = {0};
    int fits, exhausted, rc, lo = 0, hi = 1;   /* lo: known not to fit; hi: the next to try */
    *truncated = 0;
    rc = try_drops(m, t, e, o, masked, w, limit, 0, &copy, ids, seq, &fits, &exhausted, err);
    if (!rc && !fits) {
        *truncated = 1;
        for (;;) {
            if ((rc = try_drops(m, t, e, o, masked, w, limit, hi, &copy, ids, seq, &fits, &exhausted, err)) || fits)
                break;
            if (exhausted) {
                rc = bbt_fail(err, "even with its text removed the template needs %d positions (the model allows %d "
                                   "with the prompt and the label tokens)",
                              ids->n, limit);
                break;
            }
            lo = hi;
            hi = hi > INT_MAX / 2 ? INT_MAX : 2 * hi;
        }
        while (!rc && hi - lo > 1) {
            int mid = lo + (hi - lo) / 2;
            if ((rc = try_drops(m, t, e, o, masked, w, limit, mid, &copy, ids, seq, &fits, &exhausted, err)))
                break;
            *(fits ? &hi : &lo) = mid;
        }
        if (!rc && !fits)   /* the last sequence built was a bisection point that did not fit */
            rc = try_drops(m, t, e, o, masked, w, limit, hi, &copy, ids, seq, &fits, &exhausted, err);
    }
    free(copy.text_a);
    free(copy.text_b);
    return rc;
}

int encode_example(lm *m, const task *t, const example *e, const encode_options *o, int **out_ids, lm_seq *seq,
                   int *truncated, bbt_error *err)
{
    const lm_info *info = lm_get_info(m);
    int masked = info->kind == LM_MASKED;
    if (masked && info->mask < 0)
        return bbt_fail(err, "model %s is a masked LM without a mask token", info->path);
    wrapping w;
    if (find_wrapping(m, &w, err))
        return -1;
    int limit = info->max_pos - (o->mode == LM_PROMPT_CAT ? o->prompt_len : 0) - o->reserve;
    idlist ids = {0};
    if (fit_by_dropping(m, t, e, o, masked, &w, limit, &ids, seq, truncated, err)) {
        free(ids.v);
        return -1;
    }
    seq->n = ids.n;
    seq->ids = ids.v;
    *out_ids = ids.v;
    return 0;
}

int encode_dataset(lm *m, const task *t, const dataset *d, const encode_options *o, encoded_set *out, bbt_error *err)
{
    memset(out, 0, sizeof *out);
    out->n = d->n;
    out->seqs = xcalloc((size_t)d->n, sizeof *out->seqs);
    out->labels = xcalloc((size_t)d->n, sizeof *out->labels);
    int **parts = xcalloc((size_t)d->n, sizeof *parts);
    long total = 0;
    int rc = 0;
    for (int i = 0; i < d->n && !rc; i++) {
        int truncated;
        rc = encode_example(m, t, &d->ex[i], o, &parts[i], &out->seqs[i], &truncated, err);
        if (rc) {
            bbt_prefix(err, "%s: line %d: ", d->path, d->ex[i].line);
            break;
        }
        out->n_truncated += truncated;
        out->labels[i] = d->ex[i].label;
        total += out->seqs[i].n;
    }
    if (!rc) { /* one block for all ids, so the set owns a single allocation */
        out->storage = xmalloc((size_t)(total + 1) * sizeof(int));
        long at = 0;
        int extra = o->mode == LM_PROMPT_CAT ? o->prompt_len : 0;
        for (int i = 0; i < d->n; i++) {
            memcpy(out->storage + at, parts[i], (size_t)out->seqs[i].n * sizeof(int));
            out->seqs[i].ids = out->storage + at;
            at += out->seqs[i].n;
            if (out->seqs[i].n + extra > out->max_len)
                out->max_len = out->seqs[i].n + extra;
            out->total_tokens += out->seqs[i].n + extra;
        }
    }
    for (int i = 0; i < d->n; i++)
        free(parts[i]);
    free(parts);
    if (rc)
        encoded_set_free(out);
    return rc;
}

void encoded_set_free(encoded_set *s)
{
    free(s->seqs);
    free(s->labels);
    free(s->storage);
    memset(s, 0, sizeof *s);
}

int encode_labels(lm *m, const task *t, const encode_options *o, encoded_labels *out, bbt_error *err)
{
    memset(out, 0, sizeof *out);
    idlist all = {0};
    int *start = xcalloc((size_t)t->n_classes + 1, sizeof *start);
    int rc = 0;
    for (int c = 0; c < t->n_classes && !rc; c++) {
        start[c] = all.n;
        const char *word = t->label_words[c];
        size_t n = strlen(word);
        char *spaced = xmalloc(n + 2);
        spaced[0] = ' ';
        memcpy(spaced + 1, word, n + 1);
        rc = o->label_space ? append_chunk(m, spaced, n + 1, &all, err) : append_chunk(m, word, n, &all, err);
        free(spaced);
        if (!rc && all.n == start[c])
            rc = bbt_fail(err, "task %s: label word \"%s\" (class %d) tokenizes to nothing", t->name, word, c);
    }
    start[t->n_classes] = all.n;
    if (!rc) {
        out->n = t->n_classes;
        out->storage = all.v;
        out->labels = xcalloc((size_t)t->n_classes, sizeof *out->labels);
        for (int c = 0; c < t->n_classes; c++)
            out->labels[c] = (lm_label){all.v + start[c], start[c + 1] - start[c]};
    } else {
        free(all.v);
    }
    free(start);
    return rc;
}

void encoded_labels_free(encoded_labels *l)
{
    free(l->labels);
    free(l->storage);
    memset(l, 0, sizeof *l);
}

/* A placeholder must be an ordinary token: not special, and text a person could read. */
static int is_ordinary_token(lm *m, int id)
{
    const lm_info *info = lm_get_info(m);
    int specials[] = {info->bos, info->eos, info->pad, info->unk, info->mask, info->cls, info->sep};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        if (id == specials[i])
            return 0;
    char buf[256];
    int n = lm_detokenize(m, &id, 1, buf, sizeof buf);
    if (n <= 0 || n >= (int)sizeof buf)
        return 0;
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return utf8_valid(buf, (size_t)n) && strspn(buf, " ") < (size_t)n;
}

int encode_placeholders(lm *m, int prompt_len, int *ids, bbt_error *err)
{
    int vocab = lm_get_info(m)->vocab;
    int start = vocab - prompt_len < 1000 ? vocab - prompt_len : 1000;
    if (start < 0)
        start = 0;
    int found = 0;
    for (int k = 0; k < vocab && found < prompt_len; k++) {
        int id = (start + k) % vocab;
        if (is_ordinary_token(m, id))
            ids[found++] = id;
    }
    if (found < prompt_len)
        return bbt_fail(err, "the vocabulary of %s has only %d ordinary tokens for %d placeholders", lm_get_info(m)->path,
                        found, prompt_len);
    return 0;
}
