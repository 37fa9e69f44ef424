/* tok_cli_main.c — `tok_cli`: the `bbt tokenize` subcommand as a program of its own, so the tokenizer tests need only
 * the tokenizer library (build/bbt also needs the engine). Usage: tok_cli tokenize --tokenizer PATH [...] */
#include <stdio.h>
#include <string.h>

#include "bbt/commands.h"

int cmd_tokenize(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "tokenize")) {
        fprintf(stderr, "usage: tok_cli tokenize --tokenizer PATH [--no-special] [--pieces]\n");
        return EXIT_USAGE;
    }
    return cmd_tokenize(argc - 1, argv + 1);
}
