/* tok_pretokenize.c — the pre-tokenisers: cut normalised text into words before the model sees them.
 *
 * The split patterns of GPT-2, Llama-3 and Qwen2 are hand-written scanners over Unicode categories that give exactly the
 * matches of the published regular expressions (each alternative and its backtracking is spelled out below), so no regex
 * engine is needed. Other patterns in a tokenizer.json are refused at load time with the pattern in the message.
 */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/unicode.h"

/* ---- word lists ---- */

void tok_words_free(tok_words *w)
{
    free(w->text.p);
    free(w->off);
    free(w->len);
    memset(w, 0, sizeof *w);
}

static int words_add(tok_words *w, const char *s, size_t len)
{
    if (!len)
        return 0;
    if (w->n == w->cap) {
        int cap = w->cap ? w->cap * 2 : 64;
        size_t *o = realloc(w->off, (size_t)cap * sizeof *o);
        if (!o)
            return -1;
        w->off = o;
        size_t *l = realloc(w->len, (size_t)cap * sizeof *l);
        if (!l)
            return -1;
        w->len = l;
        w->cap = cap;
    }
    w->off[w->n] = w->text.len;
    w->len[w->n] = len;
    w->n++;
    return tok_buf_put(&w->text, s, len);
}

/* ---- character classes ---- */

enum cls { C_LETTER, C_NUMBER, C_SPACE, C_OTHER };

static enum cls classify(uint32_t c)
{
    if (uc_is_letter(c))
        return C_LETTER;
    if (uc_is_number(c))
        return C_NUMBER;
    if (uc_is_white_space(c))
        return C_SPACE;
    return C_OTHER;
}

/* Code point at s[i] (input is well-formed) and its length. */
static uint32_t cp_at(const char *s, size_t len, size_t i, size_t *n)
{
    uint32_t c = 0xFFFD;
    int k = i < len ? uc_decode(s + i, len - i, &c) : 0;
    *n = k ? (size_t)k : 1;
    return c;
}

/* End of the run of characters of class k starting at i (at most max characters; 0 = unbounded). */
static size_t run_of(const char *s, size_t len, size_t i, enum cls k, int max)
{
    int count = 0;
    while (i < len && (!max || count < max)) {
        size_t n;
        if (classify(cp_at(s, len, i, &n)) != k)
            break;
        i += n;
        count++;
    }
    return i;
}

