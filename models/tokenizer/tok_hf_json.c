/* tok_hf_json.c — loader of Hugging Face tokenizer.json files (parsed with cJSON).
 *
 * Supported: models BPE (merges as "a b" strings or [a, b] pairs; byte_fallback, fuse_unk, ignore_merges, subword
 * prefix/suffix) and WordPiece; normalizers Sequence, Prepend, Replace (string pattern), Lowercase, NFD, NFC,
 * StripAccents, Strip, BertNormalizer; pre-tokenizers Sequence, ByteLevel, Split (string patterns and the GPT-2, Llama-3
 * and Qwen2 regexes), Metaspace, BertPreTokenizer, Whitespace, WhitespaceSplit, Digits, Punctuation; post-processors
 * TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence; decoders ByteLevel, Metaspace, WordPiece,
 * Replace, ByteFallback, Fuse, Strip, Sequence. Anything else is refused with its name in the message.
 * BPE dropout (a training-time randomisation) is ignored: encoding is deterministic. Pair templates ("pair") are not
 * read: the interface encodes one text at a time.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_pairmap.h"

typedef struct ctx {
    tokenizer *t;
    const char *path;
    char *err;
    size_t errlen;
} ctx;

#define FAIL(c, code, ...) tok_errf((c)->err, (c)->errlen, code, __VA_ARGS__)

static const char *GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}"
                                    "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}"
                                   "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int bool_of(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- model ---- */

static int read_vocab(ctx *c, const cJSON *vocab)
{
    if (!cJSON_IsObject(vocab))
        return FAIL(c, TOK_ERR_FORMAT, "%s: model.vocab is missing or not an object", c->path);
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= 1 << 24 || e->valuedouble != (int)e->valuedouble)
            return FAIL(c, TOK_ERR_FORMAT, "%s: model.vocab[\"%.64s\"]: id is not an integer in [0, 2^24)", c->path,
                        e->string);
        int rc = tok_vocab_set(&c->t->vocab, e->valueint, e->string, strlen(e->string));
        if (rc < 0)
            return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
        if (rc > 0)
            return FAIL(c, TOK_ERR_FORMAT, "%s: model.vocab: id %d is given to \"%.64s\" and to another token", c->path,
                        e->valueint, e->string);
    }
    if (!c->t->vocab.n)
        return FAIL(c, TOK_ERR_FORMAT, "%s: model.vocab is empty", c->path);
    return 0;
}

/* Merge rank r: the two pieces, given as "a b" or ["a", "b"]. */
static int merge_parts(ctx *c, const cJSON *m, int r, char *buf, size_t cap, const char **a, const char **b)
{
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ') || strlen(s) >= cap)
            return FAIL(c, TOK_ERR_FORMAT, "%s: model.merges[%d] \"%.64s\" is not two pieces separated by one space",
                        c->path, r, s);
        memcpy(buf, s, strlen(s) + 1);
        buf[sp - s] = '\0';
        *a = buf;
        *b = buf + (sp - s) + 1;
        return 0;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
        cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        *a = cJSON_GetArrayItem(m, 0)->valuestring;
        *b = cJSON_GetArrayItem(m, 1)->valuestring;
        return 0;
    }
    return FAIL(c, TOK_ERR_FORMAT, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", c->path, r);
}

int tok_add_merge(tokenizer *t, const char *path, const char *where, int rank, const char *a, const char *b, char *err,
                  size_t errlen)
{
    int ia = tok_vocab_find(&t->vocab, a, strlen(a)), ib = tok_vocab_find(&t->vocab, b, strlen(b));
    if (ia < 0 || ib < 0)
        return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: %s %d \"%.64s %.64s\": \"%.64s\" is not in the vocabulary",
                        path, where, rank, a, b, ia < 0 ? a : b);
    size_t plen = t->subword_prefix ? strlen(t->subword_prefix) : 0;
    if (plen && !strncmp(b, t->subword_prefix, plen))
        b += plen;
    size_t la = strlen(a), lb = strlen(b);
    char *cat = malloc(la + lb + 1);
    if (!cat)
        return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
    memcpy(cat, a, la);
    memcpy(cat + la, b, lb + 1);
    int merged = tok_vocab_find(&t->vocab, cat, la + lb);
    int rc = 0;
    if (merged < 0)
        rc = tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: %s %d \"%.64s %.64s\": the merged piece \"%.64s\" is not in the "
                      "vocabulary", path, where, rank, a, b, cat);
    else if (tok_pairmap_add(t->merges, ia, ib, rank, merged))
        rc = tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", path);
    free(cat);
    return rc;
}

