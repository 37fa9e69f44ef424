/* models_test.h — helpers shared by the engine's Criterion tests (run from the repository root). */
#ifndef BBT_TESTS_MODELS_TEST_H
#define BBT_TESTS_MODELS_TEST_H

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fixtures/model_writer.h"
#include "models/lm.h"

#define STORIES_DIR "../shared/assets/models/stories260K"
#define STORIES_BIN STORIES_DIR "/stories260K.bin"

static inline lm *open_model(const char *path, lm_dtype dtype, int threads)
{
    lm_options o = {0};
    o.dtype = dtype;
    o.threads = threads;
    char err[1024];
    lm *m = NULL;
    int rc = lm_open(&m, path, &o, err, sizeof err);
    cr_assert_eq(rc, LM_OK, "lm_open(%s): %s", path, err);
    return m;
}

/* A fresh directory under /tmp; the caller removes it with rm_tree. */
static inline char *temp_dir(void)
{
    char *d = strdup("/tmp/bbt-models-test-XXXXXX");
    cr_assert(mkdtemp(d), "mkdtemp");
    return d;
}

static inline void rm_tree(char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

/* |a − b| ≤ tol · max(1, |b|) for all n values; reports the worst. */
static inline void expect_close(const float *a, const double *b, int n, double tol, const char *what)
{
    double worst = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    cr_expect(worst <= tol, "%s: worst relative error %.3g at %d (%.7g vs %.7g), tolerance %.3g", what, worst, at,
              (double)a[at], b[at], tol);
}

static inline void expect_close_f(const float *a, const float *b, int n, double tol, const char *what)
{
    double worst = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    cr_expect(worst <= tol, "%s: worst relative error %.3g at %d (%.7g vs %.7g), tolerance %.3g", what, worst, at,
              (double)a[at], (double)b[at], tol);
}

/* Greedy continuation of prompt[0..n) by full recomputation with lm_logits (steps ≤ 64, n + steps ≤ 128). */
static inline void greedy_by_logits(lm *m, const int *prompt, int n, int steps, int *out, int vocab)
{
    int seq[128];
    memcpy(seq, prompt, (size_t)n * sizeof *seq);
    float *lg = malloc((size_t)(n + steps) * vocab * sizeof *lg);
    for (int s = 0; s < steps; s++) {
        cr_assert_eq(lm_logits(m, seq, n + s, lg), LM_OK, "%s", lm_errmsg(m));
        const float *row = lg + (size_t)(n + s - 1) * vocab;
        int best = 0;
        for (int i = 1; i < vocab; i++)
            best = row[i] > row[best] ? i : best;
        seq[n + s] = out[s] = best;
    }
    free(lg);
}

/* Golden files: whitespace-separated words; '#' starts a comment that runs to the end of the line. */
static inline FILE *golden_open(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    return f;
}

/* The next word that is not in a comment; 0 at the end of the file. */
static inline int golden_word(FILE *f, char *word)
{
    while (fscanf(f, "%31s", word) == 1) {
        if (word[0] != '#')
            return 1;
        int c;
        while ((c = fgetc(f)) != '\n' && c != EOF)
            ;
    }
    return 0;
}

static inline void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Rewrite a key of dir/config.json (value NULL: delete it). */
static inline void edit_config(const char *dir, const char *key, cJSON *value)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    cJSON *c = cJSON_Parse(buf);
    cJSON_DeleteItemFromObject(c, key);
    if (value)
        cJSON_AddItemToObject(c, key, value);
    char *text = cJSON_Print(c);
    write_bytes(path, text, strlen(text));
    free(text);
    cJSON_Delete(c);
}

/* A small random model shape exercising GQA and an untied head. */
static inline mw_shape small_shape(void)
{
    mw_shape s = {48, 96, 3, 6, 2, 97, 64, 0, 0, 0};
    return s;
}

#endif
