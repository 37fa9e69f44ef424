/* test_encoder_golden.c — BERT, RoBERTa and GPT-2 against the independent PyTorch float64 reference
 * (tests/reference/encoder_ref.py). The models are written here by the C model writer with the shapes and seeds the
 * goldens were made from:
 *     build/make_model --arch bert --out DIR --dim 32 --ffn 64 --layers 2 --heads 4 --vocab 61 --max-pos 40 \
 *         --types 2 --seed 21
 *     build/make_model --arch roberta --out DIR --dim 32 --ffn 64 --layers 2 --heads 4 --vocab 61 --max-pos 40 \
 *         --untied --seed 22
 *     build/make_model --arch gpt2 --out DIR --dim 32 --ffn 80 --layers 2 --heads 4 --vocab 61 --max-pos 48 --seed 23
 *     /usr/bin/python3 tests/reference/encoder_ref.py DIR > tests/reference/encoder_<arch>_golden.txt
 * Checked: every layer's hidden states, the scores of batches (the reference runs them padded to one length with an
 * attention mask; the engine never pads), whole-vocabulary logits; token types, the mask at the first, a middle and
 * the last position, a padding id inside a RoBERTa sequence, add and cat prompts before and after the mask, deep
 * prompts, multi-token causal labels (sums of log-probabilities, first token only, raw logits), an untied decoder.
 * Both attention implementations, both compute types, and one sequence per chunk.
 *
 * Tolerances: fp32 1e-4 relative (|a − b| ≤ 1e-4 · max(1, |b|)). bf16 rounds every matrix product's inputs to 8
 * significant bits, so its error is relative to the size of the values: hidden states within 0.05 of the largest
 * |value| of their layer, scores and logits within 0.05 · max(1, largest |score| of the batch). */
#include "tests/models/models_test.h"

typedef struct gseq {
    int n, ids[64], types[64], has_types, prompt, pos, read;
    lm_prompt_mode mode;
} gseq;

typedef struct gcase {       /* a batch, a hidden-states case or a logits case, in file order */
    char kind;               /* 'b', 'h', 'l' */
    int first_only, raw, deep, n_seqs, seqs[8];
    int seq, layers1, rows, H; /* hidden */
    int n, ids[64], V;       /* logits */
    double *want;
    int n_want;
} gcase;

typedef struct golden {
    char model[16];
    int P, L, H, layers;
    float *prompts, *deep;
    int n_labels, label_n[4], label_ids[4][4];
    gseq seqs[8];
    int n_seqs;
    gcase cases[16];
    int n_cases;
} golden;

static double *read_doubles(FILE *f, int n)
{
    double *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++)
        cr_assert(fscanf(f, "%lf", &v[i]) == 1, "golden: short list of values");
    return v;
}

static float *read_floats(FILE *f, int n)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++)
        cr_assert(fscanf(f, "%f", &v[i]) == 1, "golden: short list of values");
    return v;
}

static void read_seq(FILE *f, gseq *q)
{
    char word[32], mode[8];
    cr_assert(fscanf(f, "%d", &q->n) == 1 && q->n <= 64);
    for (int i = 0; i < q->n; i++)
        cr_assert(fscanf(f, "%d", &q->ids[i]) == 1);
    cr_assert(fscanf(f, "%31s %d", word, &q->has_types) == 2 && !strcmp(word, "types"));
    for (int i = 0; i < q->has_types; i++)
        cr_assert(fscanf(f, "%d", &q->types[i]) == 1);
    cr_assert(fscanf(f, "%31s %d %7s %d %d", word, &q->prompt, mode, &q->pos, &q->read) == 5);
    q->mode = !strcmp(mode, "cat") ? LM_PROMPT_CAT : !strcmp(mode, "add") ? LM_PROMPT_ADD : LM_PROMPT_NONE;
}

