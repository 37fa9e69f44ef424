/* test_byte_level.c — a byte-level BPE tokenizer.json (Llama-3 split, ignore_merges, RobertaProcessing, added tokens
 * with lstrip and single_word), and Unicode normalisers, on hand-made files with hand-worked ids. */
#include <stdio.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/unicode.h"
#include "tests/tokenizer/tok_test_util.h"

static const char *LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}"
                            "\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";

/* vocab: the 256 byte characters (id = byte), then he ll hell hello Ġw or Ġwor ld Ġworld (256..264), specials
 * <s> </s> <mask> <|x|> (265..268) and Ġhello (269), reachable only as a whole word (ignore_merges). */
static const char *write_byte_bpe(void)
{
    const char *path = tmp_path("bytelevel.json");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"added_tokens\":[{\"id\":265,\"content\":\"<s>\",\"special\":true},"
               "{\"id\":266,\"content\":\"</s>\",\"special\":true},"
               "{\"id\":267,\"content\":\"<mask>\",\"special\":true,\"lstrip\":true},"
               "{\"id\":268,\"content\":\"<|x|>\",\"special\":true,\"single_word\":true}],"
               "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
               "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\",\"invert\":false},"
               "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
               "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",266],\"cls\":[\"<s>\",265]},"
               "\"decoder\":{\"type\":\"ByteLevel\"},"
               "\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{",
            LLAMA3);
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        int n = uc_encode(tok_byte_char(b), u);
        if (b == '"' || b == '\\')
            fprintf(f, "\"\\%c\":%u,", b, b);
        else
            fprintf(f, "\"%.*s\":%u,", n, u, b);
    }
    fprintf(f, "\"he\":256,\"ll\":257,\"hell\":258,\"hello\":259,\"Ġw\":260,\"or\":261,\"Ġwor\":262,\"ld\":263,"
               "\"Ġworld\":264,\"<s>\":265,\"</s>\":266,\"<mask>\":267,\"<|x|>\":268,\"Ġhello\":269},"
               "\"merges\":[[\"h\",\"e\"],[\"l\",\"l\"],[\"he\",\"ll\"],[\"hell\",\"o\"],[\"Ġ\",\"w\"],[\"o\",\"r\"],"
               "[\"Ġw\",\"or\"],[\"l\",\"d\"],[\"Ġwor\",\"ld\"]]}}");
    fclose(f);
    return path;
}

Test(byte_level, llama3_split_merges_and_template)
{
    const char *p = write_byte_bpe();
    tokenizer *t = open_or_fail(p);
    cr_expect_str_eq(tokenizer_kind(t), "byte-bpe");
    const tokenizer_specials *s = tokenizer_get_specials(t);
    cr_expect_eq(s->cls, 265);
    cr_expect_eq(s->sep, 266);
    cr_expect_eq(s->mask, 267);
    expect_ids(t, "hello world", 0, "259 264");
    expect_ids(t, "hello world", TOK_ADD_SPECIAL, "265 259 264 266");
    /* " hello" is the word "Ġhello", which is in the vocabulary: ignore_merges takes it whole */
    expect_ids(t, "say hello", 0, "115 97 121 269");
    /* <mask> swallows the space on its left (lstrip) */
    expect_ids(t, "hello <mask>", 0, "259 267");
    /* <|x|> is single_word: not matched inside a word, matched between spaces */
    expect_ids(t, "a<|x|>b", 0, "97 60 124 120 124 62 98");
    expect_ids(t, " <|x|> ", 0, "32 268 32");
    /* bytes of a character with no merges: é = C3 A9 */
    expect_ids(t, "é", 0, "195 169");
    int n, *ids = encode_str(t, "hello world é<mask>", TOK_ADD_SPECIAL, &n);
    char out[256];
    cr_assert_geq(tokenizer_decode(t, ids, n, out, sizeof out), 0);
    cr_expect_str_eq(out, "hello world é", "specials are skipped, bytes come back");
    free(ids);
    char piece[32];
    cr_expect_eq(tokenizer_decode_token(t, 259, 264, piece, sizeof piece), 6);
    cr_expect_str_eq(piece, " world");
    cr_expect_eq(tokenizer_piece_id(t, "Ġworld"), 264);
    cr_expect_eq(tokenizer_piece_id(t, "<mask>"), 267);
    tokenizer_free(t);
    remove(p);
}

static tokenizer *wordpiece_with(const char *normalizer, const char *vocab)
{
    const char *path = tmp_path("wp.json");
    char json[4096];
    snprintf(json, sizeof json, "{\"normalizer\":%s,\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
             "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,%s}}}", normalizer, vocab);
    write_str(path, json);
    tokenizer *t = open_or_fail(path);
    remove(path);
    return t;
}

Test(normalizers, nfd_lowercase_strip_accents)
{
    tokenizer *t = wordpiece_with("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"Lowercase\"},"
                                  "{\"type\":\"StripAccents\"}]}", "\"resume\":1,\"cafe\":2,\"##s\":3,\"σας\":4");
    cr_expect_str_eq(tokenizer_kind(t), "wordpiece");
    expect_ids(t, "Résumé CAFÉS", 0, "1 2 3");
    expect_ids(t, "resume's", 0, "0");   /* no cover: the unknown token */
    tokenizer_free(t);
}

Test(normalizers, final_sigma)
{
    tokenizer *t = wordpiece_with("{\"type\":\"Lowercase\"}", "\"σας\":1,\"σ\":2,\"ας\":3,\"'σας'\":4");
    expect_ids(t, "ΣΑΣ", 0, "1");
    expect_ids(t, "Σ", 0, "2"); /* a lone Σ has no cased letter before it */
    expect_ids(t, "ΑΣ", 0, "3");
    expect_ids(t, "'ΣΑΣ'", 0, "4"); /* the apostrophe is case-ignorable */
    tokenizer_free(t);
}

Test(normalizers, nfc_composes_and_reorders)
{
    /* e + U+0301 composes to é; a + U+0323 (below, class 220) + U+0302 (above, 230) is ordered then composes to ậ;
     * Hangul jamo compose algorithmically */
    tokenizer *t = wordpiece_with("{\"type\":\"NFC\"}", "\"é\":1,\"ậ\":2,\"한\":3");
    expect_ids(t, "e\xcc\x81", 0, "1");
    expect_ids(t, "a\xcc\x82\xcc\xa3", 0, "2");
    expect_ids(t, "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", 0, "3");
    tokenizer_free(t);
    t = wordpiece_with("{\"type\":\"NFD\"}", "\"e\":1,\"##\xcc\x81\":2");
    expect_ids(t, "é", 0, "1 2");
    tokenizer_free(t);
}
