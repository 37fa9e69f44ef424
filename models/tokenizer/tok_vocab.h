/* tok_vocab.h — the piece table of a tokenizer: id ⇄ bytes, with a hash index for piece → id.
 *
 * Pieces are byte strings (they may hold any byte, NUL included); each is stored once in an arena and also
 * NUL-terminated for convenience. Ids may have holes (a vocab.json that skips an id): a hole has no piece.
 */
#ifndef BBT_MODELS_TOK_VOCAB_H
#define BBT_MODELS_TOK_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_vocab {
    int n;                 /* ids are 0..n-1 */
    int cap;               /* allocated length of off/len */
    uint32_t *off;         /* piece start in bytes; UINT32_MAX for a hole */
    uint32_t *len;
    char *bytes;           /* arena of all pieces, each followed by a NUL */
    size_t nbytes, bytes_cap;
    uint32_t *slots;       /* open-addressing index: id + 1, or 0 for empty */
    uint32_t nslots;       /* power of two */
    int nindexed;
} tok_vocab;

void tok_vocab_init(tok_vocab *v);
void tok_vocab_free(tok_vocab *v);

/* Sets the piece of id (growing the table); the first id given a piece stays the one found by tok_vocab_find.
 * Returns 0, 1 if the id already had a piece (left unchanged), or -1 when out of memory. */
int tok_vocab_set(tok_vocab *v, int id, const char *piece, size_t len);

/* Id of the piece, or -1. */
int tok_vocab_find(const tok_vocab *v, const char *piece, size_t len);

/* Piece of id (NUL-terminated) and its length; NULL for an id out of range or a hole. */
const char *tok_vocab_piece(const tok_vocab *v, int id, size_t *len);

/* The hash every table of the tokenizer uses (64-bit FNV-1a folded). */
uint32_t tok_hash_bytes(const char *s, size_t len);

#endif
