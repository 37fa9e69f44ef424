/* test_craftgpt_tok.c — CraftGPT-5M's tokenizer.json (added tokens with lstrip/rstrip, normalizers Sequence/Lowercase/
 * Prepend/Replace, Split on "_" merged with the next piece, WordPiece with an empty continuation prefix, a Replace
 * decoder) against the independent Python reference tests/reference/tok_wordpiece_ref.py, written from the Hugging Face
 * tokenizers documentation:
 *     /usr/bin/python3 tests/reference/tok_wordpiece_ref.py golden ../shared/assets/models/craftgpt-5M/tokenizer.json \
 *         ../shared/assets/tasks > tests/reference/tok_craftgpt_golden.txt
 * Every text column of every shipped test set (34,490 texts) must give the reference's ids (compared by count and
 * CRC-32, the first difference named by task, line and column); chat-format and odd strings are compared id by id and
 * decoded. A hand-made WordPiece file checks another continuation prefix and no pre-tokenizer. */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "common/crc32.h"
#include "tests/tokenizer/tok_test_util.h"

#define CRAFTGPT ASSETS "/models/craftgpt-5M"
#define GOLDEN "tests/reference/tok_craftgpt_golden.txt"

static uint32_t crc_of_ids(const int *ids, int n)
{
    uint32_t crc = 0;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
        crc = common_crc32_update(crc, le, 4);
    }
    return crc;
}

/* Field `col` (0-based) of a tab-separated line, cut in place; NULL when the line is shorter. */
static char *tsv_field(char *line, int col)
{
    for (int c = 0; c < col; c++) {
        line = strchr(line, '\t');
        if (!line)
            return NULL;
        line++;
    }
    char *tab = strchr(line, '\t');
    if (tab)
        *tab = '\0';
    return line;
}

/* One test.tsv against its block of the golden file: the header names the text columns. */
static int check_task(const tokenizer *t, FILE *golden, const char *task, int rows, char cols[][16], int n_cols)
{
    char path[256];
    snprintf(path, sizeof path, ASSETS "/tasks/%s/test.tsv", task);
    char **lines;
    int n = read_lines(path, &lines);
    cr_assert_eq(n - 1, rows, "%s: %d rows, the golden file has %d", path, n - 1, rows);
    int index[4];
    for (int c = 0; c < n_cols; c++) {
        index[c] = -1;
        char *header = strdup(lines[0]);
        for (int k = 0; index[c] < 0; k++) {
            char *copy = strcpy(header, lines[0]), *f = tsv_field(copy, k);
            cr_assert_not_null(f, "%s: no column %s", path, cols[c]);
            if (!strcmp(f, cols[c]))
                index[c] = k;
        }
        free(header);
    }
    int mismatches = 0;
    for (int r = 1; r < n; r++)
        for (int c = 0; c < n_cols; c++) {
            int want_n;
            unsigned want_crc;
            cr_assert_eq(fscanf(golden, "%d %x", &want_n, &want_crc), 2, "golden: %s row %d is short", task, r);
            char *copy = strdup(lines[r]), *text = tsv_field(copy, index[c]);
            cr_assert_not_null(text, "%s:%d has no column %s", path, r + 1, cols[c]);
            int got_n, *ids = encode_str(t, text, 0, &got_n);
            if (got_n != want_n || crc_of_ids(ids, got_n) != want_crc) {
                if (mismatches++ < 5)
                    cr_expect_fail("%s:%d %s: %d ids (crc %08x), the reference has %d (crc %08x): \"%.120s\"", path,
                                   r + 1, cols[c], got_n, crc_of_ids(ids, got_n), want_n, want_crc, text);
            }
            free(ids);
            free(copy);
        }
    free_lines(lines, n);
    return n - 1;
}

/* "ids JSON-STRING<TAB>N ID..." then "decode JSON-STRING". */
static void check_sample(const tokenizer *t, char *line, const char *decode_line)
{
    char *tab = strchr(line, '\t');
    cr_assert_not_null(tab);
    *tab = '\0';
    cJSON *text = cJSON_Parse(line + 4), *dec = cJSON_Parse(decode_line + 7);
    cr_assert(cJSON_IsString(text) && cJSON_IsString(dec), "golden: bad sample line %s", line);
    int want_n, got_n, *ids = encode_str(t, text->valuestring, 0, &got_n);
    char *p = tab + 1, *end;
    want_n = (int)strtol(p, &end, 10);
    cr_expect_eq(got_n, want_n, "\"%s\": %d ids, the reference has %d", text->valuestring, got_n, want_n);
    for (int i = 0; i < want_n && i < got_n; i++) {
        int want = (int)strtol(end, &end, 10);
        cr_expect_eq(ids[i], want, "\"%s\": id %d is %d, the reference has %d", text->valuestring, i, ids[i], want);
    }
    char buf[1024];
    tokenizer_decode(t, ids, got_n, buf, sizeof buf);
    cr_expect_str_eq(buf, dec->valuestring, "decode of \"%s\": \"%s\", the reference has \"%s\"", text->valuestring, buf,
                     dec->valuestring);
    free(ids);
    cJSON_Delete(text);
    cJSON_Delete(dec);
}

