/* fuzz_tok_common.h — what the tokenizer fuzz targets do with a tokenizer that loaded: encode a few fixed texts and the
 * input itself, decode the ids back, so the whole pipeline runs on whatever the fuzzer built. */
#ifndef BBT_TESTS_FUZZ_TOK_COMMON_H
#define BBT_TESTS_FUZZ_TOK_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"

static void exercise(tokenizer *t, const uint8_t *data, size_t size)
{
    char err[256];
    if (tok_finalize(t, err, sizeof err))
        return;
    const char *texts[] = {"Hello world! It's 12345 <s> <mask> [CLS] naïve 中文 😀", "", " ", "a\tb\n\nc  "};
    int ids[512];
    char out[4096];
    for (size_t i = 0; i < sizeof texts / sizeof *texts + 1; i++) {
        const char *s = i < sizeof texts / sizeof *texts ? texts[i] : (const char *)data;
        size_t len = i < sizeof texts / sizeof *texts ? strlen(s) : (size > 256 ? 256 : size);
        for (int flags = 0; flags <= TOK_ADD_SPECIAL; flags += TOK_ADD_SPECIAL) {
            int n = tokenizer_encode(t, s, len, flags, ids, 512);
            if (n > 512)
                n = 512;
            if (n > 0) {
                tokenizer_decode(t, ids, n, out, sizeof out);
                for (int k = 0; k < n; k++)
                    tokenizer_decode_token(t, k ? ids[k - 1] : -1, ids[k], out, sizeof out);
            }
        }
    }
    tokenizer_vocab_size(t);
    tokenizer_get_specials(t);
    tokenizer_piece_id(t, "<s>");
}

#endif
