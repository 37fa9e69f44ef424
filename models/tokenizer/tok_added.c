/* tok_added.c — added (special) tokens: found in the raw text before normalisation, so "<mask>" or "[SEP]" written in a
 * prompt become their ids and never reach the model.
 *
 * Matching is leftmost-longest, as in Hugging Face tokenizers; single_word tokens only match between non-word characters;
 * lstrip/rstrip tokens swallow the white space on their left/right. Every added token is matched on the raw text: the HF
 * library matches those marked "normalized": true on the normalised text instead, which differs only when the
 * normaliser changes the token's own characters (e.g. a lower-casing normaliser and an added token with capitals).
 */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/unicode.h"

static int by_first_byte_then_longer(const void *pa, const void *pb)
{
    const tok_added *a = pa, *b = pb;
    unsigned char fa = a->len ? (unsigned char)a->text[0] : 0, fb = b->len ? (unsigned char)b->text[0] : 0;
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->id - b->id;
}

int tok_added_add(tokenizer *t, const char *text, size_t len, int id, unsigned special)
{
    if (!len)
        return 0;
    for (int i = 0; i < t->nadded; i++)
        if (t->added[i].len == len && !memcmp(t->added[i].text, text, len))
            return 0;
    tok_added *a = realloc(t->added, (size_t)(t->nadded + 1) * sizeof *a);
    if (!a)
        return -1;
    t->added = a;
    tok_added *n = &t->added[t->nadded];
    memset(n, 0, sizeof *n);
    n->text = malloc(len + 1);
    if (!n->text)
        return -1;
    memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->len = len;
    n->id = id;
    n->special = special;
    t->nadded++;
    return 0;
}

void tok_added_index(tokenizer *t)
{
    if (t->nadded)
        qsort(t->added, (size_t)t->nadded, sizeof *t->added, by_first_byte_then_longer);
    int k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < t->nadded && (unsigned char)t->added[k].text[0] < b)
            k++;
        t->added_first[b] = k;
    }
}

static int word_char_at(const char *s, size_t len, size_t i)
{
    uint32_t c;
    return i < len && uc_decode(s + i, len - i, &c) && (c == '_' || uc_is_letter(c) || uc_is_number(c));
}

static int word_char_before(const char *s, size_t i)
{
    if (!i)
        return 0;
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return word_char_at(s, i, k);
}

/* lstrip/rstrip swallow ASCII white space (a byte test cannot misread part of a multi-byte character). */
static int ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The longest added token at s[i], or NULL. */
static const tok_added *match_at(const tokenizer *t, const char *s, size_t len, size_t i)
{
    unsigned char b = (unsigned char)s[i];
    for (int k = t->added_first[b]; k < t->added_first[b + 1]; k++) {
        const tok_added *a = &t->added[k];
        if (a->len > len - i || memcmp(s + i, a->text, a->len))
            continue;
        if (a->single_word && (word_char_before(s, i) || word_char_at(s, len, i + a->len)))
            continue;
        return a;
    }
    return NULL;
}

static int push(tok_segments *v, size_t off, size_t len, int id)
{
    if (id < 0 && !len)
        return 0;
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 16;
        tok_segment *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (tok_segment){off, len, id};
    return 0;
}

int tok_split_added(const tokenizer *t, const char *s, size_t len, tok_segments *out)
{
    out->n = 0;
    size_t text_start = 0;
    for (size_t i = 0; i < len;) {
        const tok_added *a = t->nadded ? match_at(t, s, len, i) : NULL;
        if (!a) {
            i++;
            continue;
        }
        size_t text_end = i, after = i + a->len;
        if (a->lstrip)
            while (text_end > text_start && ascii_space(s[text_end - 1]))
                text_end--;
        if (a->rstrip)
            while (after < len && ascii_space(s[after]))
                after++;
        if (push(out, text_start, text_end - text_start, -1) || push(out, i, a->len, a->id))
            return TOK_ERR_NOMEM;
        i = text_start = after;
    }
    return push(out, text_start, len - text_start, -1) ? TOK_ERR_NOMEM : 0;
}
