/* Tests of the untuned baselines (part of the test_bbt_core program): in-context demonstrations (bbt/icl.h) and
 * `bbt tune --baseline manual|icl` (bbt/baseline.h), on the real stories260K model and the shared SST-2 split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "bbt/baseline.h"
#include "bbt/files.h"
#include "bbt/icl.h"
#include "bbt/scorer.h"
#include "bbt/util.h"

#define MODEL "../shared/assets/models/stories260K"
#define SPLIT "../shared/assets/tasks/sst2/16-13/"

/* ---- demonstrations ---- */

Test(icl, order_is_a_permutation_drawn_by_the_seed)
{
    int a[32], b[32], c[32], seen[32] = {0};
    icl_order(32, 13, a);
    icl_order(32, 13, b);
    icl_order(32, 42, c);
    for (int i = 0; i < 32; i++)
        seen[a[i]]++;
    for (int i = 0; i < 32; i++)
        cr_assert_eq(seen[i], 1, "index %d drawn %d times", i, seen[i]);
    cr_assert(!memcmp(a, b, sizeof a), "the same seed draws the same order");
    cr_assert(memcmp(a, c, sizeof a), "another seed draws another order");
}

Test(icl, a_demonstration_is_the_causal_template_with_its_label_word)
{
    task t;
    bbt_error err;
    cr_assert_eq(task_builtin(&t, "sst2", &err), 0, "%s", err.msg);
    example e = {"a fine film", NULL, 1, 2};
    char *with_space = icl_render(&t, &e, 1), *without = icl_render(&t, &e, 0);
    /* the causal template "{prompt} . {text} . It was <mask>": no prompt, no leading space, the word after "was" */
    cr_assert_str_eq(with_space, ". a fine film . It was great");
    cr_assert_str_eq(without, ". a fine film . It wasgreat");
    free(with_space);
    free(without);
    example rte = {"it rains", "the ground is wet", 0, 2};
    task_free(&t);
    cr_assert_eq(task_builtin(&t, "rte", &err), 0, "%s", err.msg);
    char *pair = icl_render(&t, &rte, 1);
    cr_assert(strstr(pair, "it rains") && strstr(pair, "the ground is wet") && strstr(pair, t.label_words[0]), "%s",
              pair);
    cr_assert(!strstr(pair, "{") && !strstr(pair, "<mask>"), "%s", pair);
    free(pair);
    task_free(&t);
}

static void open_manual_scorer(scorer *s)
{
    tune_config c;
    tune_config_init(&c);
    config_set(&c.model, MODEL);
    config_set(&c.task, "sst2");
    c.prompt_mode = LM_PROMPT_NONE;
    c.prompt_len = 0;
    c.dtype = LM_F32;
    c.threads = 1;
    bbt_error err;
    cr_assert_eq(scorer_open(s, &c, &err), 0, "%s", err.msg);
    tune_config_free(&c);
}

Test(icl, one_per_class_then_as_many_as_fit)
{
    scorer s;
    open_manual_scorer(&s);
    dataset train;
    bbt_error err;
    cr_assert_eq(dataset_load(&train, SPLIT "train.tsv", &s.task, DATA_NEED_LABELS, &err), 0, "%s", err.msg);
    icl_demos d;
    /* all the room in the world: every training example */
    cr_assert_eq(icl_choose(s.model, &s.task, &train, 1, 13, 1 << 20, &d, &err), 0, "%s", err.msg);
    cr_assert_eq(d.n, train.n);
    int sum = 0;
    for (int i = 0; i < d.n; i++)
        sum += d.tokens[i];
    cr_assert_eq(sum, d.n_tokens);
    icl_demos_free(&d);
    /* room for about two: still one of each class, and within the room */
    int shortest = 1 << 30;
    cr_assert_eq(icl_choose(s.model, &s.task, &train, 1, 13, 1 << 20, &d, &err), 0);
    for (int i = 0; i < d.n; i++)
        if (d.tokens[i] < shortest)
            shortest = d.tokens[i];
    icl_demos_free(&d);
    int room = 2 * shortest + 40;
    cr_assert_eq(icl_choose(s.model, &s.task, &train, 1, 13, room, &d, &err), 0, "%s", err.msg);
    int per_class[2] = {0};
    for (int i = 0; i < d.n; i++)
        per_class[train.ex[d.index[i]].label]++;
    cr_assert(per_class[0] >= 1 && per_class[1] >= 1, "classes %d/%d", per_class[0], per_class[1]);
    cr_assert_leq(d.n_tokens, room);
    cr_assert_lt(d.n, train.n);
    /* the text is the demonstrations, one per line */
    int lines = 0;
    for (const char *p = d.text; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, d.n);
    icl_demos_free(&d);
    /* no room at all: an error that says the context is too short */
    cr_assert_eq(icl_choose(s.model, &s.task, &train, 1, 13, 5, &d, &err), -1);
    cr_assert(strstr(err.msg, "one demonstration per class") && strstr(err.msg, "too short"), "%s", err.msg);
    dataset_free(&train);
    scorer_close(&s);
}

