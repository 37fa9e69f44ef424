/* tok_internal.h — the tokenizer handle and the pieces shared by the format loaders and the encoders.
 * Not a public header: the engine uses models/tokenizer.h only.
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

#include "models/tok_merge.h"
#include "models/tok_vocab.h"
#include "models/tokenizer.h"

/* ---- growable buffers ---- */
typedef struct tok_buf {
    char *p;
    size_t len, cap;
} tok_buf;

typedef struct tok_ids {
    int *p;
    int len, cap;
} tok_ids;

int tok_buf_put(tok_buf *b, const char *s, size_t n);
int tok_buf_putc(tok_buf *b, char c);
int tok_ids_push(tok_ids *v, int id);

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
    tok_added *added;
    int nadded;
    tok_norm_step *norm;
    int nnorm;
    tok_pre_step *pre;
    int npre;
    int *tmpl;                  /* template for TOK_ADD_SPECIAL: ids, TOK_TMPL_TEXT for the text */
    int ntmpl;
    int decode_flags;
    char *dec_replacement;      /* the Metaspace character, "▁" by default */

    char *diag;                 /* message of the last failure (mutable through a const handle) */
};

#define TOK_TMPL_TEXT (-1)
#define TOK_DIAG_LEN 512

int tok_fail(const tokenizer *t, int code, const char *fmt, ...);
int tok_errf(char *err, size_t errlen, int code, const char *fmt, ...);

tokenizer *tok_new(const char *path);

/* Loaders: fill in t from a file; on failure return a negative code with the message in err. */
int tok_load_llama2c(tokenizer *t, const char *path, char *err, size_t errlen);

/* Model steps: append the ids of one word (or, for llama2.c, a whole span of text) to out. */
int tok_llama2c_encode(const tokenizer *t, const char *text, size_t len, tok_ids *out, tok_merge_scratch *ms);

/* Reads a whole file; returns 0 or a negative code with the message in err. */
int tok_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

#endif
