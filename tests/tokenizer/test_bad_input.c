/* test_bad_input.c — every malformed file or text gets a clear error naming the file and the problem, never a crash. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/tokenizer/tok_internal.h"
#include "tests/tokenizer/tok_test_util.h"

/* Opening path fails with code, and the message holds each of the given fragments. */
static void expect_open_error(const char *path, int code, const char *frag1, const char *frag2)
{
    tokenizer *t = NULL;
    char err[1024] = "";
    int rc = tokenizer_open(&t, path, err, sizeof err);
    cr_expect_eq(rc, code, "%s: code %d, want %d (%s)", path, rc, code, err);
    cr_expect_null(t);
    cr_expect(strstr(err, frag1) != NULL, "message \"%s\" lacks \"%s\"", err, frag1);
    if (frag2)
        cr_expect(strstr(err, frag2) != NULL, "message \"%s\" lacks \"%s\"", err, frag2);
    tokenizer_free(t);
}

Test(bad_input, missing_paths)
{
    expect_open_error("/nonexistent/tokenizer.json", TOK_ERR_IO, "/nonexistent/tokenizer.json", "no such file");
    expect_open_error("/tmp", TOK_ERR_IO, "/tmp", "no tokenizer file found");
}

Test(bad_input, truncated_llama2c_file)
{
    char *data;
    size_t len;
    char err[256];
    cr_assert_eq(tok_read_file(TOK512, &data, &len, err, sizeof err), 0);
    const char *p = tmp_path("trunc.bin");
    write_file(p, data, len - 3);   /* cuts the last piece's bytes */
    expect_open_error(p, TOK_ERR_FORMAT, p, "truncated");
    write_file(p, data, 4 + 8 * 1 + 5 + 4);   /* mid-way through a piece header */
    expect_open_error(p, TOK_ERR_FORMAT, p, "truncated");
    write_file(p, data, 2);
    expect_open_error(p, TOK_ERR_FORMAT, p, "no header");
    int32_t bad = -5;
    memcpy(data + 4 + 4, &bad, 4);   /* piece 0's length */
    write_file(p, data, len);
    expect_open_error(p, TOK_ERR_FORMAT, p, "piece 0 has length -5");
    free(data);
    remove(p);
}

Test(bad_input, byte_bpe_files)
{
    const char *dir = tmp_path("bpe_dir");
    char vocab[512], merges[512];
    mkdir(dir, 0700);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    write_str(vocab, "{\"a\":0,\"b\":1,\"ab\":2}");
    expect_open_error(vocab, TOK_ERR_IO, "merges.txt", "does not exist");
    write_str(merges, "#version: 0.2\na b\na c\n");
    expect_open_error(dir, TOK_ERR_FORMAT, "merges.txt: line 3", "\"c\" is not in the vocabulary");
    write_str(merges, "a b\nb a\n");
    expect_open_error(merges, TOK_ERR_FORMAT, "line 2", "the merged piece \"ba\" is not in the vocabulary");
    write_str(merges, "a b c\n");
    expect_open_error(merges, TOK_ERR_FORMAT, "line 1", "is not a merge");
    write_str(merges, "a b\n");
    write_str(vocab, "{\"a\":0,\"b\":1,\"ab\":\"two\"}");
    expect_open_error(vocab, TOK_ERR_FORMAT, "vocab.json", "\"ab\": id is not an integer");
    write_str(vocab, "{\"a\":0,\"b\":1,\"ab\":1}");
    expect_open_error(vocab, TOK_ERR_FORMAT, "vocab.json", "id 1 is given to \"ab\" and to another token");
    write_str(vocab, "{\"a\":0,");
    expect_open_error(vocab, TOK_ERR_FORMAT, "vocab.json", "not valid JSON");
    remove(vocab);
    remove(merges);
    rmdir(dir);
}

