/* cmd_plot.c — `bbt plot RUN`: the run's loss.png and loss.svg (bbt/plot.h). */
#include <stdio.h>

#include "bbt/commands.h"
#include "bbt/options.h"
#include "bbt/plot.h"

int cmd_plot(int argc, char **argv)
{
    const opt_spec spec = {"bbt plot RUN",
                           "Draw RUN/loss.png and RUN/loss.svg with gnuplot: the training loss of each generation "
                           "(population best and mean, best so far) and the dev metric against evaluations, the "
                           "untuned prompt's dev metric dashed and the kept prompt marked. The gnuplot script, data "
                           "inline, is kept as RUN/loss.gp (cd RUN; gnuplot loss.gp draws them again). Works on an "
                           "unfinished run too (no kept prompt yet). bbt tune draws them at the end of every run.\n"
                           "Without gnuplot on PATH it says so, writes only loss.gp and exits 0.",
                           NULL, 0, 1};
    char *pos[1];
    int n_pos, rc = opt_parse(&spec, argc, argv, pos, &n_pos);
    if (rc)
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    if (n_pos != 1) {
        fprintf(stderr, "bbt plot: give the run directory: bbt plot RUN\n");
        return EXIT_USAGE;
    }
    bbt_error err;
    rc = plot_run(pos[0], &err);
    if (rc < 0) {
        fprintf(stderr, "bbt plot: %s\n", err.msg);
        return EXIT_INPUT;
    }
    if (rc == PLOT_NO_GNUPLOT)
        fprintf(stderr, "bbt plot: gnuplot not found on PATH: no loss.png or loss.svg; %s/loss.gp written (gnuplot "
                        "loss.gp in that directory draws them)\n", pos[0]);
    else
        fprintf(stderr, "bbt plot: %s/loss.png and %s/loss.svg written\n", pos[0], pos[0]);
    return EXIT_OK;
}
