/* fuzz_data.c — libFuzzer target for the data-file readers: table_parse (TSV, CSV with quotes and embedded newlines,
 * JSONL, and format detection), table_parse_lines (headerless text), and dataset_from_table (columns and labels through
 * a task). The first input byte chooses the format, the task (single text or pair) and whether labels are required;
 * the rest is the file. The seeds carry that byte in front of a few lines of the shared tasks' files. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/dataset.h"
#include "bbt/table.h"
#include "bbt/task.h"
#include "tests/fuzz/fuzz_file.h"

static void load_examples(const table *tb, const char *task_name, int flags)
{
    task t;
    bbt_error err;
    if (task_builtin(&t, task_name, &err))
        abort();
    dataset d;
    int rc = dataset_from_table(&d, tb, &t, flags, &err);
    fuzz_note("dataset", rc, err.msg);
    if (rc == 0) {
        int counts[64] = {0};
        if (d.n_classes > 64)
            abort();
        dataset_class_counts(&d, counts);
        dataset_free(&d);
    }
    task_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    static const table_format formats[] = {TABLE_AUTO, TABLE_TSV, TABLE_CSV, TABLE_JSONL};
    /* a pair task (rte: columns text_a, text_b, label) or a single-text one (sst2: text, label) */
    const char *task_name = (mode & 4) ? "rte" : "sst2";
    int flags = (mode & 8) ? DATA_NEED_LABELS : 0;

    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    table tb;
    bbt_error err;
    int rc;
    if (mode & 16) {
        char *const single[] = {"text"}, *const pair[] = {"text_a", "text_b"};
        rc = (mode & 4) ? table_parse_lines(&tb, "fuzz.txt", text, pair, 2, &err)
                        : table_parse_lines(&tb, "fuzz.txt", text, single, 1, &err);
    } else {
        rc = table_parse(&tb, "fuzz", text, size - 1, formats[mode & 3], &err);
    }
    fuzz_note("table", rc, err.msg);
    if (rc == 0) {
        char names[256];
        table_col_names(&tb, names, sizeof names);
        load_examples(&tb, task_name, flags);
        table_free(&tb);
    }
    free(text);
    return 0;
}
