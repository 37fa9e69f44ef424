/* tok_files.c — loaders of the plain tokenizer files: GPT-2/RoBERTa vocab.json + merges.txt (also GPT-2's original
 * encoder.json + vocab.bpe) and BERT's WordPiece vocab.txt. They set up the same pipeline a tokenizer.json of that model
 * family describes.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_pairmap.h"

/* ---- byte-level BPE ---- */

int tok_parse_vocab_json(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    void *parsed;
    int rc = tok_json_parse(path, data, len, &parsed, err, errlen);
    if (rc)
        return rc;
    cJSON *root = parsed;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: not a JSON object of token → id", path);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= 1 << 24 || e->valuedouble != (int)e->valuedouble) {
            rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: token \"%.64s\": id is not an integer in [0, 2^24)", path,
                          e->string);
            break;
        }
        int r = tok_vocab_set(&t->vocab, e->valueint, e->string, strlen(e->string));
        if (r) {
            rc = r < 0 ? tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path)
                       : tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: id %d is given to \"%.64s\" and to another token",
                                  path, e->valueint, e->string);
            break;
        }
    }
    cJSON_Delete(root);
    if (!rc && !t->vocab.n)
        rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: the vocabulary is empty", path);
    return rc;
}

/* merges.txt / vocab.bpe: an optional "#version" line, then one merge "a b" per line, best first. data is modified
 * (lines are cut in place) and must have a byte of room after len. */
int tok_parse_merges_txt(tokenizer *t, const char *path, char *data, size_t len, char *err, size_t errlen)
{
    int rc = 0, rank = 0, line_no = 0;
    char where[64];
    for (char *line = data; !rc && line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        char *end = nl ? nl : data + len;
        size_t n = (size_t)(end - line);
        line_no++;
        if (n && line[n - 1] == '\r')
            n--;
        int has_nul = memchr(line, '\0', n) != NULL;
        line[n] = '\0';   /* the '\n' or '\r' (or the NUL tok_read_file keeps after the data) */
        if (has_nul) {
            rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: line %d holds a NUL byte", path, line_no);
        } else if (*line && !(line_no == 1 && !strncmp(line, "#version", 8))) {
            char *sp = strchr(line, ' ');
            if (!sp || strchr(sp + 1, ' ') || sp == line || !sp[1]) {
                rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: line %d \"%.64s\" is not a merge \"a b\"", path, line_no,
                              line);
            } else {
                *sp = '\0';
                snprintf(where, sizeof where, "line %d, merge", line_no);
                rc = tok_add_merge(t, path, where, rank++, line, sp + 1, err, errlen);
            }
        }
        line = end + 1;
    }
    if (!rc && !rank)
        rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: no merges", path);
    return rc;
}

static int has(const tokenizer *t, const char *piece)
{
    return tok_vocab_find(&t->vocab, piece, strlen(piece)) >= 0;
}

static int id_of(const tokenizer *t, const char *piece)
{
    return tok_vocab_find(&t->vocab, piece, strlen(piece));
}

/* RoBERTa-style vocabularies carry <s> </s> <pad> <unk> <mask> and wrap text as <s> … </s>; GPT-2's carries only
 * <|endoftext|>, which is its BOS, EOS and unknown token, and adds nothing around the text (as GPT2Tokenizer). */
static int byte_bpe_specials(tokenizer *t)
{
    static const char *roberta[] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};
    if (has(t, "<s>") && has(t, "</s>")) {
        for (size_t i = 0; i < sizeof roberta / sizeof *roberta; i++)
            if (has(t, roberta[i]) && tok_added_add(t, roberta[i], strlen(roberta[i]), id_of(t, roberta[i]), 1))
                return -1;
        for (int i = 0; i < t->nadded; i++)
            if (!strcmp(t->added[i].text, "<mask>"))
                t->added[i].lstrip = 1;
        t->tmpl = malloc(3 * sizeof *t->tmpl);
        if (!t->tmpl)
            return -1;
        t->tmpl[0] = id_of(t, "<s>");
        t->tmpl[1] = TOK_TMPL_TEXT;
        t->tmpl[2] = id_of(t, "</s>");
        t->ntmpl = 3;
        t->specials.cls = t->specials.bos = t->tmpl[0];
        t->specials.sep = t->specials.eos = t->tmpl[2];
    } else if (has(t, "<|endoftext|>")) {
        int id = id_of(t, "<|endoftext|>");
        if (tok_added_add(t, "<|endoftext|>", 13, id, 1))
            return -1;
        t->specials.bos = t->specials.eos = t->specials.unk = id;
    }
    return 0;
}

int tok_setup_byte_bpe(tokenizer *t, const char *path, char *err, size_t errlen)
{
    t->model = TOK_MODEL_BPE;
    t->kind = "byte-bpe";
    t->merges = calloc(1, sizeof *t->merges);
    t->pre = calloc(1, sizeof *t->pre);
    if (!t->merges || !t->pre)
        return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
    t->pre[0] = (tok_pre_step){.type = TOK_PRE_BYTELEVEL, .flags = 2};   /* no prefix space, GPT-2 pattern */
    t->npre = 1;
    t->decode_flags = TOK_DEC_BYTELEVEL;
    return 0;
}

