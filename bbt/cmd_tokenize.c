/* cmd_tokenize.c — `bbt tokenize`: text lines on stdin → token ids on stdout, one line out per line in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/commands.h"
#include "bbt/options.h"
#include "models/tokenizer/tokenizer.h"

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
    char *path = NULL;
    int no_special = 0, pieces = 0;
    const opt opts[] = {
        {"tokenizer", OPT_STR, &path, "PATH", "a model directory, or the tokenizer's own file: tokenizer.json;\n"
                                              "vocab.json or merges.txt (the other beside it); encoder.json or\n"
                                              "vocab.bpe (GPT-2's names); vocab.txt (WordPiece); a llama2.c\n"
                                              "tokenizer.bin (required)"},
        {"no-special", OPT_FLAG, &no_special, NULL, "do not add the model's special tokens (BOS; <s> ... </s>;\n"
                                                    "[CLS] ... [SEP])"},
        {"pieces", OPT_FLAG, &pieces, NULL, "print the pieces' text (as decoded, in brackets) instead of ids"},
    };
    const opt_spec spec = {"bbt tokenize --tokenizer PATH [--no-special] [--pieces]",
                           "Reads UTF-8 text lines on stdin and prints each line's token ids, space-separated, one "
                           "output line per\ninput line (a trailing \\r\\n or \\n is not part of the text).",
                           opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int n_pos, rc = opt_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc == 0 && !path) {
        fprintf(stderr, "bbt tokenize: --tokenizer PATH is required (see --help)\n");
        rc = -1;
    }
    if (rc) {
        free(path);
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    tokenizer *t;
    char err[1024];
    rc = tokenizer_open(&t, path, err, sizeof err);
    free(path);
    if (rc) {
        fprintf(stderr, "bbt tokenize: %s\n", err);
        return EXIT_INPUT;
    }
    rc = tokenize_stream(t, stdin, no_special ? 0 : TOK_ADD_SPECIAL, pieces);
    tokenizer_free(t);
    return rc;
}
