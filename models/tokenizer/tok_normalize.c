/* tok_normalize.c — the normalisers of Hugging Face tokenizers (and BERT's basic clean-up) as string → string passes.
 *
 * Input is well-formed UTF-8 (checked before the pipeline starts), so decoding never fails here.
 */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/unicode.h"

typedef struct cps {
    uint32_t *p;
    size_t len, cap;
} cps;

static int cps_push(cps *v, uint32_t c)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p)
            return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->len++] = c;
    return 0;
}

static int put_cp(tok_buf *out, uint32_t c)
{
    char u[4];
    return tok_buf_put(out, u, (size_t)uc_encode(c, u));
}

static uint32_t next_cp(const char *s, size_t len, size_t *i)
{
    uint32_t c = 0xFFFD;
    int n = uc_decode(s + *i, len - *i, &c);
    *i += n ? (size_t)n : 1;
    return c;
}

int tok_is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BERT's white space: space, \t, \n, \r and the Zs category. */
int tok_bert_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || (c >= 0x80 && uc_category(c) == UC_Zs);
}

/* BERT's control characters: the C* categories except \t, \n, \r (which count as white space). */
static int bert_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    if (c < 0x80)
        return c < 0x20 || c == 0x7F;
    return uc_is_control(c);
}

/* Full canonical decomposition with canonical ordering of combining marks. */
static int decompose(const char *s, size_t len, cps *out)
{
    for (size_t i = 0; i < len;) {
        uint32_t d[4], c = next_cp(s, len, &i);
        int n = c < 0xC0 ? (d[0] = c, 1) : uc_decompose(c, d);
        for (int k = 0; k < n; k++) {
            if (cps_push(out, d[k]))
                return -1;
            /* insertion step of the canonical ordering: a mark moves before marks of higher class */
            int cc = uc_combining_class(d[k]);
            if (!cc)
                continue;
            for (size_t j = out->len - 1; j > 0; j--) {
                int pc = uc_combining_class(out->p[j - 1]);
                if (pc <= cc)
                    break;
                uint32_t tmp = out->p[j - 1];
                out->p[j - 1] = out->p[j];
                out->p[j] = tmp;
            }
        }
    }
    return 0;
}

/* The canonical composition algorithm of UAX #15 over a decomposed, ordered sequence (in place). */
static void compose(cps *v)
{
    if (!v->len)
        return;
    size_t starter = 0, w = 1;
    int last_cc = uc_combining_class(v->p[0]) ? 256 : 0;   /* a leading mark has no starter to join */
    for (size_t i = 1; i < v->len; i++) {
        uint32_t c = v->p[i];
        int cc = uc_combining_class(c);
        uint32_t comp = uc_compose(v->p[starter], c);
        if (comp && (last_cc < cc || last_cc == 0)) {
            v->p[starter] = comp;
            continue;
        }
        if (!cc)
            starter = w;
        last_cc = cc;
        v->p[w++] = c;
    }
    v->len = w;
}

static int emit(const cps *v, tok_buf *out)
{
    for (size_t i = 0; i < v->len; i++)
        if (put_cp(out, v->p[i]))
            return -1;
    return 0;
}

static int normal_form(const char *s, size_t len, int nfc, tok_buf *out)
{
    cps v = {0};
    int rc = decompose(s, len, &v);
    if (!rc && nfc)
        compose(&v);
    if (!rc)
        rc = emit(&v, out);
    free(v.p);
    return rc;
}

/* Final_Sigma: Σ is ς when a cased letter precedes it and none follows (case-ignorable characters skipped), as in
 * Python's str.lower, Rust's str::to_lowercase and JavaScript's toLowerCase. at = offset of the Σ (2 bytes). */
static int final_sigma(const char *s, size_t len, size_t at)
{
    int before = 0;
    for (size_t i = at; i > 0;) {
        size_t k = i - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t c;
        int casing = uc_decode(s + k, i - k, &c) ? uc_casing(c) : 0;
        if (casing != UC_CASE_IGNORABLE) {
            before = casing == UC_CASED;
            break;
        }
        i = k;
    }
    if (!before)
        return 0;
    for (size_t i = at + 2; i < len;) {
        uint32_t c;
        int n = uc_decode(s + i, len - i, &c);
        if (!n)
            break;
        int casing = uc_casing(c);
        if (casing != UC_CASE_IGNORABLE)
            return casing != UC_CASED;
        i += (size_t)n;
    }
    return 1;
}

static int lower(const char *s, size_t len, tok_buf *out)
{
    for (size_t i = 0; i < len;) {
        if ((unsigned char)s[i] < 0x80) {
            char c = s[i++];
            if (tok_buf_putc(out, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c))
                return -1;
            continue;
        }
        size_t at = i;
        uint32_t l[3], c = next_cp(s, len, &i);
        int n = uc_lower(c, l);
        if (c == 0x3A3 && final_sigma(s, len, at))
            l[0] = 0x3C2;
        for (int k = 0; k < n; k++)
            if (put_cp(out, l[k]))
                return -1;
    }
    return 0;
}

