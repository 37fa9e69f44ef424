/* encode.h — from examples to model input: token ids, where the soft prompt goes, where the model is read.
 *
 * A template is split at {prompt} and <mask> into text chunks; each chunk is tokenized as it would be in the middle of
 * a sentence, so that "It was" and " It was" get the tokens the model saw in training (see encode.c for how). The model's
 * own special tokens (BOS; <s> … </s>; [CLS] … [SEP]) wrap the result.
 *   - "add" mode: L placeholder tokens stand where {prompt} is; the prompt A·z is added onto their embeddings, so p0 is
 *     the placeholders' embeddings. Placeholders: see encode_placeholders().
 *   - "cat" mode: the L prompt rows are inserted at {prompt}; p0 is zero or a given prompt.
 *   - masked LM: the sequence is read at <mask>; causal LM: everything after <mask> is dropped and the sequence is read at
 *     its last token, each label word being scored as the continuation.
 * Sequences longer than the model allows are shortened by dropping whole words from the end of the longest text field,
 * one word at a time in effect (the fewest that make it fit), found by bisection over the count.
 */
#ifndef BBT_ENCODE_H
#define BBT_ENCODE_H

#include "bbt/dataset.h"
#include "bbt/error.h"
#include "bbt/task.h"
#include "models/lm.h"

typedef struct encode_options {
    lm_prompt_mode mode;     /* LM_PROMPT_ADD or LM_PROMPT_CAT (LM_PROMPT_NONE: no prompt at all) */
    int prompt_len;          /* L */
    const int *placeholders; /* L token ids for add mode */
    int label_space;         /* 1: label words are scored as " word" (mid-sentence); 0: as "word" */
    int reserve;             /* positions to keep free after each sequence: a causal LM scores a label of k tokens
                                with k − 1 extra rows, so this is the longest label's length − 1 */
} encode_options;

/* The encoded examples of one split: sequences ready for lm_score, with their labels. */
typedef struct encoded_set {
    int n;
    lm_seq *seqs;      /* ids point into the set's own storage */
    int *labels;       /* class per sequence (-1 when unlabelled) */
    int n_truncated;   /* how many examples had to be shortened */
    int max_len;       /* longest sequence in tokens, prompt rows included */
    long total_tokens; /* sum of lengths, prompt rows included */
    int *storage;
} encoded_set;

/* The label words of a task as token sequences (class order). A masked LM reads only the first token of each, as the
 * reference does. A label word that tokenizes to nothing is an error. */
typedef struct encoded_labels {
    int n;
    lm_label *labels;
    int *storage;
} encoded_labels;

/* Placeholder tokens for add mode, a rule that works for any vocabulary: starting at id min(1000, V − L) — the reference's
 * 1000..1049 for RoBERTa — take the next L ids (wrapping round) that are not special tokens and decode to non-empty,
 * printable UTF-8. ids receives L ids. */
int encode_placeholders(lm *m, int prompt_len, int *ids, bbt_error *err);

int encode_dataset(lm *m, const task *t, const dataset *d, const encode_options *o, encoded_set *out, bbt_error *err);
void encoded_set_free(encoded_set *s);

int encode_labels(lm *m, const task *t, const encode_options *o, encoded_labels *out, bbt_error *err);
void encoded_labels_free(encoded_labels *l);

/* Encode one example (exposed for `bbt predict`): ids into a fresh buffer (caller frees). */
int encode_example(lm *m, const task *t, const example *e, const encode_options *o, int **ids, lm_seq *seq,
                   int *truncated, bbt_error *err);

#endif
