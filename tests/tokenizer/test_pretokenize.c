/* test_pretokenize.c — the hand-written GPT-2 / Llama-3 / Qwen2 split scanners against Python's re engine running the
 * published patterns (tests/reference/tok_split_ref.py → tok_split_golden.txt). */
#include <cjson/cJSON.h>

#include "models/tokenizer/tok_internal.h"
#include "tests/tokenizer/tok_test_util.h"

/* "E E E" = the end offsets of the words of text under one pattern */
static void split_ends(enum tok_pattern pat, const char *text, char *out, size_t cap)
{
    tokenizer *t = tok_new("test");
    cr_assert_not_null(t);
    tok_pre_step step = {.type = TOK_PRE_SPLIT, .pattern = pat, .behavior = TOK_SPLIT_ISOLATED};
    t->pre = &step;
    t->npre = 1;
    tok_words w = {0};
    cr_assert_eq(tok_pretokenize(t, text, strlen(text), 1, &w), 0);
    size_t k = 0, end = 0;
    out[0] = '\0';
    for (int i = 0; i < w.n; i++) {
        end += w.len[i];
        k += (size_t)snprintf(out + k, cap - k, i ? " %zu" : "%zu", end);
    }
    tok_words_free(&w);
    t->pre = NULL;
    t->npre = 0;
    tokenizer_free(t);
}

Test(pretokenize, patterns_match_python_re)
{
    char **in, **gold;
    int nin = read_lines("tests/reference/tok_split_input.jsonl", &in);
    int ngold = read_lines("tests/reference/tok_split_golden.txt", &gold);
    cr_assert_eq(nin, ngold);
    cr_assert_gt(nin, 30);
    for (int i = 0; i < nin; i++) {
        cJSON *j = cJSON_Parse(in[i]);
        cr_assert(cJSON_IsString(j), "line %d is not a JSON string", i + 1);
        char got[4096], a[1300], b[1300], c[1300];
        split_ends(TOK_PAT_GPT2, j->valuestring, a, sizeof a);
        split_ends(TOK_PAT_LLAMA3, j->valuestring, b, sizeof b);
        split_ends(TOK_PAT_QWEN2, j->valuestring, c, sizeof c);
        snprintf(got, sizeof got, "gpt2:%s|llama3:%s|qwen2:%s", a, b, c);
        cr_expect_str_eq(got, gold[i], "input line %d: %s", i + 1, in[i]);
        cJSON_Delete(j);
    }
    free_lines(in, nin);
    free_lines(gold, ngold);
}

Test(pretokenize, byte_map_is_gpt2s)
{
    /* printable Latin-1 stands for itself; space is Ġ (U+0120), newline Ċ (U+010A), 0xAD is U+0143 */
    cr_expect_eq(tok_byte_char('A'), 'A');
    cr_expect_eq(tok_byte_char(' '), 0x120);
    cr_expect_eq(tok_byte_char('\n'), 0x10A);
    cr_expect_eq(tok_byte_char(0x7F), 0x121);
    cr_expect_eq(tok_byte_char(0xAD), 0x143);
    for (unsigned b = 0; b < 256; b++)
        cr_expect_eq(tok_char_byte(tok_byte_char(b)), (int)b);
    cr_expect_eq(tok_char_byte(0x144), -1);
}
