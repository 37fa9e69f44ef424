/* tok_internal.h — the tokenizer handle and the pieces shared by the format loaders and the encoders.
 * Not a public header: the engine uses models/tokenizer/tokenizer.h only.
 *
 * Encoding runs one pipeline for every format:
 *   added tokens split the text (tok_added.c) → each remaining span is normalised (tok_normalize.c) → cut into words
 *   (tok_pretokenize.c) → each word goes through the model (llama2.c score BPE, rank BPE, WordPiece) → the template adds
 *   the special tokens (TOK_ADD_SPECIAL).
 * Loaders (tok_llama2c.c, tok_hf_json.c, tok_files.c) only fill in the handle.
 */
#ifndef BBT_MODELS_TOK_INTERNAL_H
#define BBT_MODELS_TOK_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "models/tokenizer/tok_merge.h"
#include "models/tokenizer/tok_util.h"
#include "models/tokenizer/tok_vocab.h"
#include "models/tokenizer/tokenizer.h"

/* ---- the handle ---- */
enum tok_model { TOK_MODEL_LLAMA2C, TOK_MODEL_BPE, TOK_MODEL_WORDPIECE };

typedef struct tok_added {
    char *text;
    size_t len;
    int id;
    unsigned special : 1, lstrip : 1, rstrip : 1, single_word : 1;
} tok_added;

enum tok_norm_type {
    TOK_NORM_PREPEND,        /* a = the string */
    TOK_NORM_REPLACE,        /* a → b (literal) */
    TOK_NORM_LOWER,
    TOK_NORM_NFD,
    TOK_NORM_NFC,
    TOK_NORM_STRIP_ACCENTS,  /* drop Mn code points (after NFD) */
    TOK_NORM_STRIP,          /* flags: 1 left, 2 right (white space) */
    TOK_NORM_BERT            /* flags: TOK_BERT_* */
};
enum { TOK_BERT_CLEAN = 1, TOK_BERT_CHINESE = 2, TOK_BERT_STRIP_ACCENTS = 4, TOK_BERT_LOWER = 8 };

typedef struct tok_norm_step {
    enum tok_norm_type type;
    char *a, *b;
    size_t alen, blen;
    int flags;
} tok_norm_step;

enum tok_pre_type {
    TOK_PRE_BYTELEVEL,       /* flags: 1 add prefix space, 2 split with the GPT-2 pattern */
    TOK_PRE_SPLIT,           /* pattern: TOK_PAT_*; behavior: TOK_SPLIT_* */
    TOK_PRE_METASPACE,       /* a = replacement; flags: prepend scheme (TOK_META_*) | 4 split */
    TOK_PRE_BERT,            /* white space and punctuation */
    TOK_PRE_WHITESPACE,      /* \w+|[^\w\s]+ */
    TOK_PRE_WHITESPACE_SPLIT,
    TOK_PRE_DIGITS,          /* flags: 1 individual digits */
    TOK_PRE_PUNCT            /* behavior */
};
enum tok_pattern { TOK_PAT_GPT2, TOK_PAT_LLAMA3, TOK_PAT_QWEN2 };
enum tok_split { TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_MERGED_PREV, TOK_SPLIT_MERGED_NEXT, TOK_SPLIT_CONTIGUOUS };
enum { TOK_META_ALWAYS = 1, TOK_META_FIRST = 2, TOK_META_SPLIT = 4 };

typedef struct tok_pre_step {
    enum tok_pre_type type;
    enum tok_pattern pattern;
    enum tok_split behavior;
    int invert;
    int flags;
    char *a;
    size_t alen;
} tok_pre_step;

/* How pieces turn back into text. */
enum {
    TOK_DEC_BYTELEVEL = 1,     /* pieces are GPT-2 byte↔unicode characters */
    TOK_DEC_METASPACE = 2,     /* the replacement character (▁) stands for a space */
    TOK_DEC_BYTE_PIECES = 4,   /* <0xNN> pieces are raw bytes */
    TOK_DEC_STRIP_FIRST = 8,   /* drop one leading space of the output */
    TOK_DEC_WORDPIECE = 16,    /* ## continues a word, other pieces start one (with a space) */
    TOK_DEC_CLEANUP = 32       /* WordPiece clean-up: " ." → "." etc. */
};

struct tokenizer {
    enum tok_model model;
    const char *kind;
    char *path;                 /* the file the vocabulary came from, for messages */
    tok_vocab vocab;
    tokenizer_specials specials;

    /* llama2.c */
    float *scores;
    int space_id;               /* the dummy-prefix piece " " */

    /* BPE */
    struct tok_pairmap *merges;
    int byte_fallback;
    int fuse_unk;
    int ignore_merges;
    char *subword_prefix, *word_suffix;   /* BPE continuing_subword_prefix / end_of_word_suffix; WordPiece's "##" */
    int byte_ids[256];          /* <0xNN> pieces (byte fallback) or -1 */

