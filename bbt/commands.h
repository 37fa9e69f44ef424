/* commands.h — the subcommands of the `bbt` program.
 *
 * Each subcommand is one function `int cmd_NAME(int argc, char **argv)` in a file of its own (bbt/cmd_*.c), registered in
 * the table in bbt/main.c. argv[0] is the subcommand's name; the function parses its own options, prints its own --help,
 * and returns one of the exit codes below (never calls exit()).
 */
#ifndef BBT_COMMANDS_H
#define BBT_COMMANDS_H

enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,    /* bad command line */
    EXIT_INPUT = 2,    /* bad input file or data */
    EXIT_RUNTIME = 3   /* runtime or remote failure (the run can be resumed) */
};

typedef int (*command_fn)(int argc, char **argv);

/* The subcommands, in the order `bbt --help` lists them. */
int cmd_tune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_serve(int argc, char **argv);   /* bbt/serve/cmd_serve.c */

#endif
