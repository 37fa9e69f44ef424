/* tokenizer.h — text ⇄ token ids for every model family the engine reads.
 *
 * One opaque handle, opened from a model directory or from the tokenizer's own files; the format is detected:
 *   llama2.c tokenizer.bin (sentencepiece-style BPE with byte pieces <0xNN>);
 *   Hugging Face tokenizer.json (model "BPE" with byte fallback as in Llama-2, byte-level BPE as in GPT-2/RoBERTa/Llama-3/Qwen,
 *     "WordPiece" as in BERT);
 *   vocab.json + merges.txt (also GPT-2's original encoder.json + vocab.bpe);  vocab.txt (WordPiece).
 * No globals, nothing printed; errors come back as negative codes with a message naming the file and the problem.
 */
#ifndef BBT_MODELS_TOKENIZER_H
#define BBT_MODELS_TOKENIZER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tokenizer tokenizer;

/* Special token ids; -1 when the tokenizer has none. */
typedef struct tokenizer_specials {
    int bos, eos, pad, unk, mask, cls, sep;
} tokenizer_specials;

enum {
    TOK_ADD_SPECIAL = 1  /* wrap the text in the model's template: BOS …; <s> … </s>; [CLS] … [SEP] */
};

/* Error codes (negative). Added to the original interface: the codes and tokenizer_strerror. */
enum {
    TOK_ERR_IO = -1,          /* a file cannot be found or read */
    TOK_ERR_FORMAT = -2,      /* a tokenizer file is malformed or inconsistent (vocab vs merges, truncated, …) */
    TOK_ERR_NOMEM = -3,
    TOK_ERR_UTF8 = -4,        /* the text to encode is not well-formed UTF-8 */
    TOK_ERR_ARG = -5,         /* bad argument: NULL text, negative capacity, an id outside the vocabulary */
    TOK_ERR_UNSUPPORTED = -6, /* a tokenizer.json component this library does not implement */
    TOK_ERR_UNKNOWN = -7      /* a character that no token covers, in a vocabulary without an unknown token */
};

/* Open from a directory (looks for tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe, vocab.txt,
 * tokenizer.bin / tok*.bin) or a file. Returns 0, or a negative code with a message in err. */
int tokenizer_open(tokenizer **out, const char *path, char *err, size_t errlen);
void tokenizer_free(tokenizer *t);

/* The message of the last failed encode/decode call on this handle (names the problem, e.g. the byte offset of invalid
 * UTF-8). A handle is read-only while encoding except for this message: threads that share one handle get correct ids,
 * but the message then belongs to one of the failing calls. */
const char *tokenizer_errmsg(const tokenizer *t);
/* A fixed description of an error code. */
const char *tokenizer_strerror(int code);
const char *tokenizer_kind(const tokenizer *t);   /* "llama2c", "spm-bpe", "byte-bpe", "wordpiece" */
int tokenizer_vocab_size(const tokenizer *t);
const tokenizer_specials *tokenizer_get_specials(const tokenizer *t);

/* Encode len bytes of UTF-8 text. Writes up to cap ids; returns the number needed (> cap: call again with more room),
 * or a negative code. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int flags, int *ids, int cap);

/* The text of one token as it appears in decoded output, given the previous token (sentencepiece drops the leading
 * space after BOS). Writes a NUL-terminated string into buf; returns its length or a negative code. */
int tokenizer_decode_token(const tokenizer *t, int prev, int id, char *buf, size_t cap);

/* Decode a whole sequence, special tokens skipped (BOS/EOS/PAD/CLS/SEP/mask, added tokens marked special, the unknown
 * token unless a tokenizer.json gives an ordinary vocabulary piece as unk_token, as CraftGPT's "_", a space). Returns the
 * full length, writes at most cap-1 bytes + NUL. */
int tokenizer_decode(const tokenizer *t, const int *ids, int n, char *buf, size_t cap);

/* Id of an exact vocabulary piece (e.g. "<mask>", "▁great", "Ġgreat"), or -1. */
int tokenizer_piece_id(const tokenizer *t, const char *piece);

#ifdef __cplusplus
}
#endif
#endif