static int read_merges(ctx *c, const cJSON *merges)
{
    if (!cJSON_IsArray(merges))
        return FAIL(c, TOK_ERR_FORMAT, "%s: model.merges is missing or not an array", c->path);
    int r = 0;
    const cJSON *m;
    char buf[1024];
    cJSON_ArrayForEach(m, merges)
    {
        const char *a = NULL, *b = NULL;
        int rc = merge_parts(c, m, r, buf, sizeof buf, &a, &b);
        if (!rc)
            rc = tok_add_merge(c->t, c->path, "model.merges", r, a, b, c->err, c->errlen);
        if (rc)
            return rc;
        r++;
    }
    return 0;
}

static int unk_of(ctx *c, const cJSON *model)
{
    const char *unk = str_of(model, "unk_token");
    if (!unk)
        return 0;
    int id = tok_vocab_find(&c->t->vocab, unk, strlen(unk));
    if (id < 0)
        return FAIL(c, TOK_ERR_FORMAT, "%s: model.unk_token \"%.64s\" is not in model.vocab", c->path, unk);
    c->t->specials.unk = id;
    return 0;
}

static int read_model(ctx *c, const cJSON *model)
{
    tokenizer *t = c->t;
    if (!cJSON_IsObject(model))
        return FAIL(c, TOK_ERR_FORMAT, "%s: \"model\" is missing or not an object", c->path);
    const char *type = str_of(model, "type");
    if (!type)
        type = cJSON_HasObjectItem(model, "merges") ? "BPE" : "?";
    int rc = read_vocab(c, cJSON_GetObjectItemCaseSensitive(model, "vocab"));
    if (rc)
        return rc;
    if ((rc = unk_of(c, model)))
        return rc;
    if (!strcmp(type, "WordPiece")) {
        t->model = TOK_MODEL_WORDPIECE;
        t->kind = "wordpiece";
        const char *pre = str_of(model, "continuing_subword_prefix");
        t->subword_prefix = strdup(pre ? pre : "##");
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
        if (cJSON_IsNumber(mx))
            t->max_word_chars = mx->valueint;
        return t->subword_prefix ? 0 : FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    }
    if (strcmp(type, "BPE"))
        return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: model.type \"%.32s\" is not supported (BPE and WordPiece are)", c->path,
                    type);
    t->model = TOK_MODEL_BPE;
    t->byte_fallback = bool_of(model, "byte_fallback", 0);
    t->fuse_unk = bool_of(model, "fuse_unk", 0);
    t->ignore_merges = bool_of(model, "ignore_merges", 0);
    t->subword_prefix = dup(str_of(model, "continuing_subword_prefix"));
    t->word_suffix = dup(str_of(model, "end_of_word_suffix"));
    t->merges = calloc(1, sizeof *t->merges);
    if (!t->merges)
        return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tok_vocab_find(&t->vocab, name, 6);
    }
    return read_merges(c, cJSON_GetObjectItemCaseSensitive(model, "merges"));
}

/* ---- added tokens ---- */

static int read_added(ctx *c, const cJSON *added)
{
    if (!added || cJSON_IsNull(added))
        return 0;
    if (!cJSON_IsArray(added))
        return FAIL(c, TOK_ERR_FORMAT, "%s: \"added_tokens\" is not an array", c->path);
    int i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, added)
    {
        const char *content = str_of(a, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (!content || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= 1 << 24)
            return FAIL(c, TOK_ERR_FORMAT, "%s: added_tokens[%d] needs \"content\" and an integer \"id\"", c->path, i);
        if (tok_added_add(c->t, content, strlen(content), id->valueint, (unsigned)bool_of(a, "special", 0)))
            return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
        tok_added *n = c->t->nadded ? &c->t->added[c->t->nadded - 1] : NULL;
        if (n && n->id == id->valueint && !strcmp(n->text, content)) {
            n->lstrip = (unsigned)bool_of(a, "lstrip", 0);
            n->rstrip = (unsigned)bool_of(a, "rstrip", 0);
            n->single_word = (unsigned)bool_of(a, "single_word", 0);
        }
        i++;
    }
    return 0;
}