static int lower_ascii(char c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's 't 're 've 'm 'll 'd (any case when fold): the end of the match, or 0. Case-insensitive matching in the regex
 * engines folds 's' with U+017F LATIN SMALL LETTER LONG S too. */
static size_t contraction(const char *s, size_t len, size_t i, int fold)
{
    if (s[i] != '\'' || i + 1 >= len)
        return 0;
    if (fold && i + 2 < len && (unsigned char)s[i + 1] == 0xC5 && (unsigned char)s[i + 2] == 0xBF)
        return i + 3;
    char a = fold ? (char)lower_ascii(s[i + 1]) : s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return i + 2;
    if (i + 2 >= len)
        return 0;
    char b = fold ? (char)lower_ascii(s[i + 2]) : s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return i + 3;
    return 0;
}

/* \s+(?!\S)|\s+ at i (a white space character): the whole run if it ends the text, else the run less its last character
 * (which must stay to start the next word), else a single character. */
static size_t spaces(const char *s, size_t len, size_t i)
{
    size_t end = run_of(s, len, i, C_SPACE, 0);
    if (end == len)
        return end;
    size_t last = end, n;
    do {
        last--;
    } while (last > i && ((unsigned char)s[last] & 0xC0) == 0x80);
    (void)cp_at(s, len, last, &n);
    return last > i ? last : end;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t scan_gpt2(const char *s, size_t len, size_t i)
{
    size_t e = contraction(s, len, i, 0), n;
    if (e)
        return e;
    size_t j = s[i] == ' ' && i + 1 < len ? i + 1 : i;
    enum cls k = classify(cp_at(s, len, j, &n));
    if (k == C_LETTER || k == C_NUMBER)
        return run_of(s, len, j, k, 0);
    if (k == C_OTHER)
        return run_of(s, len, j, C_OTHER, 0);
    return spaces(s, len, i);
}

/* Llama-3 (digits = 3) and Qwen2 (digits = 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t scan_llama3(const char *s, size_t len, size_t i, int digits)
{
    size_t e = contraction(s, len, i, 1), n, n2;
    if (e)
        return e;
    uint32_t c = cp_at(s, len, i, &n);
    enum cls k = classify(c);
    if (k == C_LETTER)
        return run_of(s, len, i, C_LETTER, 0);
    if (k != C_NUMBER && c != '\r' && c != '\n' && i + n < len && classify(cp_at(s, len, i + n, &n2)) == C_LETTER)
        return run_of(s, len, i + n, C_LETTER, 0);
    if (k == C_NUMBER)
        return run_of(s, len, i, C_NUMBER, digits);
    size_t j = c == ' ' && i + 1 < len ? i + 1 : i;
    if (classify(cp_at(s, len, j, &n2)) == C_OTHER) {
        e = run_of(s, len, j, C_OTHER, 0);
        while (e < len && (s[e] == '\r' || s[e] == '\n'))
            e++;
        return e;
    }
    /* white space: \s*[\r\n]+ ends after the last \r or \n of the run */
    size_t end = run_of(s, len, i, C_SPACE, 0), last_nl = 0;
    for (size_t p = i; p < end; p++)
        if (s[p] == '\r' || s[p] == '\n')
            last_nl = p + 1;
    if (last_nl)
        return last_nl;
    return spaces(s, len, i);
}

static size_t scan(enum tok_pattern pat, const char *s, size_t len, size_t i)
{
    switch (pat) {
    case TOK_PAT_GPT2: return scan_gpt2(s, len, i);
    case TOK_PAT_LLAMA3: return scan_llama3(s, len, i, 3);
    case TOK_PAT_QWEN2: return scan_llama3(s, len, i, 1);
    }
    return len;
}

/* ---- splitting with a behaviour ---- */

/* Spans of a word: matches of the splitter and the gaps between them. */
typedef struct span {
    size_t a, b;
    int match;
} span;

typedef struct spans {
    span *p;
    int n, cap;
} spans;

static int spans_add(spans *v, size_t a, size_t b, int match)
{
    if (a == b)
        return 0;
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 32;
        span *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (span){a, b, match};
    return 0;
}

/* Emits the pieces of one word per the HF split behaviour: a match is dropped (Removed), kept alone (Isolated), joined to
 * the piece before or after it when that piece is not itself a match (MergedWithPrevious/Next), or joined with the
 * matches next to it (Contiguous) — the rules of the Hugging Face library. */
static int emit_spans(const char *s, const spans *v, enum tok_split behavior, int invert, tok_words *out)
{
    size_t carry = 0;
    int carrying = 0;
    for (int i = 0; i < v->n; i++) {
        span sp = v->p[i];
        int m = invert ? !sp.match : sp.match;
        int prev_m = i > 0 && (invert ? !v->p[i - 1].match : v->p[i - 1].match);
        int next_m = i + 1 < v->n && (invert ? !v->p[i + 1].match : v->p[i + 1].match);
        int extend = 0;
        switch (behavior) {
        case TOK_SPLIT_REMOVED:
            if (m)
                continue;
            break;
        case TOK_SPLIT_ISOLATED:
            break;
        case TOK_SPLIT_MERGED_PREV:
            extend = m && i > 0 && !prev_m;
            break;
        case TOK_SPLIT_MERGED_NEXT:
            if (m && i + 1 < v->n && !next_m) {
                carry = sp.a;
                carrying = 1;
                continue;
            }
            break;
        case TOK_SPLIT_CONTIGUOUS:
            extend = i > 0 && m == prev_m;
            break;
        }
        size_t a = carrying ? carry : sp.a;
        carrying = 0;
        if (extend) {
            out->len[out->n - 1] += sp.b - a;
            if (tok_buf_put(&out->text, s + a, sp.b - a))
                return -1;
        } else if (words_add(out, s + a, sp.b - a)) {
            return -1;
        }
    }
    return 0;
}

/* Character predicates for the per-character splitters. */
static int bert_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return 1;
    return c >= 0x80 && uc_is_punct(c);
}

