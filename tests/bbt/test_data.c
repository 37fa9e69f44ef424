/* Tests of the model-free parts of bbt/: tasks and templates, data files, losses and metrics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bbt/dataset.h"
#include "bbt/files.h"
#include "bbt/metrics.h"
#include "bbt/table.h"
#include "bbt/task.h"
#include "bbt/util.h"

#define ASSETS "../shared/assets"

/* A file with the given content in a fresh temporary directory; the caller frees the path. */
static char *temp_file(const char *name, const char *content)
{
    char dir[] = "/tmp/bbt-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *path = path_join(dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* ---- tasks ---- */

Test(task, builtins_have_reference_label_words)
{
    bbt_error err;
    task t;
    cr_assert_eq(task_builtin(&t, "sst2", &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_classes, 2);
    cr_assert_str_eq(t.label_words[0], "bad");
    cr_assert_str_eq(t.label_words[1], "great");
    cr_assert_eq(t.pair, 0);
    cr_assert_str_eq(t.col_text_a, "text");
    task_free(&t);

    cr_assert_eq(task_builtin(&t, "dbpedia", &err), 0);
    cr_assert_eq(t.n_classes, 14);
    cr_assert_str_eq(t.label_words[13], "Written");
    task_free(&t);

    cr_assert_eq(task_builtin(&t, "mrpc", &err), 0);
    cr_assert_eq(t.metric, METRIC_F1);
    cr_assert_eq(t.positive_class, 1);
    cr_assert_eq(t.pair, 1);
    task_free(&t);

    int n = 0;
    for (const char *const *name = task_builtin_names(); *name; name++, n++) {
        cr_assert_eq(task_builtin(&t, *name, &err), 0, "%s: %s", *name, err.msg);
        task_free(&t);
    }
    cr_assert_eq(n, 7);
}

Test(task, unknown_task_lists_the_known_ones)
{
    bbt_error err;
    task t;
    cr_assert_eq(task_builtin(&t, "sst5", &err), -1);
    cr_assert(strstr(err.msg, "sst5") && strstr(err.msg, "agnews"), "%s", err.msg);
}

Test(task, template_parts)
{
    bbt_error err;
    template_spec tpl;
    cr_assert_eq(template_parse(&tpl, "{prompt} . {text} . It was <mask> .", 0, &err), 0, "%s", err.msg);
    tpl_kind want[] = {TPL_PROMPT, TPL_LITERAL, TPL_TEXT, TPL_LITERAL, TPL_MASK, TPL_LITERAL};
    cr_assert_eq(tpl.n_parts, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(tpl.parts[i].kind, want[i], "part %d", i);
    cr_assert_str_eq(tpl.parts[3].literal, " . It was ");
    task t = {.masked = tpl};
    task_free(&t);
}

Test(task, template_errors)
{
    bbt_error err;
    template_spec tpl;
    cr_assert_eq(template_parse(&tpl, "{text} It was", 0, &err), -1);
    cr_assert(strstr(err.msg, "<mask>"), "%s", err.msg);
    cr_assert_eq(template_parse(&tpl, "{text} <mask> <mask>", 0, &err), -1);
    cr_assert_eq(template_parse(&tpl, "{text} ? <mask> , {text_b}", 0, &err), -1);
    cr_assert(strstr(err.msg, "single-text"), "%s", err.msg);
    cr_assert_eq(template_parse(&tpl, "{text} <mask>", 1, &err), -1);
}

Test(task, user_task_from_json)
{
    char *path = temp_file("task.json", "{\"name\": \"reviews\", \"template\": \"{text} All in all, it was <mask> .\","
                                        " \"label_words\": [\"terrible\", \"fine\", \"superb\"],"
                                        " \"columns\": {\"text\": \"review\", \"label\": \"stars\"},"
                                        " \"label_names\": [\"neg\", \"neu\", \"pos\"], \"metric\": \"f1\","
                                        " \"positive_class\": 2}");
    bbt_error err;
    task t;
    cr_assert_eq(task_load_json(&t, path, &err), 0, "%s", err.msg);
    cr_assert_str_eq(t.name, "reviews");
    cr_assert_eq(t.n_classes, 3);
    cr_assert_str_eq(t.col_text_a, "review");
    cr_assert_str_eq(t.col_label, "stars");
    cr_assert_eq(t.metric, METRIC_F1);
    cr_assert_eq(t.positive_class, 2);
    cr_assert_eq(task_class_of(&t, "pos"), 2);
    cr_assert_eq(task_class_of(&t, "1"), 1);
    cr_assert_eq(task_class_of(&t, "fine"), 1);
    cr_assert_eq(task_class_of(&t, "3"), -1);
    cr_assert_eq(task_class_of(&t, "meh"), -1);
    /* the causal template is the masked one cut after <mask> */
    cr_assert_eq(t.causal.parts[t.causal.n_parts - 1].kind, TPL_MASK);
    task_free(&t);
    free(path);
}

Test(task, templates_for_one_kind_of_model_only)
{
    bbt_error err;
    task t;
    /* no <mask>: the label follows the template; fine for a causal LM, not for a masked one */
    char *p1 = temp_file("a.json", "{\"template\": \"{text} It was\", \"label_words\": [\"bad\", \"good\"]}");
    cr_assert_eq(task_load_json(&t, p1, &err), 0, "%s", err.msg);
    cr_assert_not_null(t.no_masked);
    cr_assert_null(t.no_causal);
    cr_assert_str_eq(t.causal.source, "{text} It was <mask>");
    task_free(&t);
    /* text after <mask>: a causal LM cannot read it unless causal_template says how */
    char *p2 = temp_file("b.json", "{\"template\": \"{text_a} ? <mask> , {text_b}\", \"label_words\": [\"Yes\", \"No\"]}");
    cr_assert_eq(task_load_json(&t, p2, &err), 0, "%s", err.msg);
    cr_assert_null(t.no_masked);
    cr_assert(t.no_causal && strstr(t.no_causal, "causal_template"));
    task_free(&t);
    char *p3 = temp_file("c.json", "{\"template\": \"{text_a} ? <mask> , {text_b}\", \"causal_template\": "
                                   "\"{text_a} ? {text_b} ? <mask>\", \"label_words\": [\"Yes\", \"No\"]}");
    cr_assert_eq(task_load_json(&t, p3, &err), 0, "%s", err.msg);
    cr_assert_null(t.no_causal);
    task_free(&t);
    free(p1);
    free(p2);
    free(p3);
}

Test(task, user_task_errors_name_file_and_field)
{
    bbt_error err;
    task t;
    char *p1 = temp_file("a.json", "{\"label_words\": [\"x\", \"y\"]}");
    cr_assert_eq(task_load_json(&t, p1, &err), -1);
    cr_assert(strstr(err.msg, p1) && strstr(err.msg, "template"), "%s", err.msg);
    char *p2 = temp_file("b.json", "{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], "
                                   "\"label_names\": [\"a\"]}");
    cr_assert_eq(task_load_json(&t, p2, &err), -1);
    cr_assert(strstr(err.msg, "label_names"), "%s", err.msg);
    char *p3 = temp_file("c.json", "{\"template\": \"{text} <mask> it <mask>\", \"label_words\": [\"x\", \"y\"]}");
    cr_assert_eq(task_load_json(&t, p3, &err), -1);
    cr_assert(strstr(err.msg, "\"template\"") && strstr(err.msg, "<mask>"), "%s", err.msg);
    const char *bad[][2] = {
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], \"labelwords\": 1}", "unknown field \"labelwords\""},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], \"positive_class\": \"1\"}", "must be a number"},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], \"columns\": \"s\"}", "must be an object"},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"x\"]}", "classes 0 and 1"},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], \"columns\": {\"txt\": \"a\"}}", "\"txt\""},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], \"positive_class\": 2}", "classes are 0..1"},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\"]}", "at least 2 classes"},
        {"{\"template\": \"{text} <mask>\", \"label_words\": [\"x\", \"y\"], \"label_names\": [\"a\", \"a\"]}",
         "\"label_names\": \"a\" stands for classes 0 and 1"},
        {"{\"template\": \"{text} <mask>\",\n \"label_words\": [\"x\", \"y\"],}", "syntax error at line 2, column 28"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *pb = temp_file("bad.json", bad[i][0]);
        cr_assert_eq(task_load_json(&t, pb, &err), -1, "case %zu loaded", i);
        cr_assert(strstr(err.msg, bad[i][1]), "case %zu: %s", i, err.msg);
        free(pb);
    }
    char *p4 = temp_file("d.json", "[1,2]");
    cr_assert_eq(task_load_json(&t, p4, &err), -1);
    cr_assert_eq(task_load_json(&t, "/nonexistent/task.json", &err), -1);
    cr_assert(strstr(err.msg, "/nonexistent/task.json"), "%s", err.msg);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
}