/* ---- normalizer ---- */

static int add_norm(ctx *c, tok_norm_step st)
{
    tok_norm_step *p = realloc(c->t->norm, (size_t)(c->t->nnorm + 1) * sizeof *p);
    if (!p) {
        free(st.a);
        free(st.b);
        return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    }
    c->t->norm = p;
    p[c->t->nnorm++] = st;
    return 0;
}

/* {"String": "x"} → "x"; a regex → NULL with *regex set. */
static const char *string_pattern(const cJSON *pattern, const char **regex)
{
    *regex = str_of(pattern, "Regex");
    return str_of(pattern, "String");
}

static int read_normalizer(ctx *c, const cJSON *n, int depth)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    const char *type = str_of(n, "type");
    if (!type || depth > 8)
        return FAIL(c, TOK_ERR_FORMAT, "%s: normalizer without a \"type\"", c->path);
    tok_norm_step st = {0};
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *e;
        if (!cJSON_IsArray(list))
            return FAIL(c, TOK_ERR_FORMAT, "%s: normalizer Sequence without a \"normalizers\" array", c->path);
        cJSON_ArrayForEach(e, list)
        {
            int rc = read_normalizer(c, e, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!strcmp(type, "Prepend")) {
        const char *s = str_of(n, "prepend");
        if (!s)
            return FAIL(c, TOK_ERR_FORMAT, "%s: normalizer Prepend without \"prepend\"", c->path);
        st = (tok_norm_step){.type = TOK_NORM_PREPEND, .a = strdup(s), .alen = strlen(s)};
    } else if (!strcmp(type, "Replace")) {
        const char *regex, *from = string_pattern(cJSON_GetObjectItemCaseSensitive(n, "pattern"), &regex);
        const char *to = str_of(n, "content");
        if (!from || !to)
            return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: normalizer Replace: only string patterns are supported (got %.64s)",
                        c->path, regex ? regex : "none");
        st = (tok_norm_step){.type = TOK_NORM_REPLACE, .a = strdup(from), .alen = strlen(from), .b = strdup(to),
                             .blen = strlen(to)};
    } else if (!strcmp(type, "Lowercase")) {
        st.type = TOK_NORM_LOWER;
    } else if (!strcmp(type, "NFD")) {
        st.type = TOK_NORM_NFD;
    } else if (!strcmp(type, "NFC")) {
        st.type = TOK_NORM_NFC;
    } else if (!strcmp(type, "StripAccents")) {
        st.type = TOK_NORM_STRIP_ACCENTS;
    } else if (!strcmp(type, "Strip")) {
        st = (tok_norm_step){.type = TOK_NORM_STRIP,
                             .flags = bool_of(n, "strip_left", 1) | bool_of(n, "strip_right", 1) << 1};
    } else if (!strcmp(type, "BertNormalizer")) {
        int lower = bool_of(n, "lowercase", 1);
        st = (tok_norm_step){.type = TOK_NORM_BERT,
                             .flags = (bool_of(n, "clean_text", 1) ? TOK_BERT_CLEAN : 0) |
                                      (bool_of(n, "handle_chinese_chars", 1) ? TOK_BERT_CHINESE : 0) |
                                      (bool_of(n, "strip_accents", lower) ? TOK_BERT_STRIP_ACCENTS : 0) |
                                      (lower ? TOK_BERT_LOWER : 0)};
    } else {
        return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: normalizer \"%.32s\" is not supported", c->path, type);
    }
    if ((st.type == TOK_NORM_PREPEND || st.type == TOK_NORM_REPLACE) && (!st.a || (st.type == TOK_NORM_REPLACE && !st.b)))
        return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    return add_norm(c, st);
}

/* ---- pre-tokenizer ---- */

static int add_pre(ctx *c, tok_pre_step st)
{
    tok_pre_step *p = realloc(c->t->pre, (size_t)(c->t->npre + 1) * sizeof *p);
    if (!p) {
        free(st.a);
        return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    }
    c->t->pre = p;
    p[c->t->npre++] = st;
    return 0;
}

