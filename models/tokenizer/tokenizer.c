/* tokenizer.c — the public tokenizer API: opening (format detection), the encode pipeline, decoding.
 * The formats' loaders fill in a struct tokenizer (tok_internal.h); everything here works on that struct alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_pairmap.h"
#include "models/tokenizer/unicode.h"

/* ---- lifetime ---- */

tokenizer *tok_new(const char *path)
{
    tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->path = strdup(path);
    t->diag = calloc(1, TOK_DIAG_LEN);
    if (!t->path || !t->diag) {
        free(t->path);
        free(t->diag);
        free(t);
        return NULL;
    }
    tok_vocab_init(&t->vocab);
    t->specials = (tokenizer_specials){-1, -1, -1, -1, -1, -1, -1};
    t->space_id = -1;
    for (int b = 0; b < 256; b++)
        t->byte_ids[b] = -1;
    t->max_word_chars = 100;
    return t;
}

void tokenizer_free(tokenizer *t)
{
    if (!t)
        return;
    tok_vocab_free(&t->vocab);
    free(t->scores);
    if (t->merges) {
        tok_pairmap_free(t->merges);
        free(t->merges);
    }
    free(t->subword_prefix);
    free(t->word_suffix);
    for (int i = 0; i < t->nadded; i++)
        free(t->added[i].text);
    free(t->added);
    for (int i = 0; i < t->nnorm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->norm);
    for (int i = 0; i < t->npre; i++)
        free(t->pre[i].a);
    free(t->pre);
    free(t->dec_replacement);
    free(t->tmpl);
    free(t->path);
    free(t->diag);
    free(t);
}

static int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static int file_exists(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* dir/name (dir = the directory part of file) */
static void sibling(const char *file, const char *name, char *out, size_t cap)
{
    const char *slash = strrchr(file, '/');
    if (slash)
        snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, name);
    else
        snprintf(out, cap, "%s", name);
}

/* A BPE vocabulary file and its merges file, whichever of the pair was named. */
static int load_pair(tokenizer *t, const char *file, const char *vocab_name, const char *merges_name, int named_vocab,
                     char *err, size_t errlen)
{
    char other[4096];
    sibling(file, named_vocab ? merges_name : vocab_name, other, sizeof other);
    if (!file_exists(other))
        return tok_errf(err, errlen, TOK_ERR_IO, "%s: needs %s beside it, and %s does not exist", file,
                        named_vocab ? merges_name : vocab_name, other);
    return named_vocab ? tok_load_byte_bpe(t, file, other, err, errlen) : tok_load_byte_bpe(t, other, file, err, errlen);
}

/* The format of a file, from its name. */
static int load_file(tokenizer *t, const char *file, char *err, size_t errlen)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    if (!strcmp(base, "vocab.json") || !strcmp(base, "merges.txt"))
        return load_pair(t, file, "vocab.json", "merges.txt", base[0] == 'v', err, errlen);
    if (!strcmp(base, "encoder.json") || !strcmp(base, "vocab.bpe"))
        return load_pair(t, file, "encoder.json", "vocab.bpe", base[0] == 'e', err, errlen);
    if (ends_with(base, ".json"))
        return tok_load_hf_json(t, file, err, errlen);
    if (ends_with(base, ".txt"))
        return tok_load_vocab_txt(t, file, err, errlen);
    return tok_load_llama2c(t, file, err, errlen);
}

/* A model directory: the first tokenizer file found, in order of preference. */
static int find_in_dir(const char *dir, char *path, size_t cap, char *err, size_t errlen)
{
    static const char *names[] = {"tokenizer.json", "vocab.json", "encoder.json", "vocab.txt", "tokenizer.bin"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, cap, "%s/%s", dir, names[i]);
        if (file_exists(path))
            return 0;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)))
        if (!strncmp(e->d_name, "tok", 3) && ends_with(e->d_name, ".bin")) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            found = file_exists(path);
        }
    if (d)
        closedir(d);
    if (found)
        return 0;
    return tok_errf(err, errlen, TOK_ERR_IO, "%s: no tokenizer file found in this directory (looked for tokenizer.json, "
                    "vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt, tokenizer.bin, tok*.bin)", dir);
}

/* ---- after loading ---- */