/* ---- tables ---- */

Test(table, csv_quotes_commas_and_newlines)
{
    char *path = temp_file("d.csv", "text,label\r\n\"a, b\",1\n\"say \"\"hi\"\"\nthere\",0\nplain,1\n");
    bbt_error err;
    table tb;
    cr_assert_eq(table_read(&tb, path, TABLE_AUTO, &err), 0, "%s", err.msg);
    cr_assert_eq(tb.format, TABLE_CSV);
    cr_assert_eq(tb.n_rows, 3);
    cr_assert_str_eq(tb.cells[0][0], "a, b");
    cr_assert_str_eq(tb.cells[1][0], "say \"hi\"\nthere");
    cr_assert_str_eq(tb.cells[2][0], "plain");
    cr_assert_str_eq(tb.cells[2][1], "1");
    cr_assert_eq(tb.line[2], 5);
    table_free(&tb);
    free(path);
}

Test(table, jsonl_scalars_and_missing_keys)
{
    char *path = temp_file("d.jsonl", "{\"text\": \"good\", \"label\": 1}\n\n{\"label\": 0, \"text\": \"bad\", \"x\": 2.5}\n");
    bbt_error err;
    table tb;
    cr_assert_eq(table_read(&tb, path, TABLE_AUTO, &err), 0, "%s", err.msg);
    cr_assert_eq(tb.n_rows, 2);
    cr_assert_eq(tb.n_cols, 3);
    cr_assert_str_eq(tb.cells[1][table_col(&tb, "text")], "bad");
    cr_assert_str_eq(tb.cells[0][table_col(&tb, "label")], "1");
    cr_assert_null(tb.cells[0][table_col(&tb, "x")]);
    cr_assert_str_eq(tb.cells[1][table_col(&tb, "x")], "2.5");
    cr_assert_eq(tb.line[1], 3);
    table_free(&tb);
    free(path);
}

