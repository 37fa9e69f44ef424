/* fuzz_task.c — libFuzzer target for task_load_json, the reader of user task files (--task-file): the JSON keys, the
 * templates inside them ({text}, {text_b}, {prompt}, <mask>), label words and names, metric and positive class.
 * A task that loads is used as a run uses it: every label cell looked up, the class of a few fixed cells found. */
#include <stddef.h>
#include <stdint.h>

#include "bbt/task.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("task.json", data, size);
    task t;
    bbt_error err;
    int rc = task_load_json(&t, path, &err);
    fuzz_note("task", rc, err.msg);
    if (rc == 0) {
        const char *cells[] = {"0", "1", "-1", "99999999999", "", "positive", "great"};
        for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
            task_class_of(&t, cells[i]);
        for (int c = 0; c < t.n_classes; c++) {
            if (task_class_of(&t, t.label_words[c]) < 0)
                abort(); /* a label word always names a class */
            if (t.label_names && t.label_names[c])
                task_class_of(&t, t.label_names[c]);
        }
        task_free(&t);
    }
    return 0;
}
