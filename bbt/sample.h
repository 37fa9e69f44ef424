/* sample.h — drawing few-shot splits from a full training file.
 *
 * k examples per class for train and another k per class for dev, without overlap, reproducibly from a seed (its own
 * PCG stream): each class's rows are shuffled, the first k go to train and the next k to dev, then each split is
 * shuffled so that classes interleave. Rows whose text (text_a and text_b for a pair) is identical to an earlier row's
 * are dropped first, so that one text can never land in both splits (the first occurrence is kept, whatever its label).
 * Columns are found by name (or given). The output keeps the input's header and every column of the chosen rows, cells
 * as they were (a task file that names the input's columns reads the sampled files too); with `normalise`, it is the
 * layout of the shared tasks instead: text,label or text_a,text_b,label.
 */
#ifndef BBT_SAMPLE_H
#define BBT_SAMPLE_H

#include <stdint.h>

#include "bbt/error.h"
#include "bbt/table.h"

#define SAMPLE_STREAM 0x73616d706c65ULL /* "sample" */

typedef struct sample_options {
    int k;
    uint64_t seed;
    const char *text_col, *text_b_col, *label_col; /* NULL: found by common names (see sample.c) */
    int normalise;                                 /* 1: write text,label / text_a,text_b,label, not the input's columns */
} sample_options;

/* What the draw saw, for the user. */
typedef struct sample_counts {
    int n_duplicates;   /* rows dropped because an earlier row had the same text */
    int n_conflicting;  /* of those, rows whose label differed from the kept row's */
    int n_classes;
} sample_counts;

/* Fill train and dev (fresh tables) from in; counts (may be NULL) says what was dropped. Errors name the file, the
 * class and the counts (after de-duplication). */
int sample_fewshot(const table *in, const sample_options *o, table *train, table *dev, sample_counts *counts,
                   bbt_error *err);

#endif
