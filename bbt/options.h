/* options.h — command-line options from a table, for the bbt subcommands.
 *
 * A subcommand lists its options once (name, kind, where the value goes, help text); parsing, error messages and the
 * --help text all come from that list. Options are `--name VALUE` or `--name=VALUE`; flags take no value.
 */
#ifndef BBT_OPTIONS_H
#define BBT_OPTIONS_H

#include <stdio.h>

/* OPT_STRS: a string option that may be repeated; the values given on one command line are joined with commas
 * ("--endpoint A --endpoint B" is "A,B", as "--endpoint A,B" is). */
typedef enum opt_kind { OPT_STR, OPT_INT, OPT_LONG, OPT_DBL, OPT_FLAG, OPT_STRS } opt_kind;

typedef struct opt {
    const char *name;      /* without the leading dashes */
    opt_kind kind;
    void *value;           /* char ** (replaced with a fresh copy; caller frees), int *, long *, double *, int * (flag);
                              OPT_STRS: char ** (the first occurrence replaces, later ones append) */
    const char *metavar;   /* e.g. "DIR"; NULL for flags */
    const char *help;
} opt;

typedef struct opt_spec {
    const char *usage;     /* "bbt tune [options]" */
    const char *summary;   /* one paragraph on what the command does */
    const opt *opts;
    int n_opts;
    int max_positional;    /* how many non-option arguments are allowed */
} opt_spec;

/* Parse argv[1..]; positional arguments go into pos (capacity spec->max_positional) and their count into *n_pos.
 * Returns 0, 1 when --help was printed (the command should return 0), or -1 after printing a usage error to stderr. */
int opt_parse(const opt_spec *spec, int argc, char **argv, char **pos, int *n_pos);

/* 1 if the option was given on this command line (for options whose default cannot tell). */
int opt_given(int argc, char **argv, const char *name);

void opt_print_help(const opt_spec *spec, FILE *out);

#endif
