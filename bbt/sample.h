/* sample.h — drawing few-shot splits from a full training file.
 *
 * k examples per class for train and another k per class for dev, without overlap, reproducibly from a seed (its own
 * PCG stream): each class's rows are shuffled, the first k go to train and the next k to dev, then each split is
 * shuffled so that classes interleave. Columns are found by name (or given), and the output is the normalised layout of
 * the shared tasks: text,label or text_a,text_b,label, labels as they were in the input.
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
} sample_options;

/* Fill train and dev (fresh tables) from in. Errors name the file, the class and the counts. */
int sample_fewshot(const table *in, const sample_options *o, table *train, table *dev, bbt_error *err);

#endif
