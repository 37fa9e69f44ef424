/* plot.h — a picture of a run: RUN/loss.png and RUN/loss.svg, drawn by gnuplot from log.jsonl and summary.json.
 *
 * Top panel, against evaluations: the training loss of each generation's population, its best (loss_min) and its mean
 * (loss_mean), and the best so far. Bottom panel: the dev metric at each dev evaluation (the distribution mean's and
 * the generation best's), the untuned prompt's (z = 0) as a dashed line, and the kept prompt marked with a ring and a
 * dotted line at the evaluation it was found (summary.json: kept_prompt, kept_at_evals; an unfinished run has none).
 * The gnuplot script, data inline, is kept as RUN/loss.gp: `cd RUN && gnuplot loss.gp` draws the same pictures again
 * (edit it to restyle them). gnuplot is looked for on PATH.
 */
#ifndef BBT_PLOT_H
#define BBT_PLOT_H

#include "bbt/error.h"

enum {
    PLOT_DRAWN = 0,       /* loss.png and loss.svg written */
    PLOT_NO_GNUPLOT = 1   /* no gnuplot on PATH: only loss.gp was written */
};

/* Plot the run in dir. Returns PLOT_DRAWN, PLOT_NO_GNUPLOT, or -1 with a message (no log yet, a damaged log line,
 * gnuplot's own error). Prints nothing. */
int plot_run(const char *dir, bbt_error *err);

#endif