static void read_golden(const char *path, golden *g)
{
    memset(g, 0, sizeof *g);
    FILE *f = golden_open(path);
    char word[32];
    while (golden_word(f, word)) {
        if (!strcmp(word, "model")) {
            cr_assert(fscanf(f, "%15s", g->model) == 1);
        } else if (!strcmp(word, "prompts")) {
            cr_assert(fscanf(f, "%d %d %d", &g->P, &g->L, &g->H) == 3);
            g->prompts = read_floats(f, g->P * g->L * g->H);
        } else if (!strcmp(word, "deep")) {
            int P, L, H;
            cr_assert(fscanf(f, "%d %d %d %d", &P, &g->layers, &L, &H) == 4 && P == g->P && L == g->L && H == g->H);
            g->deep = read_floats(f, P * g->layers * L * H);
        } else if (!strcmp(word, "labels")) {
            cr_assert(fscanf(f, "%d", &g->n_labels) == 1 && g->n_labels <= 4);
            for (int j = 0; j < g->n_labels; j++) {
                cr_assert(fscanf(f, "%31s %d", word, &g->label_n[j]) == 2 && g->label_n[j] <= 4);
                for (int i = 0; i < g->label_n[j]; i++)
                    cr_assert(fscanf(f, "%d", &g->label_ids[j][i]) == 1);
            }
        } else if (!strcmp(word, "seq")) {
            cr_assert(g->n_seqs < 8);
            read_seq(f, &g->seqs[g->n_seqs++]);
        } else if (!strcmp(word, "batch")) {
            gcase *c = &g->cases[g->n_cases++];
            c->kind = 'b';
            cr_assert(fscanf(f, "%d %d %d %d", &c->first_only, &c->raw, &c->deep, &c->n_seqs) == 4 && c->n_seqs <= 8);
            for (int i = 0; i < c->n_seqs; i++)
                cr_assert(fscanf(f, "%d", &c->seqs[i]) == 1 && c->seqs[i] < g->n_seqs);
            cr_assert(fscanf(f, "%31s", word) == 1 && !strcmp(word, "scores"));
            c->n_want = c->n_seqs * g->n_labels;
            c->want = read_doubles(f, c->n_want);
        } else if (!strcmp(word, "hidden")) {
            gcase *c = &g->cases[g->n_cases++];
            c->kind = 'h';
            cr_assert(fscanf(f, "%d %d %d %d %d", &c->seq, &c->deep, &c->layers1, &c->rows, &c->H) == 5);
            c->n_want = c->layers1 * c->rows * c->H;
            c->want = read_doubles(f, c->n_want);
        } else if (!strcmp(word, "logits")) {
            gcase *c = &g->cases[g->n_cases++];
            c->kind = 'l';
            cr_assert(fscanf(f, "%d", &c->n) == 1 && c->n <= 64);
            for (int i = 0; i < c->n; i++)
                cr_assert(fscanf(f, "%d", &c->ids[i]) == 1);
            cr_assert(fscanf(f, "%d", &c->V) == 1);
            c->n_want = c->n * c->V;
            c->want = read_doubles(f, c->n_want);
        } else {
            cr_assert_fail("unexpected '%s' in %s", word, path);
        }
        cr_assert(g->n_cases <= 16);
    }
    fclose(f);
    cr_assert(g->prompts && g->deep && g->n_labels && g->n_seqs && g->n_cases, "%s is incomplete", path);
}

static void golden_free(golden *g)
{
    free(g->prompts), free(g->deep);
    for (int i = 0; i < g->n_cases; i++)
        free(g->cases[i].want);
}

/* bf16: |a − b| ≤ tol · max(1, max |b| over the group). */
static void expect_close_scaled(const float *a, const double *b, int n, double tol, const char *what)
{
    double scale = 1.0, worst = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (int i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= worst))
            worst = fabs(a[i] - b[i]), at = i;
    cr_expect(worst <= tol * scale, "%s: worst error %.3g at %d (%.6g vs %.6g) > %.3g x %.3g", what, worst, at,
              (double)a[at], b[at], tol, scale);
}

/* BBT_GOLDEN_REPORT=1 in the environment prints each comparison's worst errors (for experiments/RESULTS.md). */
static void report(const float *got, const double *want, int n, const char *what)
{
    double abs_err = 0.0, rel_err = 0.0, scale = 1.0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        abs_err = fmax(abs_err, e);
        rel_err = fmax(rel_err, e / fmax(1.0, fabs(want[i])));
        scale = fmax(scale, fabs(want[i]));
    }
    cr_log_info("%s: %d values, max |error| %.3g, max relative (to max(1,|ref|)) %.3g, max |ref| %.3g", what, n, abs_err,
                rel_err, scale);
}

