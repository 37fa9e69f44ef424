/* task.h — a classification task as BBT sees it: a template that turns an example into model input, the label words
 * that the model scores in place of <mask>, and where the data's columns are.
 *
 * Templates are written once, for masked and causal models alike:
 *     "{prompt} . {text} . It was <mask> ."
 * {text}, {text_a}, {text_b} are the example's fields; <mask> is where a masked LM is read; {prompt} is where the soft
 * prompt goes (at the start when the template does not say). A causal LM reads the template up to <mask> as the prefix
 * and scores each label word as its continuation; a task may give a separate causal template for that (the built-ins do,
 * moving <mask> to the end).
 */
#ifndef BBT_TASK_H
#define BBT_TASK_H

#include "bbt/error.h"

typedef enum task_metric { METRIC_ACC = 0, METRIC_F1 = 1 } task_metric;

/* One piece of a parsed template. */
typedef enum tpl_kind { TPL_LITERAL, TPL_TEXT, TPL_TEXT_A, TPL_TEXT_B, TPL_PROMPT, TPL_MASK } tpl_kind;
typedef struct tpl_part {
    tpl_kind kind;
    char *literal;   /* TPL_LITERAL only */
} tpl_part;

typedef struct template_spec {
    char *source;    /* as written */
    tpl_part *parts;
    int n_parts;
} template_spec;

typedef struct task {
    char *name;
    char *description;
    template_spec masked;     /* the template for masked LMs (contains <mask>) */
    template_spec causal;     /* the template for causal LMs (<mask> last; text after it is ignored) */
    char *no_masked;          /* NULL, or why this task cannot run on a masked LM (then `masked` is empty) */
    char *no_causal;          /* NULL, or why this task cannot run on a causal LM (then `causal` is empty) */
    int pair;                 /* 1: examples have text_a and text_b; 0: one text */
    char *col_text_a;         /* column of {text} or {text_a} */
    char *col_text_b;         /* column of {text_b}; NULL for single-text tasks */
    char *col_label;
    int n_classes;
    char **label_words;       /* per class, in class order; may be several tokens long */
    char **label_names;       /* per class: a string the label column may hold instead of the index; NULL entries allowed */
    task_metric metric;       /* what selects the best prompt on dev: accuracy, or F1 of positive_class */
    int positive_class;
} task;

/* Names of the built-in tasks, NULL-terminated. */
const char *const *task_builtin_names(void);

/* Fill *t with a built-in task. Returns -1 with a message listing the known names when there is none by that name. */
int task_builtin(task *t, const char *name, bbt_error *err);

/* Load a user-defined task from a JSON file:
 *   {"name": "…", "template": "{prompt} {text} It was <mask> .", "causal_template": "…" (optional),
 *    "label_words": ["bad", "great"], "columns": {"text": "sentence", "text_b": "…", "label": "label"} (optional),
 *    "label_names": ["negative", "positive"] (optional), "metric": "acc" | "f1", "positive_class": 1}
 * Every problem is reported with the file and the field. A template without <mask> serves causal LMs only (the label
 * follows the template); one with text after <mask> serves masked LMs only unless "causal_template" is given. */
int task_load_json(task *t, const char *path, bbt_error *err);

/* The same from a JSON object already parsed (`bbt serve` receives task definitions in request bodies); `where` stands
 * for the file name in messages. */
struct cJSON;
int task_from_json_object(task *t, const struct cJSON *root, const char *where, bbt_error *err);

/* Parse a template string (exposed for tests). Fields the task lacks ({text_b} in a single-text task) are an error. */
int template_parse(template_spec *out, const char *source, int pair, bbt_error *err);

/* The class index for a label cell: an integer 0..n_classes-1, or one of label_names, or one of label_words. -1 if none. */
int task_class_of(const task *t, const char *cell);

void task_free(task *t);

#endif
