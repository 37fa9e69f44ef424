/* test_hf_json.c — tokenizer.json pipelines on small hand-made files whose ids are worked out by hand below:
 * Llama-2 style sentencepiece BPE with byte fallback, Metaspace, byte-level BPE with the Llama-3 split and
 * ignore_merges, added tokens (lstrip, single_word), templates, and Unicode normalisers. */
#include <stdio.h>
#include <unistd.h>

#include "tests/tokenizer/tok_test_util.h"

/* Writes a tokenizer.json whose vocab holds <unk> <s> </s>, the 256 byte pieces (ids 3..258), then extra pieces from
 * id 259, and the given merges / normalizer / pre_tokenizer / decoder. Returns the path. */
static const char *write_spm(const char *name, const char *extra_vocab, const char *merges, const char *normalizer,
                             const char *pre, const char *decoder, int byte_fallback)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/bbt_tok_test_%d_%s.json", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
               "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
               "\"normalizer\":%s,\"pre_tokenizer\":%s,"
               "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
               "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
               "\"ids\":[1],\"tokens\":[\"<s>\"]}}},\"decoder\":%s,"
               "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":%s,"
               "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2",
            normalizer, pre, decoder, byte_fallback ? "true" : "false");
    for (int b = 0; b < 256; b++)
        fprintf(f, ",\"<0x%02X>\":%d", b, b + 3);
    fprintf(f, ",%s},\"merges\":[%s]}}", extra_vocab, merges);
    fclose(f);
    return path;
}

#define SPM_VOCAB "\"▁\":259,\"h\":260,\"e\":261,\"l\":262,\"o\":263,\"w\":264,\"r\":265,\"d\":266,\"ll\":267," \
                  "\"▁h\":268,\"▁he\":269,\"▁hell\":270,\"▁hello\":271,\"▁w\":272,\"or\":273,\"▁wor\":274"
#define SPM_MERGES "\"l l\",\"▁ h\",\"▁h e\",\"▁he ll\",\"▁hell o\",\"▁ w\",\"o r\",\"▁w or\""
#define LLAMA2_NORM "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"▁\"}," \
                    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}]}"
#define LLAMA2_DEC "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"▁\"}," \
                   "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\"," \
                   "\"content\":\" \",\"start\":1,\"stop\":0}]}"

static void expect_decode(const tokenizer *t, const char *text, const char *want)
{
    int n, *ids = encode_str(t, text, TOK_ADD_SPECIAL, &n);
    char out[4096];
    cr_assert_geq(tokenizer_decode(t, ids, n, out, sizeof out), 0);
    cr_expect_str_eq(out, want);
    free(ids);
}

Test(hf_json, llama2_style_bpe_with_byte_fallback)
{
    const char *p = write_spm("llama2", SPM_VOCAB, SPM_MERGES, LLAMA2_NORM, "null", LLAMA2_DEC, 1);
    tokenizer *t = open_or_fail(p);
    cr_expect_str_eq(tokenizer_kind(t), "spm-bpe");
    cr_expect_eq(tokenizer_get_specials(t)->bos, 1);
    cr_expect_eq(tokenizer_get_specials(t)->unk, 0);
    /* "▁hello▁world": ll, ▁h, ▁he, ▁hell, ▁hello, ▁w, or, ▁wor by rank → ▁hello ▁wor l d */
    expect_ids(t, "hello world", TOK_ADD_SPECIAL, "1 271 274 262 266");
    expect_ids(t, "hello world", 0, "271 274 262 266");
    /* i and € are not pieces: their UTF-8 bytes (0x69; 0xE2 0x82 0xAC) become <0xNN> = byte + 3 */
    expect_ids(t, "hi€", 0, "268 108 229 133 175");
    /* added tokens are cut out first; each remaining span gets its own "▁" (as the HF library does) */
    expect_ids(t, "<s>hello", 0, "1 271");
    expect_ids(t, "hello</s>", 0, "271 2");
    expect_decode(t, "hello world", "hello world");
    expect_decode(t, "hi€ world", "hi€ world");
    cr_expect_eq(tokenizer_piece_id(t, "▁hello"), 271);
    tokenizer_free(t);
    remove(p);
}

Test(hf_json, metaspace_pretokenizer)
{
    const char *meta = "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":true}";
    const char *dec = "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":true}";
    const char *p = write_spm("meta", SPM_VOCAB, SPM_MERGES, "null", meta, dec, 1);
    tokenizer *t = open_or_fail(p);
    /* split into "▁hello" and "▁world"; merges stay inside each word */
    expect_ids(t, "hello world", 0, "271 274 262 266");
    /* prepend_scheme first: the span after an added token gets no ▁ (h e l l o → h e ll o) */
    expect_ids(t, "<s>hello", 0, "1 260 261 267 263");
    expect_decode(t, "hello world", "hello world");
    tokenizer_free(t);
    remove(p);
}

Test(hf_json, fuse_unk_without_byte_fallback)
{
    /* byte_fallback off: consecutive unknown characters fuse into one <unk> */
    const char *p = write_spm("unk", SPM_VOCAB, SPM_MERGES, LLAMA2_NORM, "null", LLAMA2_DEC, 0);
    tokenizer *t = open_or_fail(p);
    expect_ids(t, "hxyz", 0, "268 0");
    tokenizer_free(t);
    remove(p);
}
