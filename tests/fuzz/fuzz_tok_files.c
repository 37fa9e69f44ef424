/* fuzz_tok_files.c — libFuzzer target: the plain tokenizer files. The first byte picks the format: 0 vocab.json and
 * merges.txt (separated by the first NUL byte), 1 WordPiece vocab.txt, 2 llama2.c tokenizer.bin; the rest is the file. */
#include "tests/fuzz/fuzz_tok_common.h"

static int load(tokenizer *t, int format, const char *data, size_t size, char *err, size_t errlen)
{
    if (format == 1)
        return tok_parse_vocab_txt(t, "vocab.txt", data, size, err, errlen);
    if (format == 2)
        return tok_parse_llama2c(t, "tokenizer.bin", data, size, err, errlen);
    const char *nul = memchr(data, '\0', size);
    size_t vlen = nul ? (size_t)(nul - data) : size;
    size_t mlen = nul ? size - vlen - 1 : 0;
    char *merges = malloc(mlen + 1);   /* the merges parser cuts lines in place and needs a byte after the data */
    if (!merges)
        return -1;
    if (mlen)
        memcpy(merges, nul + 1, mlen);
    merges[mlen] = '\0';
    int rc = tok_setup_byte_bpe(t, "vocab.json", err, errlen);
    if (!rc)
        rc = tok_parse_vocab_json(t, "vocab.json", data, vlen, err, errlen);
    if (!rc)
        rc = tok_parse_merges_txt(t, "merges.txt", merges, mlen, err, errlen);
    if (!rc)
        rc = tok_finish_byte_bpe(t, "vocab.json", err, errlen);
    free(merges);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    tokenizer *t = tok_new("fuzz");
    if (!t)
        return 0;
    char err[512];
    if (!load(t, data[0] % 3, (const char *)data + 1, size - 1, err, sizeof err))
        exercise(t, data + 1, size - 1);
    tokenizer_free(t);
    return 0;
}