Test(craftgpt_tok, every_test_text_matches_the_reference)
{
    tokenizer *t = open_or_fail(CRAFTGPT);
    cr_expect_str_eq(tokenizer_kind(t), "wordpiece");
    FILE *golden = fopen(GOLDEN, "r");
    cr_assert_not_null(golden, "cannot open %s", GOLDEN);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int texts = 0, samples = 0;
    while ((len = getline(&line, &cap, golden)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (!strncmp(line, "task ", 5)) {
            char task[32], cols[4][16];
            int rows, used, n_cols = 0;
            cr_assert_eq(sscanf(line, "task %31s %d%n", task, &rows, &used), 2);
            for (char *p = line + used; n_cols < 4 && sscanf(p, "%15s%n", cols[n_cols], &used) == 1; p += used)
                n_cols++;
            texts += n_cols * check_task(t, golden, task, rows, cols, n_cols);
        } else if (!strncmp(line, "ids ", 4)) {
            char *copy = strdup(line), *dec = NULL;
            size_t dcap = 0;
            cr_assert_geq(getline(&dec, &dcap, golden), 0);
            dec[strcspn(dec, "\n")] = '\0';
            cr_assert(!strncmp(dec, "decode ", 7), "golden: an ids line without its decode line");
            check_sample(t, copy, dec);
            free(copy);
            free(dec);
            samples++;
        }
    }
    free(line);
    fclose(golden);
    cr_expect_eq(texts, 34490, "texts compared: %d", texts);
    cr_expect_geq(samples, 8);
    tokenizer_free(t);
}

/* WordPiece with another continuation prefix ("++"), no pre-tokenizer (a stretch of text is one word), the normalizer
 * Sequence without Replace, and an added token with rstrip only. Expected ids worked out by hand from the documented
 * algorithm: greedy longest match, later pieces looked up with the prefix, a word with an unmatched stretch (or longer
 * than max_input_chars_per_word) is the unknown token as a whole. */
Test(craftgpt_tok, wordpiece_prefix_and_no_pretokenizer)
{
    const char *json =
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"lstrip\":false,\"rstrip\":true,\"normalized\":false,"
        "\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},"
        "{\"type\":\"Prepend\",\"prepend\":\"^\"}]},\"pre_tokenizer\":null,"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"^\"},"
        "\"content\":\" \"}]},"
        "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"?\",\"continuing_subword_prefix\":\"++\","
        "\"max_input_chars_per_word\":12,\"vocab\":{\"<s>\":0,\"?\":1,\"^un\":2,\"^u\":3,\"++aff\":4,\"++able\":5,"
        "\"++a\":6,\"^\":7,\"++ \":8,\"++un\":9}}}";
    const char *path = tmp_path("wp.json");
    write_str(path, json);
    tokenizer *t = open_or_fail(path);
    expect_ids(t, "UNaffable", 0, "2 4 5");         /* ^un ++aff ++able */
    expect_ids(t, "un un", 0, "2 8 9");              /* one word: ^un ++" " ++un */
    expect_ids(t, "unaffablex", 0, "1");             /* x matches nothing: the whole word is unknown */
    expect_ids(t, "unaffableaffable", 0, "1");       /* 17 characters > 12 */
    expect_ids(t, "<s>   un", 0, "0 2");             /* rstrip takes the spaces after <s> */
    expect_ids(t, "un<s>", 0, "2 0");
    expect_ids(t, "", 0, "");                        /* Prepend leaves an empty text empty */
    int ids[3] = {2, 4, 5}, n;
    char buf[64];
    n = tokenizer_decode(t, ids, 3, buf, sizeof buf);
    cr_expect_str_eq(buf, " un++aff++able"); /* only a WordPiece decoder would take the prefixes away */
    cr_expect_eq(n, 14);
    tokenizer_free(t);
    unlink(path);
}