Test(bad_input, tokenizer_json)
{
    const char *p = tmp_path("tokenizer.json");
    write_str(p, "{\"model\":{\"type\":\"Unigram\",\"vocab\":{\"a\":0}}}");
    expect_open_error(p, TOK_ERR_UNSUPPORTED, p, "Unigram");
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}");
    expect_open_error(p, TOK_ERR_FORMAT, "model.merges 0", "merged piece \"ab\"");
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\"]]}}");
    expect_open_error(p, TOK_ERR_FORMAT, "model.merges[0]", "neither");
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    expect_open_error(p, TOK_ERR_FORMAT, "unk_token \"<unk>\"", "not in model.vocab");
    write_str(p, "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"}},"
                 "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    expect_open_error(p, TOK_ERR_UNSUPPORTED, "Split pattern \\d+", "not supported");
    write_str(p, "{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    expect_open_error(p, TOK_ERR_UNSUPPORTED, "normalizer \"NFKC\"", "not supported");
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":"
                 "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}],\"special_tokens\":{}}}");
    expect_open_error(p, TOK_ERR_FORMAT, "\"<s>\"", "not defined in special_tokens");
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":"
                 "\"BertProcessing\",\"cls\":[\"[CLS]\",7],\"sep\":[\"[SEP]\",8]}}");
    expect_open_error(p, TOK_ERR_FORMAT, "special token id 7", "not in the vocabulary");
    write_str(p, "[1, 2");
    expect_open_error(p, TOK_ERR_FORMAT, p, "not valid JSON");
    write_str(p, "{}");
    expect_open_error(p, TOK_ERR_FORMAT, p, "\"model\" is missing");
    remove(p);
}

Test(bad_input, vocab_txt)
{
    const char *p = tmp_path("vocab.txt");
    write_str(p, "[PAD]\n[CLS]\n[SEP]\nhello\n");
    expect_open_error(p, TOK_ERR_FORMAT, p, "[UNK] is missing");
    write_str(p, "");
    expect_open_error(p, TOK_ERR_FORMAT, p, "empty");
    remove(p);
}

Test(bad_input, text_and_ids)
{
    tokenizer *t = open_or_fail(TOK512);
    int ids[64];
    cr_expect_eq(tokenizer_encode(t, "ab\xff" "cd", 5, 0, ids, 64), TOK_ERR_UTF8);
    cr_expect(strstr(tokenizer_errmsg(t), "byte 2 (0xFF)") != NULL, "%s", tokenizer_errmsg(t));
    cr_expect_eq(tokenizer_encode(t, "\xc3", 1, 0, ids, 64), TOK_ERR_UTF8, "a truncated sequence");
    cr_expect_eq(tokenizer_encode(t, "\xc0\xaf", 2, 0, ids, 64), TOK_ERR_UTF8, "an overlong form");
    cr_expect_eq(tokenizer_encode(t, "\xed\xa0\x80", 3, 0, ids, 64), TOK_ERR_UTF8, "a surrogate");
    cr_expect_eq(tokenizer_encode(t, NULL, 3, 0, ids, 64), TOK_ERR_ARG);
    cr_expect_eq(tokenizer_encode(t, "a", 1, 0, ids, -1), TOK_ERR_ARG);
    char buf[64];
    cr_expect_eq(tokenizer_decode(t, (int[]){403, 9999}, 2, buf, sizeof buf), TOK_ERR_ARG);
    cr_expect(strstr(tokenizer_errmsg(t), "token id 9999") != NULL, "%s", tokenizer_errmsg(t));
    tokenizer_free(t);
    cr_expect_str_eq(tokenizer_strerror(TOK_ERR_UTF8), "text is not valid UTF-8");
}

Test(bad_input, character_without_token)
{
    /* a BPE vocabulary without an unknown token or byte fallback cannot encode "z": an error, not a silent drop */
    const char *p = tmp_path("nounk.json");
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}");
    tokenizer *t = open_or_fail(p);
    int ids[8];
    cr_expect_eq(tokenizer_encode(t, "ab", 2, 0, ids, 8), 1);
    cr_expect_eq(ids[0], 2);
    cr_expect_eq(tokenizer_encode(t, "abz", 3, 0, ids, 8), TOK_ERR_UNKNOWN);
    cr_expect(strstr(tokenizer_errmsg(t), "U+007A") != NULL, "%s", tokenizer_errmsg(t));
    tokenizer_free(t);
    remove(p);
}