static void compare(const float *got, const double *want, int n, int bf16, const char *what)
{
    if (getenv("BBT_GOLDEN_REPORT"))
        report(got, want, n, what);
    if (bf16)
        expect_close_scaled(got, want, n, 0.05, what);
    else
        expect_close(got, want, n, 1e-4, what);
}

static void run_case(lm *m, const golden *g, const gcase *c, const lm_seq *all, const lm_label *labels, int bf16,
                     const char *tag)
{
    char what[256];
    lm_batch b = {g->P, g->L, g->prompts, c->deep ? g->deep : NULL, g->n_seqs, all, g->n_labels, labels, 0, 0};
    if (c->kind == 'b') {
        lm_seq seqs[8];
        for (int i = 0; i < c->n_seqs; i++)
            seqs[i] = all[c->seqs[i]];
        b.n_seqs = c->n_seqs;
        b.seqs = seqs;
        b.first_token_only = c->first_only;
        b.raw_logits = c->raw;
        float scores[32];
        cr_assert_eq(lm_score(m, &b, scores), LM_OK, "%s: %s", tag, lm_errmsg(m));
        snprintf(what, sizeof what, "%s: scores (first_only %d, raw %d, deep %d)", tag, c->first_only, c->raw,
                 c->deep);
        compare(scores, c->want, c->n_want, bf16, what);
        long long batch_rows = lm_rows_computed(m), single_rows = 0;
        /* the same sequences one at a time give the same scores */
        for (int i = 0; i < c->n_seqs; i++) {
            float one[4];
            b.n_seqs = 1;
            b.seqs = &seqs[i];
            cr_assert_eq(lm_score(m, &b, one), LM_OK, "%s", lm_errmsg(m));
            expect_close_f(one, scores + i * g->n_labels, g->n_labels, 1e-5, "one at a time");
            single_rows += lm_rows_computed(m);
        }
        /* a masked LM shares nothing: the batch runs exactly the rows of its sequences run alone */
        if (lm_get_info(m)->kind == LM_MASKED)
            cr_expect(batch_rows > 0 && batch_rows == single_rows, "%s: rows computed %lld, alone %lld", tag,
                      batch_rows, single_rows);
    } else if (c->kind == 'h') {
        float *hs = malloc((size_t)c->n_want * sizeof *hs);
        cr_assert_eq(lm_get_info(m)->layers + 1, c->layers1);
        cr_assert_eq(lm_hidden_states(m, &b, c->seq, hs), LM_OK, "%s: %s", tag, lm_errmsg(m));
        size_t plane = (size_t)c->rows * c->H;
        for (int l = 0; l < c->layers1; l++) {
            snprintf(what, sizeof what, "%s: hidden states of sequence %d (deep %d) at layer input %d", tag, c->seq,
                     c->deep, l);
            compare(hs + l * plane, c->want + l * plane, (int)plane, bf16, what);
        }
        free(hs);
    } else {
        float *lg = malloc((size_t)c->n_want * sizeof *lg);
        cr_assert_eq(lm_logits(m, c->ids, c->n, lg), LM_OK, "%s: %s", tag, lm_errmsg(m));
        for (int p = 0; p < c->n; p++) {
            snprintf(what, sizeof what, "%s: logits at %d", tag, p);
            compare(lg + (size_t)p * c->V, c->want + (size_t)p * c->V, c->V, bf16, what);
        }
        free(lg);
    }
}

/* The model in dir against the golden file, in the variants whose bits are set in `variants`: 0 fp32 and 1 fp32 with
 * matrix-product attention, 2 bf16 and 3 bf16 with matrix-product attention, 4 fp32 with one row per chunk. */
