/* cmd_tokenize.c — `bbt tokenize`: text lines on stdin → token ids on stdout, one line out per line in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/commands.h"
#include "models/tokenizer.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bbt tokenize --tokenizer PATH [--no-special] [--pieces]\n"
            "\n"
            "Reads UTF-8 text lines on stdin and prints each line's token ids, space-separated, one output line per\n"
            "input line (a trailing \\r\\n or \\n is not part of the text).\n"
            "\n"
            "  --tokenizer PATH  a model directory, or the tokenizer's own file: tokenizer.json; vocab.json or merges.txt\n"
            "                    (the other beside it); encoder.json or vocab.bpe (GPT-2's names); vocab.txt (WordPiece);\n"
            "                    a llama2.c tokenizer.bin\n"
            "  --no-special      do not add the model's special tokens (BOS; <s> ... </s>; [CLS] ... [SEP])\n"
            "  --pieces          print the pieces' text (as decoded, in brackets) instead of ids\n");
}

static int print_line(const tokenizer *t, const int *ids, int n, int pieces)
{
    for (int i = 0; i < n; i++) {
        if (!pieces) {
            printf(i ? " %d" : "%d", ids[i]);
            continue;
        }
        char buf[1024];
        if (tokenizer_decode_token(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf) < 0)
            return -1;
        printf(i ? " [%s]" : "[%s]", buf);
    }
    putchar('\n');
    return 0;
}

/* Encodes every line of in; returns an exit code. */
static int tokenize_stream(const tokenizer *t, FILE *in, int flags, int pieces)
{
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int cap = 256, rc = EXIT_OK;
    int *ids = malloc((size_t)cap * sizeof *ids);
    long line_no = 0;
    while (ids && rc == EXIT_OK && (len = getline(&line, &lcap, in)) >= 0) {
        line_no++;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        int n = tokenizer_encode(t, line, (size_t)len, flags, ids, cap);
        if (n > cap) {
            int *bigger = realloc(ids, (size_t)n * sizeof *ids);
            if (!bigger)
                break;
            ids = bigger;
            cap = n;
            n = tokenizer_encode(t, line, (size_t)len, flags, ids, cap);
        }
        if (n < 0) {
            fprintf(stderr, "bbt tokenize: stdin line %ld: %s\n", line_no, tokenizer_errmsg(t));
            rc = EXIT_INPUT;
        } else if (print_line(t, ids, n, pieces)) {
            fprintf(stderr, "bbt tokenize: stdin line %ld: %s\n", line_no, tokenizer_errmsg(t));
            rc = EXIT_RUNTIME;
        }
    }
    if (!ids) {
        fprintf(stderr, "bbt tokenize: out of memory\n");
        rc = EXIT_RUNTIME;
    }
    free(ids);
    free(line);
    if (rc == EXIT_OK && (ferror(in) || fflush(stdout))) {
        fprintf(stderr, "bbt tokenize: %s\n", ferror(in) ? "error reading stdin" : "error writing stdout");
        rc = EXIT_RUNTIME;
    }
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int flags = TOK_ADD_SPECIAL, pieces = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--no-special")) {
            flags &= ~TOK_ADD_SPECIAL;
        } else if (!strcmp(argv[i], "--pieces")) {
            pieces = 1;
        } else {
            fprintf(stderr, "bbt tokenize: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, "bbt tokenize: --tokenizer PATH is required\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    tokenizer *t;
    char err[1024];
    if (tokenizer_open(&t, path, err, sizeof err)) {
        fprintf(stderr, "bbt tokenize: %s\n", err);
        return EXIT_INPUT;
    }
    int rc = tokenize_stream(t, stdin, flags, pieces);
    tokenizer_free(t);
    return rc;
}
