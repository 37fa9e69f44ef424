/* tok_wordpiece.c — BERT's WordPiece model: one word → ids by greedy longest match, continuation pieces carrying the
 * "##" prefix; a word with no full cover, or longer than max_input_chars_per_word characters, is the unknown token. */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/unicode.h"

static size_t count_chars(const char *w, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)w[i] & 0xC0) != 0x80;
    return n;
}

/* Start of the code point that ends just before end. */
static size_t prev_boundary(const char *w, size_t start, size_t end)
{
    do {
        end--;
    } while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
    return end;
}

static int push_unk(const tokenizer *t, const char *w, size_t len, tok_ids *out)
{
    if (t->specials.unk < 0)
        return tok_fail(t, TOK_ERR_UNKNOWN, "%s: the word \"%.*s\" has no WordPiece cover and the vocabulary has no "
                        "unknown token", t->path, (int)(len > 64 ? 64 : len), w);
    return tok_ids_push(out, t->specials.unk) ? TOK_ERR_NOMEM : 0;
}

int tok_wordpiece_word(const tokenizer *t, const char *w, size_t len, tok_ids *out)
{
    if (count_chars(w, len) > (size_t)t->max_word_chars)
        return push_unk(t, w, len, out);
    const char *prefix = t->subword_prefix ? t->subword_prefix : "";
    size_t plen = strlen(prefix);
    tok_buf cand = {0};
    int start_len = out->len, rc = 0;
    for (size_t start = 0; start < len && !rc;) {
        int found = -1;
        size_t end = len;
        while (end > start) {
            cand.len = 0;
            if ((start && tok_buf_put(&cand, prefix, plen)) || tok_buf_put(&cand, w + start, end - start)) {
                rc = TOK_ERR_NOMEM;
                break;
            }
            found = tok_vocab_find(&t->vocab, cand.p, cand.len);
            if (found >= 0)
                break;
            end = prev_boundary(w, start, end);
        }
        if (rc)
            break;
        if (found < 0) {
            out->len = start_len;
            rc = push_unk(t, w, len, out);
            break;
        }
        rc = tok_ids_push(out, found) ? TOK_ERR_NOMEM : 0;
        start = end;
    }
    free(cand.p);
    return rc;
}