Test(table, bad_rows_name_the_line)
{
    bbt_error err;
    table tb;
    char *p1 = temp_file("d.tsv", "text\tlabel\nok\t1\nmissing a field\n");
    cr_assert_eq(table_read(&tb, p1, TABLE_AUTO, &err), -1);
    cr_assert(strstr(err.msg, "line 3"), "%s", err.msg);
    char *p2 = temp_file("d.jsonl", "{\"text\": \"a\"}\nnot json\n");
    cr_assert_eq(table_read(&tb, p2, TABLE_AUTO, &err), -1);
    cr_assert(strstr(err.msg, "line 2"), "%s", err.msg);
    char *p3 = temp_file("d.csv", "text,label\n\"never closed,1\n");
    cr_assert_eq(table_read(&tb, p3, TABLE_AUTO, &err), -1);
    cr_assert(strstr(err.msg, "not closed"), "%s", err.msg);
    char *p4 = temp_file("e.tsv", "");
    cr_assert_eq(table_read(&tb, p4, TABLE_AUTO, &err), -1);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
}

/* Spreadsheet programs and Windows editors write a UTF-8 byte-order mark and CRLF line ends. */
Test(table, byte_order_mark_and_crlf)
{
    const char *files[][2] = {{"b.tsv", "\xEF\xBB\xBFtext\tlabel\r\ngood\t1\r\n"},
                              {"b.csv", "\xEF\xBB\xBFtext,label\r\ngood,1\r\n"},
                              {"b.jsonl", "\xEF\xBB\xBF{\"text\": \"good\", \"label\": 1}\r\n"}};
    for (int i = 0; i < 3; i++) {
        char *path = temp_file(files[i][0], files[i][1]);
        bbt_error err;
        table tb;
        cr_assert_eq(table_read(&tb, path, TABLE_AUTO, &err), 0, "%s: %s", files[i][0], err.msg);
        cr_assert_eq(table_col(&tb, "text"), 0, "%s: first column is \"%s\"", files[i][0], tb.cols[0]);
        cr_assert_eq(tb.n_rows, 1);
        cr_assert_str_eq(tb.cells[0][table_col(&tb, "label")], "1");
        table_free(&tb);
        free(path);
    }
    char text[] = "\xEF\xBB\xBFgood movie\r\nbad\n";
    char *cols[] = {"text"};
    bbt_error err;
    table tb;
    cr_assert_eq(table_parse_lines(&tb, "(stdin)", text, cols, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(tb.n_rows, 2);
    cr_assert_str_eq(tb.cells[0][0], "good movie");
    table_free(&tb);
}

Test(table, tsv_round_trip)
{
    char *in = temp_file("in.tsv", "text\tlabel\nfirst\t0\nsecond one\t1\n");
    bbt_error err;
    table tb, back;
    cr_assert_eq(table_read(&tb, in, TABLE_AUTO, &err), 0);
    char *out = path_join("/tmp", "bbt-test-roundtrip.tsv");
    cr_assert_eq(table_write_tsv(&tb, out, &err), 0, "%s", err.msg);
    cr_assert_eq(table_read(&back, out, TABLE_AUTO, &err), 0);
    cr_assert_eq(back.n_rows, 2);
    cr_assert_str_eq(back.cells[1][0], "second one");
    table_free(&tb);
    table_free(&back);
    unlink(out);
    free(out);
    free(in);
}

/* ---- datasets ---- */

Test(dataset, shared_split_loads_by_name_and_seed)
{
    bbt_error err;
    task t;
    dataset d;
    cr_assert_eq(task_builtin(&t, "sst2", &err), 0);
    char *path = dataset_split_path(ASSETS "/tasks/sst2", 13, "train");
    cr_assert_str_eq(path, ASSETS "/tasks/sst2/16-13/train.tsv");
    cr_assert_eq(dataset_load(&d, path, &t, DATA_NEED_LABELS, &err), 0, "%s", err.msg);
    int counts[2];
    dataset_class_counts(&d, counts);
    cr_assert_eq(d.n, 32);
    cr_assert_eq(counts[0], 16);
    cr_assert_eq(counts[1], 16);
    cr_assert_str_eq(d.ex[0].text_a, "nothing happens , and it happens to flat characters .");
    dataset_free(&d);
    free(path);

    path = dataset_split_path(ASSETS "/tasks/rte", 42, "test");
    cr_assert_str_eq(path, ASSETS "/tasks/rte/test.tsv");
    task_free(&t);
    cr_assert_eq(task_builtin(&t, "rte", &err), 0);
    cr_assert_eq(dataset_load(&d, path, &t, DATA_NEED_LABELS, &err), 0, "%s", err.msg);
    cr_assert_eq(d.n, 277);
    cr_assert_not_null(d.ex[0].text_b);
    dataset_free(&d);
    free(path);
    task_free(&t);
}

Test(dataset, errors_name_file_line_and_value)
{
    bbt_error err;
    task t;
    dataset d;
    cr_assert_eq(task_builtin(&t, "sst2", &err), 0);
    char *p1 = temp_file("a.tsv", "sentence\tlabel\nfine\t1\n");
    cr_assert_eq(dataset_load(&d, p1, &t, DATA_NEED_LABELS, &err), -1);
    cr_assert(strstr(err.msg, "\"text\"") && strstr(err.msg, "sentence"), "%s", err.msg);
    char *p2 = temp_file("b.tsv", "text\tlabel\nfine\t1\nworse\t7\n");
    cr_assert_eq(dataset_load(&d, p2, &t, DATA_NEED_LABELS, &err), -1);
    cr_assert(strstr(err.msg, "line 3") && strstr(err.msg, "\"7\""), "%s", err.msg);
    char *p3 = temp_file("c.tsv", "text\tlabel\n");
    cr_assert_eq(dataset_load(&d, p3, &t, DATA_NEED_LABELS, &err), -1);
    cr_assert(strstr(err.msg, "no examples"), "%s", err.msg);
    char *p4 = temp_file("d.tsv", "text\nunlabelled\n");
    cr_assert_eq(dataset_load(&d, p4, &t, DATA_NEED_LABELS, &err), -1);
    cr_assert(strstr(err.msg, "label"), "%s", err.msg);
    cr_assert_eq(dataset_load(&d, p4, &t, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(d.ex[0].label, -1);
    dataset_free(&d);
    task_free(&t);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
}

Test(dataset, string_labels_through_label_words)
{
    bbt_error err;
    task t;
    dataset d;
    cr_assert_eq(task_builtin(&t, "rte", &err), 0);
    char *path = temp_file("x.jsonl", "{\"text_a\": \"A man sleeps.\", \"text_b\": \"A man rests.\", \"label\": \"Yes\"}\n"
                                      "{\"text_a\": \"It rains.\", \"text_b\": \"It is dry.\", \"label\": 1}\n");
    cr_assert_eq(dataset_load(&d, path, &t, DATA_NEED_LABELS, &err), 0, "%s", err.msg);
    cr_assert_eq(d.ex[0].label, 0);
    cr_assert_eq(d.ex[1].label, 1);
    cr_assert_str_eq(d.ex[1].text_b, "It is dry.");
    dataset_free(&d);
    task_free(&t);
    free(path);
}

/* ---- losses and metrics ---- */

Test(metrics, cross_entropy_and_hinge_by_hand)
{
    float scores[] = {2.0f, 0.0f, /* label 0 */ 1.0f, 1.0f /* label 1 */};
    int labels[] = {0, 1};
    double ce0 = log(1 + exp(-2.0)), ce1 = log(2.0);
    cr_assert_float_eq(loss_value(LOSS_CE, scores, labels, 2, 2, 1), (ce0 + ce1) / 2, 1e-12);
    /* hinge: example 0: max(0, 0-2+2) = 0; example 1: max(0, 1-1+2) = 2 */
    cr_assert_float_eq(loss_value(LOSS_HINGE, scores, labels, 2, 2, 1), 1.0, 1e-12);
    /* ties go to the first class: example 1 is predicted 0 (wrong) */
    cr_assert_float_eq(loss_value(LOSS_ACC, scores, labels, 2, 2, 1), -0.5, 1e-12);
}

Test(metrics, cross_entropy_survives_huge_logits)
{
    float scores[] = {1e30f, -1e30f};
    int labels[] = {1};
    double ce = loss_value(LOSS_CE, scores, labels, 1, 2, 0);
    cr_assert(isfinite(ce) && ce > 1e29, "ce = %g", ce);
}

/* Three classes, predictions 0 1 1 1 2 0 against gold 0 0 1 1 2 2: per class P/R/F1 = .5/.5/.5, 2/3/1/.8, 1/.5/2/3;
 * macro-F1 = (0.5 + 0.8 + 2/3) / 3 (scikit-learn's f1_score(average="macro") on the same labels). */
Test(metrics, macro_f1_per_class_and_confusion)
{
    float scores[] = {9, 0, 0, 0, 9, 0, 0, 9, 0, 0, 9, 0, 0, 0, 9, 9, 0, 0};
    int labels[] = {0, 0, 1, 1, 2, 2};
    int conf[9];
    metric_confusion(scores, labels, 6, 3, conf);
    int want[9] = {1, 1, 0, 0, 2, 0, 1, 0, 1};
    for (int i = 0; i < 9; i++)
        cr_assert_eq(conf[i], want[i], "confusion[%d] = %d", i, conf[i]);
    class_prf c1 = metric_class_prf(conf, 3, 1);
    cr_assert_float_eq(c1.precision, 2.0 / 3, 1e-12);
    cr_assert_float_eq(c1.recall, 1.0, 1e-12);
    cr_assert_float_eq(c1.f1, 0.8, 1e-12);
    cr_assert(c1.support == 2 && c1.predicted == 3);
    double macro = (0.5 + 0.8 + 2.0 / 3) / 3;
    cr_assert_float_eq(metric_macro_f1(scores, labels, 6, 3), macro, 1e-12);
    /* F1 on more than two classes is macro-F1, for the metric and the loss; class 1's own F1 is not it */
    cr_assert_float_eq(metric_task_f1(scores, labels, 6, 3, 1), macro, 1e-12);
    cr_assert_float_eq(loss_value(LOSS_F1, scores, labels, 6, 3, 1), -macro, 1e-12);
    cr_assert_str_eq(metric_f1_name(3), "macro_f1");
    cr_assert_str_eq(metric_f1_name(2), "f1");
    /* a fourth class nobody predicts and no example has does not count */
    float scores4[24];
    for (int i = 0; i < 6; i++) {
        memcpy(scores4 + 4 * i, scores + 3 * i, 3 * sizeof(float));
        scores4[4 * i + 3] = -5;
    }
    cr_assert_float_eq(metric_macro_f1(scores4, labels, 6, 4), macro, 1e-12);
    /* two classes: the positive class's F1, as before */
    float s2[] = {0, 1, 0, 1, 1, 0, 1, 0};
    int l2[] = {1, 0, 1, 0};
    cr_assert_float_eq(metric_task_f1(s2, l2, 4, 2, 1), metric_f1(s2, l2, 4, 2, 1), 1e-12);
}

Test(metrics, class_probabilities_are_a_softmax)
{
    float row[] = {1000.0f, 999.0f, -1000.0f}; /* large logits: no overflow */
    double p[3];
    class_probabilities(row, 3, p);
    cr_assert_float_eq(p[0] + p[1] + p[2], 1.0, 1e-12);
    cr_assert_float_eq(p[0] / p[1], exp(1.0), 1e-9);
    cr_assert(p[2] >= 0 && p[2] < 1e-300);
}

Test(metrics, f1_of_the_positive_class)
{
    /* predictions: 1, 1, 0, 0 ; gold: 1, 0, 1, 0  → tp 1, fp 1, fn 1 → F1 = 0.5 */
    float scores[] = {0, 1, 0, 1, 1, 0, 1, 0};
    int labels[] = {1, 0, 1, 0};
    cr_assert_float_eq(metric_f1(scores, labels, 4, 2, 1), 0.5, 1e-12);
    cr_assert_float_eq(loss_value(LOSS_F1, scores, labels, 4, 2, 1), -0.5, 1e-12);
    cr_assert_float_eq(metric_accuracy(scores, labels, 4, 2), 0.5, 1e-12);
    int none[] = {0, 0, 0, 0};
    float all0[] = {1, 0, 1, 0, 1, 0, 1, 0};
    cr_assert_float_eq(metric_f1(all0, none, 4, 2, 1), 0.0, 1e-12);
    /* a metric of 0 is a loss of 0, not -0 (summary.json showed "train_loss_initial": -0) */
    cr_assert(!signbit(loss_value(LOSS_F1, all0, none, 4, 2, 1)));
    int ones[] = {1, 1, 1, 1};
    cr_assert(!signbit(loss_value(LOSS_ACC, all0, ones, 4, 2, 1)));
}
