/* Tests of bbt/ pieces that need no model: configuration files, checkpoints, the projection, few-shot sampling,
 * command-line options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bbt/checkpoint.h"
#include "bbt/config.h"
#include "bbt/files.h"
#include "bbt/options.h"
#include "bbt/projection.h"
#include "bbt/sample.h"
#include "bbt/table.h"
#include "bbt/util.h"
#include "common/bytes.h"
#include "common/crc32.h"

static char *temp_dir(void)
{
    char dir[] = "/tmp/bbt-core-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    return xstrdup(dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- config.json ---- */

Test(config, round_trip_keeps_every_field)
{
    tune_config c, back;
    tune_config_init(&c);
    config_set(&c.model, "/models/m");
    config_set(&c.task, "rte");
    config_set(&c.train, "a.tsv");
    config_set(&c.dev, "b.tsv");
    c.seed = 87;
    c.sigma0 = 0.3;
    c.alpha = 0.123456789012345678;
    c.budget = 1234567;
    c.optimizer = OPTIMIZER_FULL;
    c.loss = LOSS_HINGE;
    c.prompt_mode = LM_PROMPT_CAT;
    char *dir = temp_dir();
    char *path = path_join(dir, "config.json");
    char *text = tune_config_to_json(&c);
    bbt_error err;
    cr_assert_eq(write_file_atomic(path, text, strlen(text), &err), 0, "%s", err.msg);
    cr_assert_eq(tune_config_load(&back, path, &err), 0, "%s", err.msg);
    cr_assert_str_eq(back.model, "/models/m");
    cr_assert_str_eq(back.task, "rte");
    cr_assert_null(back.task_file);
    cr_assert_null(back.test);
    cr_assert_eq(back.seed, 87);
    cr_assert_eq(back.budget, 1234567);
    cr_assert(back.alpha == c.alpha, "alpha must round-trip exactly");
    cr_assert_eq(back.optimizer, OPTIMIZER_FULL);
    cr_assert_eq(back.loss, LOSS_HINGE);
    cr_assert_eq(back.prompt_mode, LM_PROMPT_CAT);
    cr_assert(strstr(text, "\"optimizer\":\t\"full\"") && strstr(text, "\"loss\":\t\"hinge\"") &&
                  strstr(text, "\"prompt_mode\":\t\"cat\"") && strstr(text, "\"dtype\":\t\"bf16\""),
              "config.json keeps the settings' names: %s", text);
    char *again = tune_config_to_json(&back);
    cr_assert_str_eq(again, text);
    free(again);
    free(text);
    tune_config_free(&c);
    tune_config_free(&back);
    free(path);
    free(dir);
}

Test(config, load_errors_name_the_field)
{
    char *dir = temp_dir();
    char *path = path_join(dir, "config.json");
    tune_config c, loaded;
    tune_config_init(&c);
    config_set(&c.model, "m");
    config_set(&c.task, "sst2");
    config_set(&c.train, "t");
    config_set(&c.dev, "d");
    char *text = tune_config_to_json(&c);
    bbt_error err;

    char *bad = xstrdup(text);
    char *at = strstr(bad, "\"budget\"");
    memcpy(at, "\"bodget\"", 8);
    write_text(path, bad);
    cr_assert_eq(tune_config_load(&loaded, path, &err), -1);
    cr_assert(strstr(err.msg, "bodget") && strstr(err.msg, path), "%s", err.msg);

    strcpy(bad, text);
    at = strstr(bad, "\"sep\"");
    memcpy(at, "\"sap\"", 5);
    write_text(path, bad);
    cr_assert_eq(tune_config_load(&loaded, path, &err), -1);
    cr_assert(strstr(err.msg, "field \"optimizer\" is \"sap\"; expected sep, full or random") && strstr(err.msg, path), "%s",
              err.msg);

    write_text(path, "[]");
    cr_assert_eq(tune_config_load(&loaded, path, &err), -1);
    cr_assert(strstr(err.msg, "not a JSON object"), "%s", err.msg);

    /* an integer beyond int in an int field: it was converted anyway, undefined behaviour (found by fuzzing) */
    at = strstr(text, "\"first_token_only\":");
    cr_assert_not_null(at);
    char *value = strchr(at, '0'); /* the default, 0 */
    char *big = xmalloc(strlen(text) + 32);
    snprintf(big, strlen(text) + 32, "%.*s6666666666666660%s", (int)(value - text), text, value + 1);
    write_text(path, big);
    cr_assert_eq(tune_config_load(&loaded, path, &err), -1);
    cr_assert(strstr(err.msg, "\"first_token_only\" is out of range"), "%s", err.msg);
    free(big);
    free(bad);
    free(text);
    tune_config_free(&c);
    free(path);
    free(dir);
}