static void special_by_name(const tokenizer *t, int *slot, const char *const *names)
{
    for (; *slot < 0 && *names; names++)
        *slot = tokenizer_piece_id(t, *names);
}

int tok_finalize(tokenizer *t, char *err, size_t errlen)
{
    for (int i = 0; i < t->nadded; i++)
        if (tok_vocab_set(&t->vocab, t->added[i].id, t->added[i].text, t->added[i].len) < 0)
            return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", t->path);
    tok_added_index(t);
    tokenizer_specials *s = &t->specials;
    static const char *const bos[] = {"<s>", "<|begin_of_text|>", NULL}, *const eos[] = {"</s>", "<|end_of_text|>",
                                      "<|endoftext|>", NULL};
    static const char *const unk[] = {"<unk>", "[UNK]", NULL}, *const pad[] = {"<pad>", "[PAD]", NULL};
    static const char *const mask[] = {"<mask>", "[MASK]", NULL}, *const cls[] = {"[CLS]", NULL},
                             *const sep[] = {"[SEP]", NULL};
    if (t->model != TOK_MODEL_WORDPIECE) {
        special_by_name(t, &s->bos, bos);
        special_by_name(t, &s->eos, eos);
    }
    special_by_name(t, &s->unk, unk);
    special_by_name(t, &s->pad, pad);
    special_by_name(t, &s->mask, mask);
    special_by_name(t, &s->cls, cls);
    special_by_name(t, &s->sep, sep);
    for (int i = 0; i < t->ntmpl; i++)
        if (t->tmpl[i] != TOK_TMPL_TEXT && !tok_vocab_piece(&t->vocab, t->tmpl[i], NULL))
            return tok_errf(err, errlen, TOK_ERR_FORMAT, "%s: the template's special token id %d is not in the "
                            "vocabulary", t->path, t->tmpl[i]);
    return 0;
}