static void check_dir(const char *dir, const golden *g, unsigned variants)
{
    char err[512];
    lm_label labels[4];
    for (int j = 0; j < g->n_labels; j++)
        labels[j] = (lm_label){g->label_ids[j], g->label_n[j]};
    lm_seq seqs[8];
    for (int s = 0; s < g->n_seqs; s++) {
        const gseq *q = &g->seqs[s];
        seqs[s] = (lm_seq){q->ids, q->n, q->prompt, q->mode, q->pos, q->read, q->has_types ? q->types : NULL};
    }
    for (int variant = 0; variant < 5; variant++) {
        if (!(variants >> variant & 1))
            continue;
        lm_options o = {.threads = 2, .dtype = variant < 2 || variant == 4 ? LM_F32 : LM_BF16,
                        .attention = variant % 2 ? LM_ATTN_MATMUL : LM_ATTN_VECTOR,
                        .chunk_rows = variant == 4 ? 1 : 0};
        lm *m;
        cr_assert_eq(lm_open(&m, dir, &o, err, sizeof err), LM_OK, "%s", err);
        cr_assert_str_eq(lm_get_info(m)->arch, g->model);
        char tag[96];
        snprintf(tag, sizeof tag, "%s variant %d", g->model, variant);
        for (int k = 0; k < g->n_cases; k++)
            run_case(m, g, &g->cases[k], seqs, labels, o.dtype == LM_BF16, tag);
        if (lm_get_info(m)->kind == LM_CAUSAL && o.dtype == LM_F32) { /* the key/value cache = recomputation */
            int got[12], want[12], made = lm_generate(m, g->seqs[0].ids, 6, 12, 0.0f, 0, got);
            cr_assert_geq(made, 1, "%s", lm_errmsg(m));
            greedy_by_logits(m, g->seqs[0].ids, 6, made, want, lm_get_info(m)->vocab);
            cr_expect_arr_eq(got, want, (size_t)made * sizeof(int), "%s: cached generation", tag);
        }
        lm_close(m);
    }
}

static void check_model(const mw_xshape *shape, uint64_t seed, const char *golden_path)
{
    golden g;
    read_golden(golden_path, &g);
    char *dir = temp_dir(), err[512];
    cr_assert_eq(mw_write_xformer(shape, seed, dir, ST_F32, err, sizeof err), 0, "%s", err);
    check_dir(dir, &g, 0x1f);
    golden_free(&g);
    rm_tree(dir);
}

Test(encoder_golden, bert_token_types)
{
    mw_xshape s = {MW_BERT, 32, 64, 2, 4, 61, 40, 2, 0};
    check_model(&s, 21, "tests/reference/encoder_bert_golden.txt");
}

Test(encoder_golden, roberta_untied_decoder)
{
    mw_xshape s = {MW_ROBERTA, 32, 64, 2, 4, 61, 40, 1, 1};
    check_model(&s, 22, "tests/reference/encoder_roberta_golden.txt");
}

Test(encoder_golden, gpt2)
{
    mw_xshape s = {MW_GPT2, 32, 80, 2, 4, 61, 48, 1, 0};
    check_model(&s, 23, "tests/reference/encoder_gpt2_golden.txt");
}

/* CraftGPT-5M (ReLU MLP, untied head, context 64), the real model, against tests/reference/gpt2_ref.py craftgpt on
 * chat-format sentences tokenized by the independent tokenizer reference. */
Test(encoder_golden, craftgpt_5M, .timeout = 120)
{
    golden g;
    read_golden("tests/reference/gpt2_craftgpt_golden.txt", &g);
    check_dir("../shared/assets/models/craftgpt-5M", &g, 1 << 0 | 1 << 3); /* the kernels' variants: Test(…, gpt2) */
    golden_free(&g);
}

/* Rewrite config.json's activation_function in a model directory. */
static void set_activation(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *c = cJSON_Parse(buf);
    cr_assert_not_null(c);
    cJSON_ReplaceItemInObjectCaseSensitive(c, "activation_function", cJSON_CreateString(name));
    char *text = cJSON_Print(c);
    cr_assert_not_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(c);
}

/* Every activation of Hugging Face's that the GPT-2 loader accepts gives the reference's logits (tests/reference/
 * gpt2_ref.py activations, on the model of Test(encoder_golden, gpt2)), in fp32 and bf16; an unknown one is refused with
 * its name. */