static int behavior_of(ctx *c, const cJSON *n, enum tok_split *out)
{
    const char *b = str_of(n, "behavior");
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    if (!b) {
        *out = TOK_SPLIT_ISOLATED;
        return 0;
    }
    for (int i = 0; i < 5; i++)
        if (!strcmp(b, names[i])) {
            *out = (enum tok_split)i;
            return 0;
        }
    return FAIL(c, TOK_ERR_FORMAT, "%s: unknown split behavior \"%.32s\"", c->path, b);
}

static int prepend_scheme(const cJSON *n)
{
    const char *s = str_of(n, "prepend_scheme");
    if (s)
        return !strcmp(s, "always") ? TOK_META_ALWAYS : !strcmp(s, "first") ? TOK_META_FIRST : 0;
    return bool_of(n, "add_prefix_space", 1) ? TOK_META_ALWAYS : 0;
}

static int read_split(ctx *c, const cJSON *n, tok_pre_step *st)
{
    const char *regex, *lit = string_pattern(cJSON_GetObjectItemCaseSensitive(n, "pattern"), &regex);
    st->type = TOK_PRE_SPLIT;
    st->invert = bool_of(n, "invert", 0);
    int rc = behavior_of(c, n, &st->behavior);
    if (rc)
        return rc;
    if (lit) {
        st->a = strdup(lit);
        st->alen = strlen(lit);
        return st->a ? 0 : FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    }
    if (regex && !strcmp(regex, GPT2_PATTERN))
        st->pattern = TOK_PAT_GPT2;
    else if (regex && !strcmp(regex, LLAMA3_PATTERN))
        st->pattern = TOK_PAT_LLAMA3;
    else if (regex && !strcmp(regex, QWEN2_PATTERN))
        st->pattern = TOK_PAT_QWEN2;
    else
        return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: Split pattern %.200s is not supported (the GPT-2, Llama-3 and Qwen2 "
                    "patterns and plain strings are)", c->path, regex ? regex : "(none)");
    return 0;
}

static int read_pretokenizer(ctx *c, const cJSON *n, int depth)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    const char *type = str_of(n, "type");
    if (!type || depth > 8)
        return FAIL(c, TOK_ERR_FORMAT, "%s: pre_tokenizer without a \"type\"", c->path);
    tok_pre_step st = {0};
    int rc = 0;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "pretokenizers"), *e;
        if (!cJSON_IsArray(list))
            return FAIL(c, TOK_ERR_FORMAT, "%s: pre_tokenizer Sequence without a \"pretokenizers\" array", c->path);
        cJSON_ArrayForEach(e, list)
        {
            if ((rc = read_pretokenizer(c, e, depth + 1)))
                return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        st = (tok_pre_step){.type = TOK_PRE_BYTELEVEL,
                            .flags = bool_of(n, "add_prefix_space", 1) | bool_of(n, "use_regex", 1) << 1};
        c->t->kind = "byte-bpe";
    } else if (!strcmp(type, "Split")) {
        rc = read_split(c, n, &st);
    } else if (!strcmp(type, "Metaspace")) {
        const char *rep = str_of(n, "replacement");
        rep = rep ? rep : "\xe2\x96\x81";
        st = (tok_pre_step){.type = TOK_PRE_METASPACE, .a = strdup(rep), .alen = strlen(rep),
                            .flags = prepend_scheme(n) | (bool_of(n, "split", 1) ? TOK_META_SPLIT : 0)};
        if (!st.a)
            return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    } else if (!strcmp(type, "BertPreTokenizer")) {
        st.type = TOK_PRE_BERT;
    } else if (!strcmp(type, "Whitespace")) {
        st.type = TOK_PRE_WHITESPACE;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        st.type = TOK_PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "Digits")) {
        st = (tok_pre_step){.type = TOK_PRE_DIGITS, .flags = bool_of(n, "individual_digits", 0)};
    } else if (!strcmp(type, "Punctuation")) {
        st.type = TOK_PRE_PUNCT;
        rc = behavior_of(c, n, &st.behavior);
    } else {
        return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%.32s\" is not supported", c->path, type);
    }
    if (rc) {
        free(st.a);
        return rc;
    }
    return add_pre(c, st);
}

/* ---- post-processor (the TOK_ADD_SPECIAL template) ---- */