Test(config, checks_name_option_and_value)
{
    tune_config c;
    tune_config_init(&c);
    bbt_error err;
    cr_assert_eq(tune_config_check(&c, &err), 0, "%s", err.msg);
    c.popsize = 1;
    cr_assert_eq(tune_config_check(&c, &err), -1);
    cr_assert(strstr(err.msg, "--popsize 1"), "%s", err.msg);
    c.popsize = 20;
    cr_assert_eq(tune_config_set(&c, tune_config_field("loss"), "mse", &err), -1);
    cr_assert_str_eq(err.msg, "--loss mse: expected ce, hinge, acc or f1");
    cr_assert_eq(c.loss, LOSS_CE, "a refused value leaves the setting as it was");
    c.loss = (loss_kind)7; /* set by a program, not parsed */
    cr_assert_eq(tune_config_check(&c, &err), -1);
    cr_assert(strstr(err.msg, "--loss"), "%s", err.msg);
    c.loss = LOSS_CE;
    config_set(&c.init_prompt, "p.safetensors");
    cr_assert_eq(tune_config_check(&c, &err), -1);
    cr_assert(strstr(err.msg, "cat"), "%s", err.msg);
    tune_config_free(&c);
}

/* ---- checkpoints ---- */

static char *make_checkpoint(const char *dir)
{
    ckpt_writer w = {0};
    ckpt_put_i64(&w, -42);
    double v[3] = {1.5, -0.0, 1e-300};
    ckpt_put_f64s(&w, v, 3);
    ckpt_put_blob(&w, "optimizer", 9);
    char *path = path_join(dir, "checkpoint.bin");
    bbt_error err;
    cr_assert_eq(ckpt_write_file(&w, path, &err), 0, "%s", err.msg);
    return path;
}

Test(checkpoint, fields_come_back_exactly)
{
    char *dir = temp_dir();
    char *path = make_checkpoint(dir);
    ckpt_reader r;
    bbt_error err;
    cr_assert_eq(ckpt_read_file(&r, path, &err), 0, "%s", err.msg);
    cr_assert_eq(ckpt_get_i64(&r), -42);
    double v[3];
    ckpt_get_f64s(&r, v, 3);
    cr_assert(v[0] == 1.5 && signbit(v[1]) && v[2] == 1e-300);
    size_t n;
    const char *blob = ckpt_get_blob(&r, &n);
    cr_assert_eq(n, 9);
    cr_assert(!memcmp(blob, "optimizer", 9));
    cr_assert_eq(r.failed, 0);
    ckpt_get_i64(&r);
    cr_assert_eq(r.failed, 1, "reading past the end must be detected");
    ckpt_reader_free(&r);
    free(path);
    free(dir);
}

