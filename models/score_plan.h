/* score_plan.h — how a causal LM's score batch becomes rows, and which rows its sequences share (internal to models/).
 *
 * A sequence's rows are its trunk (the tokens up to the read position, with the prompt's rows inserted or added) and
 * one extra row per label token after a label's first. A causal model computes a row from the rows before it only, so
 * sequences whose trunks begin with the same input rows (the same tokens with the same prompt rows added, or the same
 * inserted prompt rows: in BBT every example of a candidate prompt starts with BOS and the prompt) have the same states,
 * keys and values for those rows at every layer. The planner finds such common prefixes and groups the sequences into
 * units: a unit is one sequence on its own, or a prefix computed once followed by the sequences that continue it, each
 * computing only its rows after the prefix while attending to the prefix's keys and values.
 */
#ifndef BBT_MODELS_SCORE_PLAN_H
#define BBT_MODELS_SCORE_PLAN_H

#include "models/lm.h"

/* One sequence of a score batch, as rows. */
typedef struct seq_plan {
    int read;          /* token index whose next-token distribution is read */
    int insert;        /* cat mode: the prompt's rows are inserted before token `insert`; -1 = not in the trunk */
    int trunk;         /* rows up to and including the read row, prompt rows included */
    int rows;          /* trunk + the extra rows of multi-token labels */
    int nout;          /* needed rows: the read row, then one per label token after a label's first */
} seq_plan;

/* Tokens scored of label j (1 with first_token_only). */
int label_len(const lm_batch *b, int j);

void plan_seq(const lm_batch *b, const lm_seq *q, seq_plan *p);

/* What goes into trunk row r of a sequence: token tok with prompt row j of prompt `prompt` added, or, tok = -1, that
 * prompt row inserted; j = -1 (and prompt = -1): the token alone. Rows with equal descriptions have equal inputs at
 * every layer (the input prompt and the deep prompts are both indexed by prompt and row). */
typedef struct trunk_row {
    int tok, prompt, j;
} trunk_row;

trunk_row trunk_row_at(const lm_batch *b, const lm_seq *q, const seq_plan *p, int r);

/* A unit of work: the sequences order[first .. first+count) (batch indices, ascending), which share their first `pre`
 * rows (pre = 0: one sequence on its own). Its forward pass runs `rows` rows: the prefix once, then each member's rows
 * after it; `index_rows` counts every member's rows prefix included (the attention rows), n_out the needed rows. */
typedef struct score_unit {
    int first, count, pre;
    int rows, index_rows, n_out;
    int lead;          /* order[first] */
} score_unit;

typedef struct score_units {
    int n;
    score_unit *u;     /* in the batch order of their first members */
    int *order;
    long long rows;    /* rows of all units: what the forward passes compute */
} score_units;

/* Plan the units of batch b (plan[s] for each sequence). A prefix is shared by two or more sequences when it is at
 * least min_pre rows long (min_pre <= 0: nothing is shared, one unit per sequence in batch order); it stops at least one
 * row short of each member's trunk, so that every member computes its own read row. The members of a long group are
 * spread over several units in balanced sizes, each computing the prefix again: as many as keep a unit within about
 * chunk_rows rows, and, where the groups have members enough, at least min_units units in all (so that the chunks can
 * go one per thread, see run_chunks). 0, or -1 (memory). */
int plan_units(const lm_batch *b, const seq_plan *plan, int min_pre, int chunk_rows, int min_units,
               score_units *out);
void score_units_free(score_units *u);

#endif
