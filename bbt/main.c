/* main.c — the `bbt` program: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "bbt/commands.h"

typedef struct command {
    const char *name;
    command_fn run;
    const char *summary;
} command;

/* One line per subcommand; its function lives in bbt/cmd_<name>.c. */
static const command commands[] = {
    {"tune", cmd_tune, "tune a soft prompt with Black-Box Tuning (default: stories260K on SST-2)"},
    {"eval", cmd_eval, "score a run's prompt on dev, test or a file"},
    {"predict", cmd_predict, "predict labels for new inputs with a run's prompt"},
    {"plot", cmd_plot, "draw a run's loss.png and loss.svg (training loss, dev metric) with gnuplot"},
    {"sample", cmd_sample, "draw k-shot train/dev splits from a full training file"},
    {"tasks", cmd_tasks, "list the built-in tasks"},
    {"tokenize", cmd_tokenize, "text lines on stdin -> token ids with a model's tokenizer"},
    {"generate", cmd_generate, "continue a text with a model (greedy or sampled)"},
    {"bench", cmd_bench, "time the forward pass on a scoring batch; prints JSON"},
    {"info", cmd_info, "print a model's architecture, sizes, special tokens and embedding std as JSON"},
    {"serve", cmd_serve, "serve a model over HTTP: native BBT routes, vLLM/OpenAI-compatible completions"},
    {NULL, NULL, NULL}
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: bbt <command> [options]   (bbt <command> --help for its options)\n\ncommands:\n");
    for (const command *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    /* The forward pass runs on the engine's OpenMP pool; OpenBLAS (projection, CMA-ES) stays on the calling thread so
     * that two thread pools never spin against each other. */
    openblas_set_num_threads(1);
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_usage(stdout);
        return EXIT_OK;
    }
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "bbt: unknown command '%s'\n", argv[1]);
    print_usage(stderr);
    return EXIT_USAGE;
}