Test(checkpoint, damage_is_detected)
{
    char *dir = temp_dir();
    char *path = make_checkpoint(dir);
    size_t len;
    bbt_error err;
    char *bytes = read_file(path, &len, &err);
    ckpt_reader r;

    bytes[30] ^= 0x10; /* one flipped bit in the payload */
    cr_assert_eq(write_file_atomic(path, bytes, len, &err), 0);
    cr_assert_eq(ckpt_read_file(&r, path, &err), -1);
    cr_assert(strstr(err.msg, "CRC") && strstr(err.msg, path), "%s", err.msg);

    bytes[30] ^= 0x10;
    cr_assert_eq(write_file_atomic(path, bytes, len - 7, &err), 0); /* truncated */
    cr_assert_eq(ckpt_read_file(&r, path, &err), -1);
    cr_assert(strstr(err.msg, "truncated"), "%s", err.msg);

    cr_assert_eq(write_file_atomic(path, "hello world, not a checkpoint", 29, &err), 0);
    cr_assert_eq(ckpt_read_file(&r, path, &err), -1);
    cr_assert(strstr(err.msg, "not a bbt checkpoint"), "%s", err.msg);
    free(bytes);
    free(path);
    free(dir);
}

Test(checkpoint, frame_ends_in_the_crc32_of_what_precedes_it)
{
    /* the checkpoint is sealed with common/'s CRC-32, zlib's: its standard check value, and the last 4 bytes of a file */
    cr_assert_eq(common_crc32("123456789", 9), 0xCBF43926u);
    char *dir = temp_dir();
    char *path = make_checkpoint(dir);
    size_t len;
    bbt_error err;
    unsigned char *bytes = (unsigned char *)read_file(path, &len, &err);
    cr_assert_not_null(bytes, "%s", err.msg);
    cr_assert_eq(common_get_le(bytes + len - 4, 4), common_crc32(bytes, len - 4));
    free(bytes);
    free(path);
    free(dir);
}

/* ---- projection ---- */

Test(projection, same_seed_same_matrix_other_seed_other_matrix)
{
    projection a, b, c;
    bbt_error err;
    cr_assert_eq(projection_init(&a, 64, 10, 7, PROJ_NORMAL, 1.0, 1.0, 0.5, NULL, &err), 0);
    cr_assert_eq(projection_init(&b, 64, 10, 7, PROJ_NORMAL, 1.0, 1.0, 0.5, NULL, &err), 0);
    cr_assert_eq(projection_init(&c, 64, 10, 8, PROJ_NORMAL, 1.0, 1.0, 0.5, NULL, &err), 0);
    cr_assert(!memcmp(a.A, b.A, 640 * sizeof(float)));
    cr_assert(memcmp(a.A, c.A, 640 * sizeof(float)));
    projection_free(&a);
    projection_free(&b);
    projection_free(&c);
}

Test(projection, normal_scale_follows_the_reference_formula)
{
    /* std of A = alpha * sigma_hat / (sqrt(d) * sigma0) */
    projection p;
    bbt_error err;
    int rows = 400, d = 500;
    cr_assert_eq(projection_init(&p, rows, d, 1, PROJ_NORMAL, 2.0, 0.5, 0.1, NULL, &err), 0);
    double want = 2.0 * 0.1 / (sqrt(500.0) * 0.5);
    double sd = table_std(p.A, (long)rows * d);
    cr_assert(fabs(sd / want - 1) < 0.01, "std %g, want %g", sd, want);
    projection_free(&p);

    cr_assert_eq(projection_init(&p, rows, d, 1, PROJ_UNIFORM, 1.0, 1.0, 0.1, NULL, &err), 0);
    float lo = 1, hi = -1;
    for (long i = 0; i < (long)rows * d; i++) {
        lo = fminf(lo, p.A[i]);
        hi = fmaxf(hi, p.A[i]);
    }
    double bound = 1 / sqrt(500.0);
    cr_assert(lo >= -bound && hi <= bound && hi > 0.99 * bound && lo < -0.99 * bound, "range %g..%g", lo, hi);
    projection_free(&p);
}