static int tmpl_push(ctx *c, int id)
{
    int *p = realloc(c->t->tmpl, (size_t)(c->t->ntmpl + 1) * sizeof *p);
    if (!p)
        return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    c->t->tmpl = p;
    p[c->t->ntmpl++] = id;
    return 0;
}

/* ["<s>", 0] in RobertaProcessing / BertProcessing */
static int pair_id(ctx *c, const cJSON *n, const char *key, int *id)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(n, key);
    if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(p, 1)))
        return FAIL(c, TOK_ERR_FORMAT, "%s: post_processor.%s is not [token, id]", c->path, key);
    *id = cJSON_GetArrayItem(p, 1)->valueint;
    return 0;
}

static int read_template(ctx *c, const cJSON *n)
{
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(n, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(n, "special_tokens"), *item;
    if (!cJSON_IsArray(single))
        return FAIL(c, TOK_ERR_FORMAT, "%s: TemplateProcessing without a \"single\" array", c->path);
    c->t->ntmpl = 0;
    int i = 0, rc = 0;
    cJSON_ArrayForEach(item, single)
    {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(item, "Sequence")) {
            rc = tmpl_push(c, TOK_TMPL_TEXT);
        } else if (sp) {
            const char *name = str_of(sp, "id");
            const cJSON *def = name ? cJSON_GetObjectItemCaseSensitive(specials, name) : NULL;
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids"), *id;
            if (!cJSON_IsArray(ids))
                return FAIL(c, TOK_ERR_FORMAT, "%s: post_processor.single[%d]: special token \"%.64s\" is not defined "
                            "in special_tokens", c->path, i, name ? name : "?");
            cJSON_ArrayForEach(id, ids)
            {
                if (!cJSON_IsNumber(id))
                    return FAIL(c, TOK_ERR_FORMAT, "%s: special_tokens[\"%.64s\"].ids holds a non-number", c->path, name);
                if ((rc = tmpl_push(c, id->valueint)))
                    return rc;
            }
        } else {
            return FAIL(c, TOK_ERR_FORMAT, "%s: post_processor.single[%d] is neither SpecialToken nor Sequence", c->path,
                        i);
        }
        if (rc)
            return rc;
        i++;
    }
    /* leading/trailing specials are the model's BOS/EOS */
    tokenizer *t = c->t;
    if (t->ntmpl && t->tmpl[0] >= 0)
        t->specials.bos = t->tmpl[0];
    if (t->ntmpl > 1 && t->tmpl[t->ntmpl - 1] >= 0)
        t->specials.eos = t->tmpl[t->ntmpl - 1];
    return 0;
}

static int read_postprocessor(ctx *c, const cJSON *n, int depth)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    const char *type = str_of(n, "type");
    if (!type || depth > 8)
        return FAIL(c, TOK_ERR_FORMAT, "%s: post_processor without a \"type\"", c->path);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "processors"), *e;
        cJSON_ArrayForEach(e, list)
        {
            int rc = read_postprocessor(c, e, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel"))
        return 0;   /* offsets only */
    if (!strcmp(type, "TemplateProcessing"))
        return read_template(c, n);
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        int cls, sep, rc;
        if ((rc = pair_id(c, n, "cls", &cls)) || (rc = pair_id(c, n, "sep", &sep)))
            return rc;
        c->t->ntmpl = 0;
        if ((rc = tmpl_push(c, cls)) || (rc = tmpl_push(c, TOK_TMPL_TEXT)) || (rc = tmpl_push(c, sep)))
            return rc;
        c->t->specials.cls = cls;
        c->t->specials.sep = sep;
        if (type[0] == 'R') {
            c->t->specials.bos = cls;
            c->t->specials.eos = sep;
        }
        return 0;
    }
    return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: post_processor \"%.32s\" is not supported", c->path, type);
}

/* ---- decoder ---- */

