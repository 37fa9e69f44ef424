/* tok_bpe.c — the BPE model of Hugging Face tokenizers (also GPT-2's vocab.json + merges.txt): one word → ids.
 *
 * The word's characters start as symbols (with the continuing-subword prefix / end-of-word suffix when the vocabulary
 * uses them); a character missing from the vocabulary becomes its <0xNN> byte pieces (byte_fallback) or the unknown
 * token (fused with a neighbouring unknown when fuse_unk); then merges apply by rank (tok_merge.c).
 */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_pairmap.h"
#include "models/tokenizer/unicode.h"

static int rank_pair(const void *ctx, int a, int b, int *merged, double *priority)
{
    const tokenizer *t = ctx;
    int r = tok_pairmap_get(t->merges, a, b, merged);
    if (r < 0)
        return 0;
    *priority = r;
    return 1;
}

/* Id of one initial symbol: the character, dressed with prefix/suffix as its position asks. */
static int symbol_id(const tokenizer *t, const char *c, size_t n, int first, int last, tok_buf *scratch)
{
    const char *pre = !first && t->subword_prefix ? t->subword_prefix : "";
    const char *suf = last && t->word_suffix ? t->word_suffix : "";
    if (!*pre && !*suf)
        return tok_vocab_find(&t->vocab, c, n);
    scratch->len = 0;
    if (tok_buf_put(scratch, pre, strlen(pre)) || tok_buf_put(scratch, c, n) || tok_buf_put(scratch, suf, strlen(suf)))
        return -2;
    return tok_vocab_find(&t->vocab, scratch->p, scratch->len);
}

static int push_unknown(const tokenizer *t, const char *c, size_t n, int start, tok_ids *out)
{
    if (t->byte_fallback) {
        int ok = 1;
        for (size_t k = 0; k < n; k++)
            ok &= t->byte_ids[(unsigned char)c[k]] >= 0;
        if (ok) {
            for (size_t k = 0; k < n; k++)
                if (tok_ids_push(out, t->byte_ids[(unsigned char)c[k]]))
                    return TOK_ERR_NOMEM;
            return 0;
        }
    }
    int unk = t->specials.unk;
    if (unk < 0) {
        uint32_t cp = 0;
        uc_decode(c, n, &cp);
        return tok_fail(t, TOK_ERR_UNKNOWN, "%s: the character U+%04X is not in the vocabulary, which has no unknown "
                        "token", t->path, (unsigned)cp);
    }
    if (t->fuse_unk && out->len > start && out->p[out->len - 1] == unk)
        return 0;
    return tok_ids_push(out, unk) ? TOK_ERR_NOMEM : 0;
}

int tok_bpe_word(const tokenizer *t, const char *w, size_t len, tok_ids *out, tok_merge_scratch *ms)
{
    if (t->ignore_merges) {
        int id = tok_vocab_find(&t->vocab, w, len);
        if (id >= 0)
            return tok_ids_push(out, id) ? TOK_ERR_NOMEM : 0;
    }
    int start = out->len, rc = 0;
    tok_buf scratch = {0};
    for (size_t i = 0; i < len && !rc;) {
        uint32_t cp;
        int n = uc_decode(w + i, len - i, &cp);
        if (!n)
            n = 1;
        int id = symbol_id(t, w + i, (size_t)n, i == 0, i + (size_t)n == len, &scratch);
        if (id == -2)
            rc = TOK_ERR_NOMEM;
        else if (id >= 0)
            rc = tok_ids_push(out, id) ? TOK_ERR_NOMEM : 0;
        else
            rc = push_unknown(t, w + i, (size_t)n, start, out);
        i += (size_t)n;
    }
    free(scratch.p);
    if (rc)
        return rc;
    int m = tok_merge(ms, out->p + start, out->len - start, rank_pair, t);
    if (m < 0)
        return TOK_ERR_NOMEM;
    out->len = start + m;
    return 0;
}