static int word_char(uint32_t c)
{
    if (c == '_' || uc_is_letter(c) || uc_is_number(c))
        return 1;
    return c >= 0x80 && (uc_is_mark(c) || uc_category(c) == UC_Pc);
}

int tok_is_bert_punct(uint32_t c)
{
    return bert_punct(c);
}

/* Spans of one word for a step. */
static int split_word(const tok_pre_step *st, const char *s, size_t len, spans *v)
{
    v->n = 0;
    size_t i = 0, n;
    if (st->type == TOK_PRE_SPLIT && st->a) {   /* literal pattern */
        size_t gap = 0;
        while (i < len) {
            if (st->alen && len - i >= st->alen && !memcmp(s + i, st->a, st->alen)) {
                if (spans_add(v, gap, i, 0) || spans_add(v, i, i + st->alen, 1))
                    return -1;
                i += st->alen;
                gap = i;
            } else {
                i++;
            }
        }
        return spans_add(v, gap, len, 0);
    }
    while (i < len) {
        uint32_t c = cp_at(s, len, i, &n);
        size_t e = i + n;
        int match = 0;
        switch (st->type) {
        case TOK_PRE_SPLIT:
        case TOK_PRE_BYTELEVEL:
            e = scan(st->type == TOK_PRE_SPLIT ? st->pattern : TOK_PAT_GPT2, s, len, i);
            match = 1;
            break;
        case TOK_PRE_BERT:
            match = tok_bert_space(c) ? 2 : bert_punct(c) ? 1 : 0;
            if (!match)
                while (e < len && (c = cp_at(s, len, e, &n), !tok_bert_space(c) && !bert_punct(c)))
                    e += n;
            break;
        case TOK_PRE_WHITESPACE:
            match = uc_is_white_space(c) ? 2 : 1;
            for (int w = word_char(c); e < len; e += n) {
                c = cp_at(s, len, e, &n);
                if (uc_is_white_space(c) || word_char(c) != w || match == 2)
                    break;
            }
            break;
        case TOK_PRE_WHITESPACE_SPLIT:
            match = uc_is_white_space(c) ? 2 : 0;
            while (!match && e < len && !uc_is_white_space(cp_at(s, len, e, &n)))
                e += n;
            break;
        case TOK_PRE_DIGITS:
            match = uc_is_number(c) && c < 0x80 ? 1 : 0;   /* HF Digits uses is_ascii_digit */
            if (!(match && st->flags & 1))
                while (e < len && ((c = cp_at(s, len, e, &n)) >= '0' && c <= '9') == match)
                    e += n;
            break;
        case TOK_PRE_PUNCT:
            match = bert_punct(c);
            if (!match)
                while (e < len && !bert_punct(cp_at(s, len, e, &n)))
                    e += n;
            break;
        case TOK_PRE_METASPACE:
            break;
        }
        /* match 2 = white space, which these splitters drop */
        if (match == 2) {
            i = e;
            continue;
        }
        if (spans_add(v, i, e, match))
            return -1;
        i = e;
    }
    return 0;
}

static enum tok_split step_behavior(const tok_pre_step *st)
{
    switch (st->type) {
    case TOK_PRE_SPLIT:
    case TOK_PRE_PUNCT: return st->behavior;
    default: return TOK_SPLIT_ISOLATED;
    }
}

/* GPT-2's byte ↔ unicode map: printable Latin-1 bytes stand for themselves, the others for U+0100 upwards in order. */
uint32_t tok_byte_char(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return b;
    if (b <= 32)
        return 256 + b;
    if (b <= 160)
        return 256 + 33 + (b - 127);
    return 256 + 67;   /* 173 */
}