/* ---- bbt tune --baseline ---- */

static char *temp_dir(void)
{
    char dir[] = "/tmp/bbt-baseline-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    return xstrdup(dir);
}

static cJSON *run_baseline(baseline_kind kind, const char *dir)
{
    tune_config c;
    tune_config_init(&c);
    config_set(&c.model, MODEL);
    config_set(&c.task, "sst2");
    config_set(&c.train, SPLIT "train.tsv");
    config_set(&c.dev, SPLIT "dev.tsv");
    config_set(&c.test, SPLIT "dev.tsv"); /* a small test split: the dev file again */
    c.baseline = kind;
    c.dtype = LM_F32;
    c.threads = 1;
    char *summary;
    bbt_error err;
    cr_assert_eq(baseline_run(&c, dir, &summary, &err), 0, "%s", err.msg);
    tune_config_free(&c);
    cJSON *o = cJSON_Parse(summary);
    free(summary);
    cr_assert_not_null(o);
    return o;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "summary.json lacks %s", key);
    return v->valuedouble;
}

/* The manual baseline's metrics are the model's on the template alone: scored here by hand with no prompt. */
Test(baseline, manual_scores_the_template_alone)
{
    char *dir = temp_dir();
    cJSON *sum = run_baseline(BASELINE_MANUAL, dir);
    scorer s;
    open_manual_scorer(&s);
    dataset d;
    encoded_set e;
    bbt_error err;
    cr_assert_eq(scorer_load(&s, SPLIT "dev.tsv", 1, &d, &e, &err), 0, "%s", err.msg);
    for (int i = 0; i < e.n; i++)
        cr_assert_eq(e.seqs[i].mode, LM_PROMPT_NONE);
    float *scores = xmalloc((size_t)e.n * 2 * sizeof *scores);
    cr_assert_eq(scorer_score(&s, &e, NULL, 1, scores, &err), 0, "%s", err.msg);
    double acc = metric_accuracy(scores, e.labels, e.n, 2), loss;
    scorer_losses(&s, &e, scores, 1, &loss);
    cr_assert_float_eq(num(sum, "dev_acc"), acc, 1e-12);
    cr_assert_float_eq(num(sum, "test_acc"), acc, 1e-12);
    cr_assert_float_eq(num(sum, "dev_loss"), loss, 1e-9);
    cr_assert(num(sum, "train_acc") >= 0 && num(sum, "train_acc") <= 1);
    cr_assert_eq(num(sum, "evals"), 0);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(sum, "baseline")->valuestring, "manual");
    tune_config back;
    char *config = path_join(dir, "config.json");
    cr_assert_eq(tune_config_load(&back, config, &err), 0, "%s", err.msg);
    cr_assert_eq(back.baseline, BASELINE_MANUAL);
    tune_config_free(&back);
    free(config);
    free(scores);
    encoded_set_free(&e);
    dataset_free(&d);
    scorer_close(&s);
    cJSON_Delete(sum);
    free(dir);
}

Test(baseline, icl_puts_demonstrations_before_every_example)
{
    char *dir = temp_dir();
    cJSON *sum = run_baseline(BASELINE_ICL, dir);
    int n = (int)num(sum, "demonstrations");
    cr_assert_geq(n, 2, "one per class at least");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(sum, "demonstration_lines");
    cr_assert_eq(cJSON_GetArraySize(lines), n);
    const cJSON *trunc = cJSON_GetObjectItemCaseSensitive(sum, "truncated_examples");
    cr_assert_eq(num(trunc, "dev"), 0, "no example loses words to the demonstrations");
    char *path = path_join(dir, "demonstrations.txt");
    bbt_error err;
    char *text = read_file(path, NULL, &err);
    cr_assert_not_null(text, "%s", err.msg);
    int count = 0;
    for (const char *p = text; *p; p++)
        count += *p == '\n';
    cr_assert_eq(count, n);
    cr_assert(strstr(text, "It was great") && strstr(text, "It was bad"), "%s", text);
    free(text);
    free(path);
    cJSON_Delete(sum);
    free(dir);
}