Test(encoder_golden, gpt2_activations)
{
    mw_xshape shape = {MW_GPT2, 32, 80, 2, 4, 61, 48, 1, 0};
    char *dir = temp_dir(), err[512];
    cr_assert_eq(mw_write_xformer(&shape, 23, dir, ST_F32, err, sizeof err), 0, "%s", err);
    FILE *f = golden_open("tests/reference/gpt2_activations_golden.txt");
    char word[32], name[32];
    int n_acts = 0;
    while (golden_word(f, word)) {
        cr_assert_str_eq(word, "act");
        int n, ids[16], V;
        cr_assert(fscanf(f, "%31s %d", name, &n) == 2 && n <= 16);
        for (int i = 0; i < n; i++)
            cr_assert(fscanf(f, "%d", &ids[i]) == 1);
        cr_assert(fscanf(f, "%d", &V) == 1 && V == shape.vocab);
        double *want = read_doubles(f, n * V);
        float *got = malloc((size_t)n * V * sizeof *got);
        set_activation(dir, name);
        for (int bf16 = 0; bf16 < 2; bf16++) {
            lm *m = open_model(dir, bf16 ? LM_BF16 : LM_F32, 2);
            cr_assert_eq(lm_logits(m, ids, n, got), LM_OK, "%s: %s", name, lm_errmsg(m));
            char what[96];
            snprintf(what, sizeof what, "activation %s, %s logits", name, bf16 ? "bf16" : "fp32");
            compare(got, want, n * V, bf16, what);
            lm_close(m);
        }
        free(got);
        free(want);
        n_acts++;
    }
    fclose(f);
    cr_expect_eq(n_acts, 9, "activations in the golden file: %d", n_acts);
    set_activation(dir, "mish");
    lm *m = NULL;
    lm_options o = {.threads = 1};
    cr_expect_eq(lm_open(&m, dir, &o, err, sizeof err), LM_EUNSUPPORTED);
    cr_expect(strstr(err, "activation_function 'mish' is not supported"), "%s", err);
    rm_tree(dir);
}

/* Add mode with all-zero prompts (input and deep) is no prompt at all; a non-zero one changes the scores. */
Test(encoder_golden, zero_prompts_are_no_prompt)
{
    mw_xshape shapes[2] = {{MW_ROBERTA, 32, 64, 2, 4, 61, 40, 1, 0}, {MW_GPT2, 32, 64, 2, 4, 61, 40, 1, 0}};
    for (int k = 0; k < 2; k++) {
        char *dir = temp_dir(), err[512];
        cr_assert_eq(mw_write_xformer(&shapes[k], 3, dir, ST_F32, err, sizeof err), 0, "%s", err);
        lm *m = open_model(dir, LM_F32, 2);
        int ids[12] = {0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 2}, l0[1] = {20}, l1[2] = {21, 22};
        lm_label labels[2] = {{l0, 1}, {l1, 2}};
        float zero[3 * 32] = {0}, zdeep[2 * 3 * 32] = {0}, some[3 * 32];
        for (int i = 0; i < 3 * 32; i++)
            some[i] = 0.3f * (float)((i * 37) % 11 - 5);
        lm_seq add = {ids, 12, 0, LM_PROMPT_ADD, 2, 9, NULL}, none = {ids, 12, 0, LM_PROMPT_NONE, 0, 9, NULL};
        lm_batch b0 = {1, 3, zero, zdeep, 1, &add, 2, labels, 0, 0}, b1 = {0, 0, NULL, NULL, 1, &none, 2, labels, 0, 0};
        lm_batch b2 = {1, 3, some, NULL, 1, &add, 2, labels, 0, 0};
        float s0[2], s1[2], s2[2];
        cr_assert_eq(lm_score(m, &b0, s0), LM_OK, "%s", lm_errmsg(m));
        cr_assert_eq(lm_score(m, &b1, s1), LM_OK, "%s", lm_errmsg(m));
        cr_assert_eq(lm_score(m, &b2, s2), LM_OK, "%s", lm_errmsg(m));
        expect_close_f(s0, s1, 2, 1e-6, "zero prompt vs none");
        cr_expect(fabsf(s2[0] - s1[0]) > 1e-3, "a prompt changes the score");
        lm_close(m);
        rm_tree(dir);
    }
}