int tokenizer_open(tokenizer **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    char found[4096];
    const char *file = path;
    if (is_dir(path)) {
        int rc = find_in_dir(path, found, sizeof found, err, errlen);
        if (rc)
            return rc;
        file = found;
    } else if (!file_exists(path)) {
        return tok_errf(err, errlen, TOK_ERR_IO, "%s: no such file or directory", path);
    }
    tokenizer *t = tok_new(file);
    if (!t)
        return tok_errf(err, errlen, TOK_ERR_NOMEM, "%s: out of memory", file);
    int rc = load_file(t, file, err, errlen);
    if (!rc)
        rc = tok_finalize(t, err, errlen);
    if (rc) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- queries ---- */

const char *tokenizer_errmsg(const tokenizer *t)
{
    return t ? t->diag : "no tokenizer";
}

const char *tokenizer_kind(const tokenizer *t)
{
    return t->kind;
}

int tokenizer_vocab_size(const tokenizer *t)
{
    return t->vocab.n;
}

const tokenizer_specials *tokenizer_get_specials(const tokenizer *t)
{
    return &t->specials;
}

int tokenizer_piece_id(const tokenizer *t, const char *piece)
{
    size_t len = strlen(piece);
    int id = tok_vocab_find(&t->vocab, piece, len);
    for (int i = 0; id < 0 && i < t->nadded; i++)
        if (t->added[i].len == len && !memcmp(t->added[i].text, piece, len))
            id = t->added[i].id;
    return id;
}

const char *tokenizer_strerror(int code)
{
    switch (code) {
    case TOK_ERR_IO: return "cannot read the tokenizer file";
    case TOK_ERR_FORMAT: return "malformed tokenizer file";
    case TOK_ERR_NOMEM: return "out of memory";
    case TOK_ERR_UTF8: return "text is not valid UTF-8";
    case TOK_ERR_ARG: return "invalid argument";
    case TOK_ERR_UNSUPPORTED: return "unsupported tokenizer feature";
    case TOK_ERR_UNKNOWN: return "text holds a character no token covers";
    default: return code < 0 ? "tokenizer error" : "no error";
    }
}

/* ---- encoding ---- */

/* One word through the model. */
static int encode_word(const tokenizer *t, const char *w, size_t len, tok_ids *out, tok_merge_scratch *ms)
{
    if (t->model == TOK_MODEL_WORDPIECE)
        return tok_wordpiece_word(t, w, len, out);
    return tok_bpe_word(t, w, len, out, ms);
}

/* A span of text between added tokens: normalise, pre-tokenise, run the model on each word. */
static int encode_text(const tokenizer *t, const char *text, size_t len, int first, tok_ids *out, tok_merge_scratch *ms)
{
    if (t->model == TOK_MODEL_LLAMA2C)
        return tok_llama2c_encode(t, text, len, out, ms);
    tok_buf norm = {0};
    tok_words words = {0};
    int rc = tok_normalize(t, text, len, &norm);
    if (!rc)
        rc = tok_pretokenize(t, norm.p ? norm.p : "", norm.len, first, &words);
    for (int i = 0; i < words.n && !rc; i++)
        rc = encode_word(t, words.text.p + words.off[i], words.len[i], out, ms);
    free(norm.p);
    tok_words_free(&words);
    return rc;
}

static int encode_span(const tokenizer *t, const char *text, size_t len, tok_ids *out, tok_merge_scratch *ms)
{
    tok_segments segs = {0};
    int rc = tok_split_added(t, text, len, &segs);
    for (int i = 0; i < segs.n && !rc; i++) {
        const tok_segment *g = &segs.p[i];
        if (g->id >= 0)
            rc = tok_ids_push(out, g->id) ? TOK_ERR_NOMEM : 0;
        else
            rc = encode_text(t, text + g->off, g->len, g->off == 0, out, ms);
    }
    free(segs.p);
    return rc;
}

static int encode_all(const tokenizer *t, const char *text, size_t len, int flags, tok_ids *out)
{
    long bad = uc_invalid_at(text, len);
    if (bad >= 0)
        return tok_fail(t, TOK_ERR_UTF8, "text is not valid UTF-8: byte %ld (0x%02X)", bad,
                        (unsigned char)text[bad]);
    tok_merge_scratch ms = {0};
    tok_ids body = {0};
    int rc = encode_span(t, text, len, &body, &ms);
    tok_merge_scratch_free(&ms);
    if (!rc) {
        if (flags & TOK_ADD_SPECIAL && t->ntmpl) {
            for (int i = 0; i < t->ntmpl && !rc; i++)
                if (t->tmpl[i] == TOK_TMPL_TEXT) {
                    for (int k = 0; k < body.len && !rc; k++)
                        rc = tok_ids_push(out, body.p[k]) ? TOK_ERR_NOMEM : 0;
                } else {
                    rc = tok_ids_push(out, t->tmpl[i]) ? TOK_ERR_NOMEM : 0;
                }
        } else {
            *out = body;
            body = (tok_ids){0};
        }
    }
    free(body.p);
    return rc;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int flags, int *ids, int cap)
{
    if (!t || (!text && len) || cap < 0 || (cap && !ids))
        return TOK_ERR_ARG;
    tok_ids out = {0};
    int rc = encode_all(t, text ? text : "", len, flags, &out);
    if (rc == TOK_ERR_NOMEM)
        tok_fail(t, rc, "out of memory encoding %zu bytes of text", len);
    if (!rc) {
        int k = out.len < cap ? out.len : cap;
        if (k)
            memcpy(ids, out.p, (size_t)k * sizeof *ids);
        rc = out.len;
    }
    free(out.p);
    return rc;
}

/* ---- decoding ---- */

static int is_special(const tokenizer *t, int id)
{
    const tokenizer_specials *s = &t->specials;
    if (id == s->bos || id == s->eos || id == s->pad || id == s->mask || id == s->cls || id == s->sep)
        return 1;
    if (id == s->unk && !t->unk_is_text)
        return 1;
    for (int i = 0; i < t->nadded; i++)
        if (t->added[i].id == id && t->added[i].special)
            return 1;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte a "<0xNN>" piece stands for, or -1. */
static int byte_piece(const char *p, size_t n)
{
    if (n != 6 || memcmp(p, "<0x", 3) || p[5] != '>')
        return -1;
    int hi = hexval(p[3]), lo = hexval(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int put_bytelevel(const char *p, size_t n, tok_buf *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int k = uc_decode(p + i, n - i, &c);
        int b = k ? tok_char_byte(c) : -1;
        if (k == 0)
            k = 1;
        if (b >= 0 ? tok_buf_putc(out, (char)b) : tok_buf_put(out, p + i, (size_t)k))
            return -1;
        i += (size_t)k;
    }
    return 0;
}

static int put_metaspace(const tokenizer *t, const char *p, size_t n, tok_buf *out)
{
    const char *rep = t->dec_replacement ? t->dec_replacement : "\xe2\x96\x81";
    size_t rlen = strlen(rep);
    for (size_t i = 0; i < n;) {
        if (rlen && n - i >= rlen && !memcmp(p + i, rep, rlen)) {
            if (tok_buf_putc(out, ' '))
                return -1;
            i += rlen;
        } else if (tok_buf_putc(out, p[i++])) {
            return -1;
        }
    }
    return 0;
}

/* Appends the text of id; first = it starts the output (or follows BOS), where a leading space is dropped. */
static int piece_text(const tokenizer *t, int id, int first, tok_buf *out)
{
    size_t n;
    const char *p = tok_vocab_piece(&t->vocab, id, &n);
    if (!p)
        return tok_fail(t, TOK_ERR_ARG, "token id %d is not in the vocabulary (size %d)", id, t->vocab.n);
    if (is_special(t, id))
        return 0;
    int b = t->decode_flags & TOK_DEC_BYTE_PIECES ? byte_piece(p, n) : -1;
    if (b >= 0)
        return tok_buf_putc(out, (char)b) ? TOK_ERR_NOMEM : 0;
    size_t start = out->len;
    int rc = 0;
    int f = t->decode_flags;
    if (f & TOK_DEC_WORDPIECE) {
        const char *pre = t->subword_prefix ? t->subword_prefix : "##";
        size_t plen = strlen(pre);
        if (n >= plen && !memcmp(p, pre, plen))
            p += plen, n -= plen;
        else if (!first)
            rc = tok_buf_putc(out, ' ');
    }
    if (!rc)
        rc = f & TOK_DEC_BYTELEVEL ? put_bytelevel(p, n, out)
           : f & TOK_DEC_METASPACE ? put_metaspace(t, p, n, out) : tok_buf_put(out, p, n);
    if (rc)
        return TOK_ERR_NOMEM;
    int strip = t->model == TOK_MODEL_LLAMA2C || (f & TOK_DEC_STRIP_FIRST);
    if (first && strip && out->len > start && out->p[start] == ' ') {
        memmove(out->p + start, out->p + start + 1, out->len - start - 1);
        out->p[--out->len] = '\0';
    }
    return 0;
}

/* WordPiece's clean-up of spaces before punctuation and contractions. */
static void cleanup(tok_buf *b)
{
    static const char *from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (size_t k = 0; k < sizeof from / sizeof *from; k++) {
        size_t fl = strlen(from[k]), tl = strlen(to[k]), w = 0;
        for (size_t i = 0; i < b->len;) {
            if (b->len - i >= fl && !memcmp(b->p + i, from[k], fl)) {
                memmove(b->p + w, to[k], tl);
                w += tl;
                i += fl;
            } else {
                b->p[w++] = b->p[i++];
            }
        }
        b->len = w;
        if (b->p)
            b->p[w] = '\0';
    }
}

/* Copies at most cap - 1 bytes and a NUL into buf; returns the full length. */
static int copy_out(const tok_buf *out, char *buf, size_t cap)
{
    if (cap) {
        size_t k = out->len < cap - 1 ? out->len : cap - 1;
        if (k)
            memcpy(buf, out->p, k);
        buf[k] = '\0';
    }
    return (int)out->len;
}

int tokenizer_decode_token(const tokenizer *t, int prev, int id, char *buf, size_t cap)
{
    tok_buf out = {0};
    int rc = piece_text(t, id, prev < 0 || prev == t->specials.bos || prev == t->specials.cls, &out);
    if (!rc)
        rc = copy_out(&out, buf, cap);
    free(out.p);
    return rc;
}

int tokenizer_decode(const tokenizer *t, const int *ids, int n, char *buf, size_t cap)
{
    tok_buf out = {0};
    int rc = 0, first = 1;
    for (int i = 0; i < n && !rc; i++) {
        size_t before = out.len;
        rc = piece_text(t, ids[i], first, &out);
        if (out.len > before)
            first = 0;
    }
    if (!rc && t->decode_flags & TOK_DEC_CLEANUP)
        cleanup(&out);
    if (!rc)
        rc = copy_out(&out, buf, cap);
    free(out.p);
    return rc;
}