/* NFD, then drop the marks: Mn only (BERT) or every mark (the StripAccents normaliser). */
static int strip_accents(const char *s, size_t len, int all_marks, tok_buf *out)
{
    cps v = {0};
    int rc = decompose(s, len, &v);
    size_t w = 0;
    for (size_t i = 0; i < v.len; i++) {
        uint32_t c = v.p[i];
        if (c >= 0x300 && (all_marks ? uc_is_mark(c) : uc_category(c) == UC_Mn))
            continue;
        v.p[w++] = c;
    }
    v.len = w;
    if (!rc)
        rc = emit(&v, out);
    free(v.p);
    return rc;
}

static int replace(const char *s, size_t len, const char *a, size_t alen, const char *b, size_t blen, tok_buf *out)
{
    if (!alen)
        return tok_buf_put(out, s, len);
    size_t i = 0;
    while (i < len) {
        if (len - i >= alen && !memcmp(s + i, a, alen)) {
            if (tok_buf_put(out, b, blen))
                return -1;
            i += alen;
        } else if (tok_buf_putc(out, s[i++])) {
            return -1;
        }
    }
    return 0;
}

static int strip(const char *s, size_t len, int flags, tok_buf *out)
{
    size_t a = 0, b = len;
    while (flags & 1 && a < b) {
        uint32_t c;
        int n = uc_decode(s + a, b - a, &c);
        if (!n || !uc_is_white_space(c))
            break;
        a += (size_t)n;
    }
    while (flags & 2 && b > a) {
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t c;
        int n = uc_decode(s + k, b - k, &c);
        if (!n || !uc_is_white_space(c))
            break;
        b = k;
    }
    return tok_buf_put(out, s + a, b - a);
}

/* BERT clean-up and CJK spacing; accents and case follow as separate passes. */
static int bert_clean(const char *s, size_t len, int flags, tok_buf *out)
{
    for (size_t i = 0; i < len;) {
        uint32_t c = next_cp(s, len, &i);
        if (flags & TOK_BERT_CLEAN) {
            if (c == 0 || c == 0xFFFD || bert_control(c))
                continue;
            if (tok_bert_space(c))
                c = ' ';
        }
        int cjk = flags & TOK_BERT_CHINESE && tok_is_cjk(c);
        if ((cjk && tok_buf_putc(out, ' ')) || put_cp(out, c) || (cjk && tok_buf_putc(out, ' ')))
            return -1;
    }
    return 0;
}

static int run_step(const tok_norm_step *st, const char *s, size_t len, tok_buf *out)
{
    switch (st->type) {
    case TOK_NORM_PREPEND:
        return len ? (tok_buf_put(out, st->a, st->alen) || tok_buf_put(out, s, len)) : tok_buf_put(out, "", 0);
    case TOK_NORM_REPLACE: return replace(s, len, st->a, st->alen, st->b, st->blen, out);
    case TOK_NORM_LOWER: return lower(s, len, out);
    case TOK_NORM_NFD: return normal_form(s, len, 0, out);
    case TOK_NORM_NFC: return normal_form(s, len, 1, out);
    case TOK_NORM_STRIP_ACCENTS: return strip_accents(s, len, 1, out);
    case TOK_NORM_STRIP: return strip(s, len, st->flags, out);
    case TOK_NORM_BERT: return bert_clean(s, len, st->flags, out);
    }
    return -1;
}

/* BERT's accent stripping and lower-casing come after the clean-up, as in the Hugging Face BertNormalizer. */
static int run_bert_tail(const tok_norm_step *st, tok_buf *cur, tok_buf *next)
{
    if (st->flags & TOK_BERT_STRIP_ACCENTS) {
        next->len = 0;
        if (strip_accents(cur->p, cur->len, 0, next))
            return -1;
        tok_buf t = *cur; *cur = *next; *next = t;
    }
    if (st->flags & TOK_BERT_LOWER) {
        next->len = 0;
        if (lower(cur->p, cur->len, next))
            return -1;
        tok_buf t = *cur; *cur = *next; *next = t;
    }
    return 0;
}

int tok_normalize(const tokenizer *t, const char *s, size_t len, tok_buf *out)
{
    tok_buf cur = {0}, next = {0};
    int rc = tok_buf_put(&cur, s, len);
    for (int i = 0; i < t->nnorm && !rc; i++) {
        next.len = 0;
        rc = run_step(&t->norm[i], cur.p, cur.len, &next);
        if (!rc) {
            tok_buf tmp = cur; cur = next; next = tmp;
            if (t->norm[i].type == TOK_NORM_BERT)
                rc = run_bert_tail(&t->norm[i], &cur, &next);
        }
    }
    free(next.p);
    if (rc) {
        free(cur.p);
        return TOK_ERR_NOMEM;
    }
    free(out->p);
    *out = cur;
    return 0;
}
