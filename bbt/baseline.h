/* baseline.h — runs without tuning, for the benchmark's baselines: `bbt tune --baseline manual|icl`.
 *
 *   manual: every example is read through the task's template with no soft prompt at all (no placeholder tokens, no
 *           A·z): the paper's "manual prompt" row.
 *   icl:    (causal LMs) the same, after as many labelled training examples written out with the template and their
 *           label word as fit the model's context, one per class at least, chosen with the run's seed (bbt/icl.h).
 *
 * The run directory is a normal one for the benchmark's scripts: config.json (with "baseline"), summary.json (the
 * fields of a tuned run's summary, with the train split's loss and metrics as well, evals 0, kept_prompt "none"), and
 * for icl demonstrations.txt (the text put before every example). No checkpoint, log or prompt files: there is nothing
 * to resume, and `bbt eval`/`bbt predict` do not apply.
 */
#ifndef BBT_BASELINE_H
#define BBT_BASELINE_H

#include "bbt/config.h"
#include "bbt/error.h"

/* Score cfg->baseline on train, dev and test (when cfg->test) and write the run into dir, which prepare_out_dir has
 * emptied. *summary gets summary.json's text (caller frees). */
int baseline_run(const tune_config *cfg, const char *dir, char **summary, bbt_error *err);

#endif
