/* tok_llama2c.c — llama2.c's tokenizer.bin: loader and its sentencepiece-style BPE.
 *
 * File: int32 max_token_length, then per piece: float32 score, int32 length, the bytes. Ids 0 <unk>, 1 <s>, 2 </s>;
 * 3..258 are the byte pieces <0x00>..<0xFF>; the rest are merged pieces whose score ranks the merges (higher first).
 * Pieces mark a word start with a real space (" the"), not "▁". The vocabulary size is not in the file: it is the number
 * of records up to the end of the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/unicode.h"

static int32_t read_i32(const char *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int parse_pieces(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    if (len < 4)
        return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: truncated: %zu bytes, no header", path, len);
    int32_t max_len = read_i32(data);
    if (max_len <= 0 || max_len > 1 << 16)
        return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: max_token_length %d is not a positive size", path,
                        (int)max_len);
    size_t off = 4;
    int n = 0;
    size_t scores_cap = 0;
    while (off < len) {
        if (len - off < 8)
            return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: truncated: piece %d header at byte %zu needs 8 bytes, %zu left",
                            path, n, off, len - off);
        float score;
        memcpy(&score, data + off, 4);
        int32_t plen = read_i32(data + off + 4);
        off += 8;
        if (plen < 0 || plen > max_len)
            return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: piece %d has length %d (max_token_length is %d)", path,
                            n, (int)plen, (int)max_len);
        if ((size_t)plen > len - off)
            return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: truncated: piece %d needs %d bytes at byte %zu, %zu left",
                            path, n, (int)plen, off, len - off);
        if ((size_t)n == scores_cap) {
            scores_cap = scores_cap ? scores_cap * 2 : 1024;
            float *s = realloc(t->scores, scores_cap * sizeof *s);
            if (!s)
                return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
            t->scores = s;
        }
        t->scores[n] = score;
        if (tok_vocab_set(&t->vocab, n, data + off, (size_t)plen) < 0)
            return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
        off += (size_t)plen;
        n++;
    }
    if (n < 3)
        return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: only %d pieces; <unk>, <s> and </s> are needed", path, n);
    return 0;
}

int tok_load_llama2c(tokenizer *t, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    int rc = tok_read_file(path, &data, &len, err, errlen);
    if (rc)
        return rc;
    rc = tok_parse_llama2c(t, path, data, len, err, errlen);
    free(data);
    return rc;
}

int tok_parse_llama2c(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    int rc = parse_pieces(t, path, data, len, err, errlen);
    if (rc)
        return rc;
    t->model = TOK_MODEL_LLAMA2C;
    t->kind = "llama2c";
    t->specials = (tokenizer_specials){.bos = 1, .eos = 2, .pad = -1, .unk = 0, .mask = -1, .cls = -1, .sep = -1};
    t->space_id = tok_vocab_find(&t->vocab, " ", 1);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tok_vocab_find(&t->vocab, name, 6);
    }
    static int bos_template[] = {1, TOK_TMPL_TEXT};
    t->tmpl = malloc(sizeof bos_template);
    if (!t->tmpl)
        return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
    memcpy(t->tmpl, bos_template, sizeof bos_template);
    t->ntmpl = 2;
    t->decode_flags = TOK_DEC_BYTE_PIECES;
    return 0;
}

/* Merge candidates: the concatenation of the two pieces, if it is a piece; the better its score, the earlier. */
static int llama2c_pair(const void *ctx, int a, int b, int *merged, double *priority)
{
    const tokenizer *t = ctx;
    size_t la, lb;
    const char *pa = tok_vocab_piece(&t->vocab, a, &la), *pb = tok_vocab_piece(&t->vocab, b, &lb);
    if (!pa || !pb)
        return 0;
    char stack[256];
    char *cat = la + lb <= sizeof stack ? stack : malloc(la + lb);
    if (!cat)
        return 0;
    memcpy(cat, pa, la);
    memcpy(cat + la, pb, lb);
    int id = tok_vocab_find(&t->vocab, cat, la + lb);
    if (cat != stack)
        free(cat);
    if (id < 0)
        return 0;
    *merged = id;
    *priority = -(double)t->scores[id];
    return 1;
}

/* One span of text: the dummy prefix " ", the code points (or their byte pieces), then the merges. As in llama2.c the
 * specials <s>/</s> never take part in merges (their pieces "\n<s>\n" would not combine with text anyway). */
int tok_llama2c_encode(const tokenizer *t, const char *text, size_t len, tok_ids *out, tok_merge_scratch *ms)
{
    if (!len)
        return 0;
    int start = out->len;
    if (t->space_id >= 0 && tok_ids_push(out, t->space_id))
        return TOK_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = uc_decode(text + i, len - i, &cp);
        if (!n)
            return tok_fail(t, TOK_ERR_UTF8, "invalid UTF-8 at byte %zu", i);
        int id = tok_vocab_find(&t->vocab, text + i, (size_t)n);
        if (id >= 0) {
            if (tok_ids_push(out, id))
                return TOK_ERR_NOMEM;
        } else {
            for (int k = 0; k < n; k++) {
                int b = t->byte_ids[(unsigned char)text[i + k]];
                if (b < 0)
                    b = t->specials.unk;
                if (tok_ids_push(out, b))
                    return TOK_ERR_NOMEM;
            }
        }
        i += (size_t)n;
    }
    int m = tok_merge(ms, out->p + start, out->len - start, llama2c_pair, t);
    if (m < 0)
        return TOK_ERR_NOMEM;
    out->len = start + m;
    return 0;
}
