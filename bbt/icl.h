/* icl.h — in-context learning's demonstrations: labelled training examples written out with the task's causal template
 * and their label word, put before the template of every example the model reads.
 *
 * Which ones: the training examples in an order drawn with the run's seed, one example of each class first (the first
 * of that class in the drawn order; when these do not fit, the shortest of each class), then every further example that
 * still fits, in the drawn order. "Fits": the demonstrations' tokens plus an example's own sequence (and the longest
 * label's extra tokens) stay within the model's positions for 95 % of the examples of every split (bbt/baseline.c); the
 * longer few lose words from their end, as any example too long for the model does.
 * The chosen demonstrations are written in the drawn order, one per line.
 */
#ifndef BBT_ICL_H
#define BBT_ICL_H

#include <stdint.h>

#include "bbt/dataset.h"
#include "bbt/error.h"
#include "bbt/task.h"
#include "models/lm.h"

/* The separator after each demonstration. */
#define ICL_SEPARATOR "\n"

typedef struct icl_demos {
    int n;          /* demonstrations chosen */
    int *index;     /* their indices in the training set, in the order they are written */
    int *tokens;    /* each one's length in tokens (separator included), as tokenized on its own */
    int n_tokens;   /* the sum */
    char *text;     /* all of them, each followed by ICL_SEPARATOR */
} icl_demos;

/* One demonstration: the task's causal template with the example's fields and its label word in place of <mask>
 * (" word" when label_space), {prompt} left out. malloc'ed. */
char *icl_render(const task *t, const example *e, int label_space);

/* The order in which training examples are offered (a permutation of 0..n-1 drawn with seed; n entries). */
void icl_order(int n, uint64_t seed, int *order);

/* Choose the demonstrations for a causal model m: room = the positions they may take (the model's positions minus the
 * length of example they must fit beside and the label's extra tokens). Fails, saying how many tokens are missing, when
 * even one demonstration per class (the shortest of each) does not fit. */
int icl_choose(lm *m, const task *t, const dataset *train, int label_space, uint64_t seed, int room, icl_demos *out,
               bbt_error *err);

/* Drop the last-written demonstration that is not the only one of its class (for when the chosen ones turn out not to
 * fit once joined to the examples: tokenization at the joins may differ by a token). 0 when one was dropped, -1 when
 * only one per class is left. */
int icl_drop_one(icl_demos *d, const dataset *train, const task *t, int label_space);

/* Put the demonstrations' text before the task's causal template (the task then reads them before every example). */
void icl_prepend(task *t, const char *text);

void icl_demos_free(icl_demos *d);

#endif