Test(projection, apply_is_a_times_z_plus_p0)
{
    projection p;
    bbt_error err;
    float p0[6] = {1, 2, 3, 4, 5, 6};
    cr_assert_eq(projection_init(&p, 6, 3, 3, PROJ_NORMAL, 1.0, 1.0, 1.0, p0, &err), 0);
    double z[6] = {1, 0, 0, 0.5, -2, 3};
    float out[12];
    projection_apply(&p, z, 2, out);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 6; i++) {
            double want = p0[i];
            for (int k = 0; k < 3; k++)
                want += (double)p.A[i * 3 + k] * z[c * 3 + k];
            cr_assert(fabs(out[c * 6 + i] - want) < 1e-5, "candidate %d row %d: %g vs %g", c, i, out[c * 6 + i], want);
        }
    projection_free(&p);
}

/* ---- sampling ---- */

static void make_full_file(const char *path, int per_class)
{
    FILE *f = fopen(path, "w");
    fprintf(f, "idx\tsentence\tlabel\n");
    for (int i = 0; i < 3 * per_class; i++)
        fprintf(f, "%d\tsentence number %d\t%d\n", i, i, i % 3);
    fclose(f);
}

Test(sample, k_per_class_no_overlap_reproducible)
{
    char *dir = temp_dir();
    char *path = path_join(dir, "full.tsv");
    make_full_file(path, 40);
    bbt_error err;
    table in, tr, dv, tr2, dv2, tr3, dv3;
    cr_assert_eq(table_read(&in, path, TABLE_AUTO, &err), 0, "%s", err.msg);
    sample_options o = {8, 5, NULL, NULL, NULL, 0};
    cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(tr.n_rows, 24);
    cr_assert_eq(dv.n_rows, 24);
    cr_assert_eq(tr.n_cols, 3, "the input's columns are kept");
    cr_assert_str_eq(tr.cols[0], "idx");
    cr_assert_str_eq(tr.cols[1], "sentence");
    cr_assert_str_eq(tr.cols[2], "label");
    int count[3] = {0};
    for (int i = 0; i < tr.n_rows; i++) {
        count[atoi(tr.cells[i][2])]++;
        cr_assert_eq(atoi(tr.cells[i][0]) % 3, atoi(tr.cells[i][2]), "a row's cells stay together");
        for (int j = 0; j < dv.n_rows; j++)
            cr_assert_str_neq(tr.cells[i][1], dv.cells[j][1], "train and dev overlap");
    }
    cr_assert(count[0] == 8 && count[1] == 8 && count[2] == 8);
    o.normalise = 1; /* the old layout: the same rows, text and label only */
    cr_assert_eq(sample_fewshot(&in, &o, &tr2, &dv2, NULL, &err), 0);
    cr_assert(tr2.n_cols == 2 && !strcmp(tr2.cols[0], "text") && !strcmp(tr2.cols[1], "label"));
    for (int i = 0; i < tr.n_rows; i++) {
        cr_assert_str_eq(tr.cells[i][1], tr2.cells[i][0], "same seed must give the same split");
        cr_assert_str_eq(tr.cells[i][2], tr2.cells[i][1]);
    }
    o.seed = 6;
    o.normalise = 0;
    cr_assert_eq(sample_fewshot(&in, &o, &tr3, &dv3, NULL, &err), 0);
    int same = 0;
    for (int i = 0; i < tr.n_rows; i++)
        same += !strcmp(tr.cells[i][1], tr3.cells[i][1]);
    cr_assert(same < tr.n_rows, "another seed must give another split");
    table_free(&in);
    table_free(&tr);
    table_free(&dv);
    table_free(&tr2);
    table_free(&dv2);
    table_free(&tr3);
    table_free(&dv3);
    free(path);
    free(dir);
}

Test(sample, too_few_examples_names_the_class)
{
    char *dir = temp_dir();
    char *path = path_join(dir, "full.tsv");
    make_full_file(path, 10);
    bbt_error err;
    table in, tr, dv;
    cr_assert_eq(table_read(&in, path, TABLE_AUTO, &err), 0);
    sample_options o = {6, 1, NULL, NULL, NULL, 0};
    cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, NULL, &err), -1);
    cr_assert(strstr(err.msg, "class \"0\" has 10 examples") && strstr(err.msg, "12"), "%s", err.msg);
    o.k = 5;
    o.label_col = "gold";
    cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, NULL, &err), -1);
    cr_assert(strstr(err.msg, "gold"), "%s", err.msg);
    table_free(&in);
    free(path);
    free(dir);
}