int tok_finish_byte_bpe(tokenizer *t, const char *path, char *err, size_t errlen)
{
    return byte_bpe_specials(t) ? tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path) : 0;
}

int tok_load_byte_bpe(tokenizer *t, const char *vocab_path, const char *merges_path, char *err, size_t errlen)
{
    int rc = tok_setup_byte_bpe(t, vocab_path, err, errlen);
    if (rc)
        return rc;
    char *data;   /* tok_read_file leaves a NUL after the data: the room tok_parse_merges_txt needs */
    size_t len;
    rc = tok_read_file(vocab_path, &data, &len, err, errlen);
    if (!rc) {
        rc = tok_parse_vocab_json(t, vocab_path, data, len, err, errlen);
        free(data);
    }
    if (!rc && !(rc = tok_read_file(merges_path, &data, &len, err, errlen))) {
        rc = tok_parse_merges_txt(t, merges_path, data, len, err, errlen);
        free(data);
    }
    return rc ? rc : tok_finish_byte_bpe(t, vocab_path, err, errlen);
}

/* ---- WordPiece vocab.txt ---- */

/* do_lower_case from a tokenizer_config.json beside the vocabulary: 1, 0, or -1 when absent. */
static int config_lowercase(const char *vocab_path)
{
    char cfg[4096];
    const char *slash = strrchr(vocab_path, '/');
    int dirlen = slash ? (int)(slash - vocab_path) : 1;
    snprintf(cfg, sizeof cfg, "%.*s/tokenizer_config.json", dirlen, slash ? vocab_path : ".");
    char *data, e[8];
    size_t len;
    if (tok_read_file(cfg, &data, &len, e, sizeof e))
        return -1;
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "do_lower_case");
    int r = cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
    cJSON_Delete(root);
    return r;
}

/* Without a config: an uncased vocabulary has no upper-case ASCII letter outside its [BRACKETED] special names. */
static int vocab_is_uncased(const tokenizer *t)
{
    for (int id = 0; id < t->vocab.n; id++) {
        size_t n;
        const char *p = tok_vocab_piece(&t->vocab, id, &n);
        if (!p || (n > 2 && p[0] == '[' && p[n - 1] == ']'))
            continue;
        for (size_t i = 0; i < n; i++)
            if (p[i] >= 'A' && p[i] <= 'Z')
                return 0;
    }
    return 1;
}

static int read_vocab_txt(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    int rc = 0, id = 0;
    for (size_t i = 0; !rc && i < len; id++) {
        char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len, n = end - i;
        if (n && data[i + n - 1] == '\r')
            n--;
        if (memchr(data + i, '\0', n))
            rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: line %d holds a NUL byte", path, id + 1);
        else if (tok_vocab_set(&t->vocab, id, data + i, n) < 0)
            rc = tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
        i = end + 1;
    }
    if (!rc && !id)
        rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: the vocabulary is empty", path);
    return rc;
}

int tok_load_vocab_txt(tokenizer *t, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    int rc = tok_read_file(path, &data, &len, err, errlen);
    if (rc)
        return rc;
    rc = tok_parse_vocab_txt(t, path, data, len, err, errlen);
    free(data);
    return rc;
}

int tok_parse_vocab_txt(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    t->model = TOK_MODEL_WORDPIECE;
    t->kind = "wordpiece";
    int rc = read_vocab_txt(t, path, data, len, err, errlen);
    if (rc)
        return rc;
    int unk = id_of(t, "[UNK]"), cls = id_of(t, "[CLS]"), sep = id_of(t, "[SEP]");
    if (unk < 0 || cls < 0 || sep < 0)
        return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: a WordPiece vocabulary needs [UNK], [CLS] and [SEP]; %s is "
                        "missing", path, unk < 0 ? "[UNK]" : cls < 0 ? "[CLS]" : "[SEP]");
    int lower = config_lowercase(path);
    if (lower < 0)
        lower = vocab_is_uncased(t);
    t->subword_prefix = strdup("##");
    t->norm = calloc(1, sizeof *t->norm);
    t->pre = calloc(1, sizeof *t->pre);
    t->tmpl = malloc(3 * sizeof *t->tmpl);
    if (!t->subword_prefix || !t->norm || !t->pre || !t->tmpl)
        return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
    t->norm[0] = (tok_norm_step){.type = TOK_NORM_BERT, .flags = TOK_BERT_CLEAN | TOK_BERT_CHINESE |
                                 (lower ? TOK_BERT_LOWER | TOK_BERT_STRIP_ACCENTS : 0)};
    t->nnorm = 1;
    t->pre[0] = (tok_pre_step){.type = TOK_PRE_BERT};
    t->npre = 1;
    t->tmpl[0] = cls;
    t->tmpl[1] = TOK_TMPL_TEXT;
    t->tmpl[2] = sep;
    t->ntmpl = 3;
    t->specials.unk = unk;
    t->specials.cls = cls;
    t->specials.sep = sep;
    t->decode_flags = TOK_DEC_WORDPIECE | TOK_DEC_CLEANUP;
    static const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++)
        if (has(t, specials[i]) && tok_added_add(t, specials[i], strlen(specials[i]), id_of(t, specials[i]), 1))
            return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
    return 0;
}
