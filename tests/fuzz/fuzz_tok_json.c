/* fuzz_tok_json.c — libFuzzer target: the tokenizer.json parser, then the pipeline it describes. */
#include "tests/fuzz/fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tokenizer *t = tok_new("fuzz.json");
    if (!t)
        return 0;
    char err[512];
    if (!tok_parse_hf_json(t, "fuzz.json", (const char *)data, size, err, sizeof err))
        exercise(t, data, size);
    tokenizer_free(t);
    return 0;
}