Test(sample, real_rte_layout_becomes_pairs)
{
    bbt_error err;
    table in, tr, dv;
    cr_assert_eq(table_read(&in, "../shared/assets/full/rte/train.tsv", TABLE_AUTO, &err), 0, "%s", err.msg);
    sample_options o = {16, 13, NULL, NULL, NULL, 1};
    cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(tr.n_cols, 3);
    cr_assert_str_eq(tr.cols[0], "text_a");
    cr_assert_str_eq(tr.cols[1], "text_b");
    cr_assert_eq(tr.n_rows, 32);
    table_free(&tr);
    table_free(&dv);
    o.normalise = 0; /* GLUE's own header, as it was */
    cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(tr.n_cols, in.n_cols);
    for (int c = 0; c < in.n_cols; c++)
        cr_assert_str_eq(tr.cols[c], in.cols[c]);
    table_free(&in);
    table_free(&tr);
    table_free(&dv);
}

/* Repeated texts (one with another label) are dropped before the split: k = 4 per class needs 8 distinct texts of
 * each class, and train and dev never share one. */
Test(sample, duplicates_dropped_before_split)
{
    char *dir = temp_dir();
    char *path = path_join(dir, "dups.tsv");
    FILE *f = fopen(path, "w");
    fprintf(f, "sentence\tlabel\n");
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < 16; i++)
            fprintf(f, "text %d\t%d\n", i, (i + (rep == 2 && i == 5)) % 2); /* the third "text 5" has another label */
    fclose(f);
    bbt_error err;
    table in, tr, dv;
    cr_assert_eq(table_read(&in, path, TABLE_AUTO, &err), 0, "%s", err.msg);
    sample_options o = {4, 3, NULL, NULL, NULL, 0};
    sample_counts c;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        o.seed = seed;
        cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, &c, &err), 0, "%s", err.msg);
        cr_assert_eq(c.n_duplicates, 32);
        cr_assert_eq(c.n_conflicting, 1);
        cr_assert_eq(c.n_classes, 2);
        for (int i = 0; i < tr.n_rows; i++) {
            cr_assert_eq(atoi(tr.cells[i][0] + 5) % 2, atoi(tr.cells[i][1]), "the first row's label is kept");
            for (int j = 0; j < dv.n_rows; j++)
                cr_assert_str_neq(tr.cells[i][0], dv.cells[j][0], "seed %d: train and dev share a text", (int)seed);
            for (int j = 0; j < i; j++)
                cr_assert_str_neq(tr.cells[i][0], tr.cells[j][0], "a text twice in train");
        }
        table_free(&tr);
        table_free(&dv);
    }
    o.k = 5; /* 8 distinct texts per class: not enough, and the message says why */
    cr_assert_eq(sample_fewshot(&in, &o, &tr, &dv, &c, &err), -1);
    cr_assert(strstr(err.msg, "has 8 examples once duplicates are dropped"), "%s", err.msg);
    table_free(&in);
    free(path);
    free(dir);
}

/* ---- options ---- */