static int read_decoder(ctx *c, const cJSON *n, int depth)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    tokenizer *t = c->t;
    const char *type = str_of(n, "type");
    if (!type || depth > 8)
        return FAIL(c, TOK_ERR_FORMAT, "%s: decoder without a \"type\"", c->path);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "decoders"), *e;
        cJSON_ArrayForEach(e, list)
        {
            int rc = read_decoder(c, e, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    const char *rep = NULL;
    if (!strcmp(type, "ByteLevel")) {
        t->decode_flags |= TOK_DEC_BYTELEVEL;
    } else if (!strcmp(type, "Metaspace")) {
        t->decode_flags |= TOK_DEC_METASPACE | (prepend_scheme(n) ? TOK_DEC_STRIP_FIRST : 0);
        rep = str_of(n, "replacement");
    } else if (!strcmp(type, "WordPiece")) {
        t->decode_flags |= TOK_DEC_WORDPIECE | (bool_of(n, "cleanup", 1) ? TOK_DEC_CLEANUP : 0);
    } else if (!strcmp(type, "Replace")) {
        const char *regex, *from = string_pattern(cJSON_GetObjectItemCaseSensitive(n, "pattern"), &regex);
        const char *to = str_of(n, "content");
        if (!from || !to || strcmp(to, " "))
            return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: decoder Replace is supported only as \"<char>\" → \" \"", c->path);
        t->decode_flags |= TOK_DEC_METASPACE;
        rep = from;
    } else if (!strcmp(type, "ByteFallback")) {
        t->decode_flags |= TOK_DEC_BYTE_PIECES;
    } else if (!strcmp(type, "Fuse")) {
        /* joining the pieces is what decoding does anyway */
    } else if (!strcmp(type, "Strip")) {
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(n, "start");
        if (cJSON_IsNumber(start) && start->valueint > 0)
            t->decode_flags |= TOK_DEC_STRIP_FIRST;
    } else {
        return FAIL(c, TOK_ERR_UNSUPPORTED, "%s: decoder \"%.32s\" is not supported", c->path, type);
    }
    if (rep) {
        free(t->dec_replacement);
        t->dec_replacement = strdup(rep);
        if (!t->dec_replacement)
            return FAIL(c, TOK_ERR_NOMEM, "%s: out of memory", c->path);
    }
    return 0;
}

static int read_root(ctx *c, const cJSON *root)
{
    tokenizer *t = c->t;
    if (!cJSON_IsObject(root))
        return FAIL(c, TOK_ERR_FORMAT, "%s: not a JSON object", c->path);
    int rc = read_model(c, cJSON_GetObjectItemCaseSensitive(root, "model"));
    if (!rc)
        rc = read_added(c, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"));
    if (!rc && t->specials.unk >= 0) { /* Hugging Face skips only added special tokens when decoding */
        t->unk_is_text = 1;
        for (int i = 0; i < t->nadded; i++)
            if (t->added[i].id == t->specials.unk && t->added[i].special)
                t->unk_is_text = 0;
    }
    if (!rc)
        rc = read_normalizer(c, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0);
    if (!rc)
        rc = read_pretokenizer(c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0);
    if (!rc)
        rc = read_postprocessor(c, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0);
    if (!rc)
        rc = read_decoder(c, cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0);
    if (!rc && t->model == TOK_MODEL_BPE && !t->kind)
        t->kind = t->decode_flags & TOK_DEC_BYTELEVEL ? "byte-bpe" : "spm-bpe";
    if (!rc && t->model == TOK_MODEL_BPE && !strcmp(t->kind, "byte-bpe"))
        t->decode_flags |= TOK_DEC_BYTELEVEL;
    return rc;
}

int tok_json_parse(const char *path, const char *data, size_t len, void **root, char *err, size_t errlen)
{
    *root = cJSON_ParseWithLength(data, len);
    if (*root)
        return 0;
    const char *at = cJSON_GetErrorPtr();
    long off = at && at >= data && at <= data + len ? (long)(at - data) : -1;
    return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: not valid JSON (error near byte %ld)", path, off);
}

int tok_parse_hf_json(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    ctx c = {t, path, err, errlen};
    void *parsed;
    int rc = tok_json_parse(path, data, len, &parsed, err, errlen);
    if (rc)
        return rc;
    cJSON *root = parsed;
    rc = read_root(&c, root);
    cJSON_Delete(root);
    return rc;
}

int tok_load_hf_json(tokenizer *t, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    int rc = tok_read_file(path, &data, &len, err, errlen);
    if (rc)
        return rc;
    rc = tok_parse_hf_json(t, path, data, len, err, errlen);
    free(data);
    return rc;
}