int tok_char_byte(uint32_t c)
{
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))
        return (int)c;
    if (c >= 256 && c <= 288)
        return (int)(c - 256);
    if (c >= 289 && c <= 322)
        return (int)(c - 289 + 127);
    if (c == 323)
        return 173;
    return -1;
}

static int byte_map(const char *s, size_t len, tok_words *out)
{
    tok_buf b = {0};
    for (size_t i = 0; i < len; i++) {
        char u[4];
        if (tok_buf_put(&b, u, (size_t)uc_encode(tok_byte_char((unsigned char)s[i]), u))) {
            free(b.p);
            return -1;
        }
    }
    int rc = words_add(out, b.p ? b.p : "", b.len);
    free(b.p);
    return rc;
}

static int metaspace(const tok_pre_step *st, const char *s, size_t len, int first, tok_words *out)
{
    tok_buf b = {0};
    int rc = 0;
    int prepend = (st->flags & TOK_META_ALWAYS) || ((st->flags & TOK_META_FIRST) && first);
    if (prepend && !(len >= st->alen && !memcmp(s, st->a, st->alen)) && !(len && s[0] == ' '))
        rc = tok_buf_put(&b, st->a, st->alen);
    for (size_t i = 0; i < len && !rc; i++)
        rc = s[i] == ' ' ? tok_buf_put(&b, st->a, st->alen) : tok_buf_putc(&b, s[i]);
    if (!rc) {
        if (st->flags & TOK_META_SPLIT) {
            tok_pre_step lit = {.type = TOK_PRE_SPLIT, .a = st->a, .alen = st->alen, .behavior = TOK_SPLIT_MERGED_NEXT};
            spans v = {0};
            rc = split_word(&lit, b.p ? b.p : "", b.len, &v) || emit_spans(b.p, &v, TOK_SPLIT_MERGED_NEXT, 0, out);
            free(v.p);
        } else {
            rc = words_add(out, b.p ? b.p : "", b.len);
        }
    }
    free(b.p);
    return rc ? -1 : 0;
}

static int run_step(const tok_pre_step *st, const tok_words *in, int first, tok_words *out)
{
    spans v = {0};
    int rc = 0;
    for (int w = 0; w < in->n && !rc; w++) {
        const char *s = in->text.p + in->off[w];
        size_t len = in->len[w];
        if (st->type == TOK_PRE_METASPACE) {
            rc = metaspace(st, s, len, first && w == 0, out);
            continue;
        }
        tok_buf pre = {0};
        if (st->type == TOK_PRE_BYTELEVEL && st->flags & 1 && s[0] != ' ') {
            if (tok_buf_putc(&pre, ' ') || tok_buf_put(&pre, s, len)) {
                rc = -1;
                free(pre.p);
                break;
            }
            s = pre.p;
            len = pre.len;
        }
        if (st->type == TOK_PRE_BYTELEVEL && !(st->flags & 2)) {
            rc = byte_map(s, len, out);
        } else if (st->type == TOK_PRE_BYTELEVEL) {
            rc = split_word(st, s, len, &v);
            for (int k = 0; k < v.n && !rc; k++)
                rc = byte_map(s + v.p[k].a, v.p[k].b - v.p[k].a, out);
        } else {
            rc = split_word(st, s, len, &v) || emit_spans(s, &v, step_behavior(st), st->invert, out);
        }
        free(pre.p);
    }
    free(v.p);
    return rc ? -1 : 0;
}

int tok_pretokenize(const tokenizer *t, const char *s, size_t len, int first, tok_words *out)
{
    tok_words cur = {0}, next = {0};
    int rc = words_add(&cur, s, len);
    for (int i = 0; i < t->npre && !rc; i++) {
        tok_words_free(&next);
        rc = run_step(&t->pre[i], &cur, first, &next);
        tok_words tmp = cur;
        cur = next;
        next = tmp;
    }
    tok_words_free(&next);
    if (rc) {
        tok_words_free(&cur);
        return TOK_ERR_NOMEM;
    }
    tok_words_free(out);
    *out = cur;
    return 0;
}