Test(options, values_flags_and_errors)
{
    char *name = NULL;
    int n = 3, flag = 0;
    double x = 0;
    const opt opts[] = {{"name", OPT_STR, &name, "S", ""}, {"n", OPT_INT, &n, "N", ""},
                        {"x", OPT_DBL, &x, "X", ""},       {"flag", OPT_FLAG, &flag, NULL, ""}};
    const opt_spec spec = {"t", "", opts, 4, 1};
    char *argv[] = {"t", "--name", "abc", "--n=7", "pos", "--flag", "--x", "2.5"};
    char *pos[1];
    int n_pos;
    cr_assert_eq(opt_parse(&spec, 8, argv, pos, &n_pos), 0);
    cr_assert_str_eq(name, "abc");
    cr_assert_eq(n, 7);
    cr_assert_eq(flag, 1);
    cr_assert_float_eq(x, 2.5, 0);
    cr_assert_eq(n_pos, 1);
    cr_assert_str_eq(pos[0], "pos");
    cr_assert(opt_given(8, argv, "n") && !opt_given(8, argv, "na"));
    char *bad1[] = {"t", "--n", "seven"};
    cr_assert_eq(opt_parse(&spec, 3, bad1, pos, &n_pos), -1);
    char *bad2[] = {"t", "--nope"};
    cr_assert_eq(opt_parse(&spec, 2, bad2, pos, &n_pos), -1);
    char *bad3[] = {"t", "--name"};
    cr_assert_eq(opt_parse(&spec, 2, bad3, pos, &n_pos), -1);
    char *bad4[] = {"t", "a", "b"};
    cr_assert_eq(opt_parse(&spec, 3, bad4, pos, &n_pos), -1);
    free(name);
}

/* A repeatable option: the values of one command line joined with commas; a value held before parsing (a default)
 * is replaced, not extended; a plain string option keeps its last value. */
Test(options, repeated_list)
{
    char *list = xstrdup("http://default"), *one = NULL;
    const opt opts[] = {{"endpoint", OPT_STRS, &list, "URL", ""}, {"name", OPT_STR, &one, "S", ""}};
    const opt_spec spec = {"t", "", opts, 2, 0};
    char *argv[] = {"t", "--endpoint", "http://a", "--name", "x", "--endpoint=http://b,http://c", "--name", "y",
                    "--endpoint", "http://d"};
    int n_pos;
    cr_assert_eq(opt_parse(&spec, 10, argv, NULL, &n_pos), 0);
    cr_assert_str_eq(list, "http://a,http://b,http://c,http://d");
    cr_assert_str_eq(one, "y");
    char *again[] = {"t", "--endpoint", "http://e"}; /* a second parse starts the list again */
    cr_assert_eq(opt_parse(&spec, 3, again, NULL, &n_pos), 0);
    cr_assert_str_eq(list, "http://e");
    free(list);
    free(one);
}

/* ---- encoding examples for the real stories260K model (llama2.c tokenizer, causal) ---- */

#include "bbt/scorer.h"

#define MODEL "../shared/assets/models/stories260K"

static void open_scorer(scorer *s, const char *mode, int prompt_len, int first_token_only)
{
    tune_config c;
    tune_config_init(&c);
    config_set(&c.model, MODEL);
    config_set(&c.task, "sst2");
    bbt_error err;
    cr_assert_eq(tune_config_set(&c, tune_config_field("prompt-mode"), mode, &err), 0, "%s", err.msg);
    c.dtype = LM_F32;
    c.prompt_len = prompt_len;
    c.first_token_only = first_token_only;
    c.threads = 1;
    cr_assert_eq(scorer_open(s, &c, &err), 0, "%s", err.msg);
    tune_config_free(&c);
}

/* The tokens of `text` as they are in the middle of a sentence: tokenize("a" + text) minus tokenize("a"). */
static int mid_sentence(lm *m, const char *text, int *out, int cap)
{
    char buf[512];
    snprintf(buf, sizeof buf, "a%s", text);
    int a[8], all[256];
    int na = lm_tokenize(m, "a", 1, 0, a, 8);
    int n = lm_tokenize(m, buf, strlen(buf), 0, all, 256);
    cr_assert(na > 0 && n > na && n - na <= cap);
    cr_assert(!memcmp(all, a, (size_t)na * sizeof(int)));
    memcpy(out, all + na, (size_t)(n - na) * sizeof(int));
    return n - na;
}

