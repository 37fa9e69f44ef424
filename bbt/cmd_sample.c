/* cmd_sample.c — `bbt sample`: draw k-shot train/dev splits from a full training file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bbt/commands.h"
#include "bbt/files.h"
#include "bbt/options.h"
#include "bbt/sample.h"
#include "bbt/util.h"

/* train.tsv or dev.tsv already in dir (a user's own data, or another draw): kept unless --force. */
static int check_no_splits(const char *dir, int force, bbt_error *err)
{
    const char *names[] = {"train.tsv", "dev.tsv"};
    for (int i = 0; i < 2 && !force; i++) {
        char *p = path_join(dir, names[i]);
        int exists = access(p, F_OK) == 0;
        free(p);
        if (exists)
            return bbt_fail(err, "--out %s already holds %s; give --force to replace it, or another --out", dir,
                            names[i]);
    }
    return 0;
}

static int write_splits(const char *dir, const table *train, const table *dev, bbt_error *err)
{
    char *tp = path_join(dir, "train.tsv"), *dp = path_join(dir, "dev.tsv");
    int rc = table_write_tsv(train, tp, err) || table_write_tsv(dev, dp, err);
    free(tp);
    free(dp);
    return rc ? -1 : 0;
}

/* What was drawn and what was dropped, on stderr (stdout stays empty: nothing to pipe). */
static void report(const table *in, const table *train, const table *dev, const sample_counts *c, const char *out)
{
    fprintf(stderr, "bbt sample: %s: %d rows, %d duplicate%s dropped (same text as an earlier row", in->path, in->n_rows,
            c->n_duplicates, c->n_duplicates == 1 ? "" : "s");
    if (c->n_conflicting)
        fprintf(stderr, "; %d of them with another label, the first row's label kept", c->n_conflicting);
    char cols[512];
    fprintf(stderr, ")\nbbt sample: %d train and %d dev examples (%d classes) written to %s, columns %s\n", train->n_rows,
            dev->n_rows, c->n_classes, out, table_col_names(train, cols, sizeof cols));
}

int cmd_sample(int argc, char **argv)
{
    char *input = NULL, *out = NULL, *text_col = NULL, *text_b_col = NULL, *label_col = NULL;
    int k = 16, seed = 13, force = 0, normalise = 0;
    const opt opts[] = {
        {"input", OPT_STR, &input, "FILE", "full training file: TSV, CSV or JSONL with a header/keys (required)"},
        {"k", OPT_INT, &k, "K", "examples per class in each split (16)"},
        {"seed", OPT_INT, &seed, "S", "sampling seed (13)"},
        {"out", OPT_STR, &out, "DIR", "where train.tsv and dev.tsv go (required)"},
        {"text-col", OPT_STR, &text_col, "NAME", "text column (default: found by name: text, sentence, …)"},
        {"text-b-col", OPT_STR, &text_b_col, "NAME", "second text column of a pair task (sentence2, hypothesis, …)"},
        {"label-col", OPT_STR, &label_col, "NAME", "label column (default: label, gold_label, class, …)"},
        {"normalise", OPT_FLAG, &normalise, NULL, "write text,label (pairs: text_a,text_b,label), the layout the "
         "built-in tasks read, instead of the input's columns"},
        {"force", OPT_FLAG, &force, NULL, "replace train.tsv and dev.tsv already in --out"},
    };
    const opt_spec spec = {"bbt sample --input FULL_TRAIN --k 16 --seed S --out DIR",
                           "Draw k examples per class for train and another k per class for dev, reproducibly, and "
                           "write them as TSV with the input's header and columns (a task file naming the input's "
                           "columns reads them as they are; --normalise for text,label).\nRows whose text repeats an "
                           "earlier row's are dropped first (the first is kept), so train and dev never share a text; "
                           "how many is printed.",
                           opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int n_pos, rc = opt_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc == 0 && (!input || !out)) {
        fprintf(stderr, "bbt sample: --input FILE and --out DIR are required\n");
        rc = -1;
    } else if (rc == 0 && k < 1) {
        fprintf(stderr, "bbt sample: --k %d: must be at least 1\n", k);
        rc = -1;
    }
    if (rc == 0) {
        bbt_error err;
        table in, train, dev;
        sample_options o = {k, (uint64_t)seed, text_col, text_b_col, label_col, normalise};
        sample_counts counts;
        rc = EXIT_OK;
        if (make_dirs(out, &err) ? bbt_prefix(&err, "--out ") : check_no_splits(out, force, &err)) {
            rc = EXIT_INPUT;
        } else if (table_read(&in, input, TABLE_AUTO, &err)) {
            rc = EXIT_INPUT;
        } else {
            if (sample_fewshot(&in, &o, &train, &dev, &counts, &err)) {
                rc = EXIT_INPUT;
            } else {
                if (write_splits(out, &train, &dev, &err))
                    rc = EXIT_RUNTIME;
                else
                    report(&in, &train, &dev, &counts, out);
                table_free(&train);
                table_free(&dev);
            }
            table_free(&in);
        }
        if (rc != EXIT_OK)
            fprintf(stderr, "bbt sample: %s\n", err.msg);
    } else {
        rc = rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    free(input);
    free(out);
    free(text_col);
    free(text_b_col);
    free(label_col);
    return rc;
}
