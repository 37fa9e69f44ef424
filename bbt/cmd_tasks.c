/* cmd_tasks.c — `bbt tasks`: the built-in tasks, their templates and label words. */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bbt/commands.h"
#include "bbt/options.h"
#include "bbt/task.h"

static cJSON *task_to_json(const task *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "description", t->description);
    cJSON_AddStringToObject(o, "template", t->masked.source);
    cJSON_AddStringToObject(o, "causal_template", t->causal.source);
    cJSON_AddItemToObject(o, "label_words", cJSON_CreateStringArray((const char *const *)t->label_words, t->n_classes));
    cJSON_AddStringToObject(o, "metric", t->metric == METRIC_F1 ? "f1" : "acc");
    cJSON_AddNumberToObject(o, "positive_class", t->positive_class);
    return o;
}

static void print_task(const task *t)
{
    printf("%s — %s\n  template (masked LM): %s\n  template (causal LM): %s\n  label words:", t->name, t->description,
           t->masked.source, t->causal.source);
    for (int c = 0; c < t->n_classes; c++)
        printf(" %d=%s", c, t->label_words[c]);
    printf("\n  columns: %s%s%s, %s; metric: %s\n\n", t->col_text_a, t->pair ? ", " : "", t->pair ? t->col_text_b : "",
           t->col_label,
           t->metric != METRIC_F1 ? "accuracy" : t->n_classes > 2 ? "macro-F1" : "F1 of the positive class");
}

int cmd_tasks(int argc, char **argv)
{
    int json = 0;
    const opt opts[] = {{"json", OPT_FLAG, &json, NULL, "print a JSON array instead of text"}};
    const opt_spec spec = {"bbt tasks [--json]",
                           "List the built-in tasks: templates ({prompt} marks the soft prompt, <mask> the label word), "
                           "label words in class order, columns and the dev metric.",
                           opts, 1, 0};
    int n_pos, rc = opt_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc)
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    cJSON *all = cJSON_CreateArray();
    for (const char *const *name = task_builtin_names(); *name; name++) {
        task t;
        bbt_error err;
        if (task_builtin(&t, *name, &err)) {
            fprintf(stderr, "bbt tasks: %s\n", err.msg);
            cJSON_Delete(all);
            return EXIT_RUNTIME;
        }
        if (json)
            cJSON_AddItemToArray(all, task_to_json(&t));
        else
            print_task(&t);
        task_free(&t);
    }
    if (json) {
        char *text = cJSON_Print(all);
        printf("%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(all);
    return EXIT_OK;
}