Test(encode, add_mode_layout_on_a_causal_model)
{
    scorer s;
    open_scorer(&s, "add", 50, 0);
    const lm_info *info = s.info;
    for (int k = 0; k < 50; k++) { /* the rule: from min(1000, V - L) = 462 upwards, ordinary tokens */
        cr_assert(s.placeholders[k] >= info->vocab - 50 - 10 && s.placeholders[k] < info->vocab);
        if (k)
            cr_assert_gt(s.placeholders[k], s.placeholders[k - 1]);
    }
    example e = {"nothing happens .", NULL, 0, 1};
    int *ids, truncated;
    lm_seq seq;
    bbt_error err;
    cr_assert_eq(encode_example(s.model, &s.task, &e, &s.enc, &ids, &seq, &truncated, &err), 0, "%s", err.msg);
    int want[128];
    int n_text = mid_sentence(s.model, " . nothing happens . . It was", want, 128);
    cr_assert_eq(seq.n, 1 + 50 + n_text);
    cr_assert_eq(ids[0], info->bos);
    cr_assert(!memcmp(ids + 1, s.placeholders, 50 * sizeof(int)));
    cr_assert(!memcmp(ids + 51, want, (size_t)n_text * sizeof(int)), "the template's text is tokenized mid-sentence");
    cr_assert_eq(seq.prompt_pos, 1);
    cr_assert_eq(seq.read_pos, seq.n - 1, "a causal LM is read at the end of the prefix");
    cr_assert_eq(seq.mode, LM_PROMPT_ADD);
    cr_assert_eq(truncated, 0);
    free(ids);
    /* label words are scored as " word": the mid-sentence tokens of " great" */
    int great[8];
    int n_great = mid_sentence(s.model, " great", great, 8);
    cr_assert_eq(s.labels.labels[1].n, n_great);
    cr_assert(!memcmp(s.labels.labels[1].ids, great, (size_t)n_great * sizeof(int)));
    cr_assert_eq(s.enc.reserve, n_great - 1, "room is kept for the longest label's extra tokens");
    scorer_close(&s);
}

Test(encode, cat_mode_inserts_rows_and_long_texts_are_shortened_to_fit)
{
    scorer s;
    open_scorer(&s, "cat", 400, 0);
    cr_assert_null(s.placeholders);
    char text[4096] = "";
    for (int i = 0; i < 300; i++)
        strcat(text, "word ");
    example e = {text, NULL, 0, 7};
    int *ids, truncated;
    lm_seq seq;
    bbt_error err;
    cr_assert_eq(encode_example(s.model, &s.task, &e, &s.enc, &ids, &seq, &truncated, &err), 0, "%s", err.msg);
    cr_assert_eq(truncated, 1);
    cr_assert_eq(seq.prompt_pos, 1);
    cr_assert_eq(ids[0], s.info->bos);
    cr_assert_leq(seq.n + 400 + s.enc.reserve, s.info->max_pos, "n %d + L 400 + reserve %d", seq.n, s.enc.reserve);
    cr_assert_gt(seq.n + 400 + s.enc.reserve, s.info->max_pos - 8, "shortened by whole words, not more");
    free(ids);
    scorer_close(&s);
}

/* The first `words` words of a fixed list of varied words, then `tail` ("" or the space a dropped word leaves). */
static void first_words(char *text, int words, const char *tail)
{
    static const char *const pool[] = {"a", "story", "of", "little", "Tim", "who", "went", "far", "beyond", "the", "hill"};
    text[0] = 0;
    for (int i = 0; i < words; i++) {
        strcat(text, i ? " " : "");
        strcat(text, pool[(i * 7) % 11]);
    }
    strcat(text, tail);
}