    /* WordPiece */
    int max_word_chars;

    /* pipeline */
    tok_added *added;           /* sorted by first byte, longer first (tok_added_index) */
    int nadded;
    int added_first[257];       /* added[added_first[b] .. added_first[b+1]) start with byte b */
    tok_norm_step *norm;
    int nnorm;
    tok_pre_step *pre;
    int npre;
    int *tmpl;                  /* template for TOK_ADD_SPECIAL: ids, TOK_TMPL_TEXT for the text */
    int ntmpl;
    int decode_flags;
    int unk_is_text;            /* the unknown token is ordinary text (tokenizer.json whose unk_token is a vocabulary
                                   piece, not an added special token, e.g. CraftGPT's "_" = a space): decoding keeps it */
    char *dec_replacement;      /* the Metaspace character, "▁" by default */

    char *diag;                 /* message of the last failure (mutable through a const handle) */
};

/* Words of a pre-tokenised text: word i is text.p[off[i] .. off[i] + len[i]). */
typedef struct tok_words {
    tok_buf text;
    size_t *off, *len;
    int n, cap;
} tok_words;

/* Text cut at added tokens: id -1 for a span of text, else the added token's id. */
typedef struct tok_segment {
    size_t off, len;
    int id;
} tok_segment;

typedef struct tok_segments {
    tok_segment *p;
    int n, cap;
} tok_segments;

#define TOK_TMPL_TEXT (-1)
#define TOK_DIAG_LEN 512


tokenizer *tok_new(const char *path);

/* Loaders: fill in t from a file; on failure return a negative code with the message in err. */
int tok_load_llama2c(tokenizer *t, const char *path, char *err, size_t errlen);
int tok_load_hf_json(tokenizer *t, const char *path, char *err, size_t errlen);
int tok_parse_hf_json(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen);
int tok_load_byte_bpe(tokenizer *t, const char *vocab_path, const char *merges_path, char *err, size_t errlen);
int tok_load_vocab_txt(tokenizer *t, const char *path, char *err, size_t errlen);
/* The same from memory (for the loaders above and the fuzz targets); the byte-level BPE set-up is split so that the
 * vocabulary and merges can come from anywhere: tok_setup_byte_bpe, tok_parse_vocab_json, tok_parse_merges_txt (which
 * cuts lines in place and needs one byte of room after len), tok_finish_byte_bpe. */
int tok_parse_llama2c(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen);
int tok_parse_vocab_txt(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen);
int tok_setup_byte_bpe(tokenizer *t, const char *path, char *err, size_t errlen);
int tok_parse_vocab_json(tokenizer *t, const char *path, const char *data, size_t len, char *err, size_t errlen);
int tok_parse_merges_txt(tokenizer *t, const char *path, char *data, size_t len, char *err, size_t errlen);
int tok_finish_byte_bpe(tokenizer *t, const char *path, char *err, size_t errlen);
/* Adds merge number rank "a b" (checks both pieces and their concatenation are in the vocabulary); where names the
 * place in the file for messages. */
int tok_add_merge(tokenizer *t, const char *path, const char *where, int rank, const char *a, const char *b, char *err,
                  size_t errlen);

/* Model steps: append the ids of one word (or, for llama2.c, a whole span of text) to out. */
int tok_llama2c_encode(const tokenizer *t, const char *text, size_t len, tok_ids *out, tok_merge_scratch *ms);

/* Pipeline stages. */
int tok_added_add(tokenizer *t, const char *text, size_t len, int id, unsigned special);
void tok_added_index(tokenizer *t);
int tok_split_added(const tokenizer *t, const char *s, size_t len, tok_segments *out);
int tok_normalize(const tokenizer *t, const char *s, size_t len, tok_buf *out);
int tok_pretokenize(const tokenizer *t, const char *s, size_t len, int first, tok_words *out);
void tok_words_free(tok_words *w);
int tok_bpe_word(const tokenizer *t, const char *w, size_t len, tok_ids *out, tok_merge_scratch *ms);
int tok_wordpiece_word(const tokenizer *t, const char *w, size_t len, tok_ids *out);

/* Character facts shared by the stages. */
uint32_t tok_byte_char(unsigned b);     /* GPT-2 byte → unicode */
int tok_char_byte(uint32_t c);          /* its inverse, or -1 */
int tok_is_cjk(uint32_t c);
int tok_bert_space(uint32_t c);
int tok_is_bert_punct(uint32_t c);

/* After a loader: indexes the added tokens, fills in special ids found by their usual names. 0 or a negative code. */
int tok_finalize(tokenizer *t, char *err, size_t errlen);

/* Parses JSON into *root (a cJSON *, freed with cJSON_Delete); a syntax error names the file and the byte. */
int tok_json_parse(const char *path, const char *data, size_t len, void **root, char *err, size_t errlen);


#endif