Test(encode, a_long_text_keeps_the_most_words_that_fit)
{
    /* the bisection over words to drop gives what dropping them one at a time gives: the longest prefix of words that
     * fits (followed by the space the dropped word leaves); a prefix one word longer does not */
    scorer s;
    open_scorer(&s, "cat", 400, 0);
    static char text[8192];
    first_words(text, 600, "");
    example e = {text, NULL, 0, 7};
    int *ids, truncated, *ids_k;
    lm_seq seq, seq_k;
    bbt_error err;
    cr_assert_eq(encode_example(s.model, &s.task, &e, &s.enc, &ids, &seq, &truncated, &err), 0, "%s", err.msg);
    cr_assert_eq(truncated, 1);
    int fit = 0;   /* the most words whose text fits unshortened */
    for (int k = 1; k < 600; k++) {
        first_words(text, k, " ");
        cr_assert_eq(encode_example(s.model, &s.task, &e, &s.enc, &ids_k, &seq_k, &truncated, &err), 0, "%s", err.msg);
        free(ids_k);
        if (truncated)
            break;
        fit = k;
    }
    cr_assert_gt(fit, 0);
    first_words(text, fit, " ");
    cr_assert_eq(encode_example(s.model, &s.task, &e, &s.enc, &ids_k, &seq_k, &truncated, &err), 0, "%s", err.msg);
    cr_assert_eq(seq_k.n, seq.n, "%d words fit: %d ids, the shortened text gave %d", fit, seq_k.n, seq.n);
    cr_assert(!memcmp(ids_k, ids, (size_t)seq.n * sizeof(int)));
    free(ids_k);
    free(ids);
    scorer_close(&s);
}

Test(scorer, first_token_only_scores_the_first_label_token)
{
    scorer all, first;
    open_scorer(&all, "add", 10, 0);
    open_scorer(&first, "add", 10, 1);
    cr_assert_eq(first.enc.reserve, 0);
    dataset d;
    encoded_set e;
    bbt_error err;
    cr_assert_eq(scorer_load(&first, "../shared/assets/tasks/sst2/16-13/dev.tsv", 1, &d, &e, &err), 0, "%s", err.msg);
    int C = first.labels.n;
    float *s1 = malloc((size_t)e.n * C * sizeof *s1), *s2 = malloc((size_t)e.n * C * sizeof *s2);
    cr_assert_eq(scorer_score(&first, &e, NULL, 1, s1, &err), 0, "%s", err.msg);
    /* the same first tokens as one-token label words: the same scores (label logits, as lm_batch.raw_logits) */
    lm_label one[2] = {{first.labels.labels[0].ids, 1}, {first.labels.labels[1].ids, 1}};
    lm_label *keep = first.labels.labels;
    first.labels.labels = one;
    first.first_token_only = 0;
    cr_assert_eq(scorer_score(&first, &e, NULL, 1, s2, &err), 0, "%s", err.msg);
    for (int i = 0; i < e.n * C; i++)
        cr_assert(fabsf(s1[i] - s2[i]) < 1e-4f * fmaxf(1.0f, fabsf(s2[i])), "score %d: %g vs %g", i, s1[i], s2[i]);
    /* as log-probabilities, the first token alone scores at least as high as the whole label word */
    first.raw_logits = 0;
    cr_assert_eq(scorer_score(&first, &e, NULL, 1, s1, &err), 0, "%s", err.msg);
    first.labels.labels = keep;
    encoded_set e_all;
    dataset d_all;
    cr_assert_eq(scorer_load(&all, "../shared/assets/tasks/sst2/16-13/dev.tsv", 1, &d_all, &e_all, &err), 0);
    cr_assert_eq(all.raw_logits, 0);
    cr_assert_eq(scorer_score(&all, &e_all, NULL, 1, s2, &err), 0, "%s", err.msg);
    for (int i = 0; i < e.n * C; i++)
        cr_assert_lt(s2[i], s1[i] + 1e-4f, "score %d: whole word %g, first token %g", i, s2[i], s1[i]);
    free(s1);
    free(s2);
    encoded_set_free(&e);
    encoded_set_free(&e_all);
    dataset_free(&d);
    dataset_free(&d_all);
    scorer_close(&all);
    scorer_close(&first);
}
