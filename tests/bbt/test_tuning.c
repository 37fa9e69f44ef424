/* Tests of the tuning pieces (part of the test_bbt_core program): the settings table, the optimizer interface and its
 * saved states, prompt.json's numbers, and the projection's independence of the OpenBLAS thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <criterion/criterion.h>

#include "bbt/config.h"
#include "bbt/optimizer.h"
#include "bbt/projection.h"
#include "bbt/runfiles.h"
#include "bbt/scorer.h"
#include "bbt/util.h"
#include "optim/pcg.h"

/* ---- the settings table ---- */

Test(settings, defaults_help_and_names_come_from_the_table)
{
    tune_config c;
    tune_config_init(&c);
    cr_assert(c.budget == 8000 && c.popsize == 20 && c.dim == 500 && c.seed == 13 && c.label_space == -1);
    cr_assert(c.projection == PROJ_NORMAL && c.prompt_mode == LM_PROMPT_ADD && c.loss == LOSS_CE &&
              c.optimizer == OPTIMIZER_SEP && c.dtype == LM_BF16);
    cr_assert_str_eq(tune_config_name(&c, "dtype"), "bf16");
    c.optimizer = OPTIMIZER_RANDOM;
    cr_assert_str_eq(tune_config_name(&c, "optimizer"), "random");
    char *help = config_field_help(tune_config_field("loss"));
    cr_assert_str_eq(help, "training loss: ce, hinge, acc or f1 (default ce)");
    free(help);
    bbt_error err;
    cr_assert_eq(tune_config_set(&c, tune_config_field("label-space"), "no", &err), 0, "%s", err.msg);
    cr_assert_eq(c.label_space, 0);
    cr_assert_eq(tune_config_set(&c, tune_config_field("budget"), "ten", &err), -1);
    cr_assert(strstr(err.msg, "--budget") && strstr(err.msg, "ten"), "%s", err.msg);
    /* every setting has a command-line name, help, and a default that parses */
    int n;
    const config_field *f = tune_config_fields(&n);
    for (int i = 0; i < n; i++) {
        cr_assert(f[i].key && f[i].option && f[i].help && *f[i].help, "setting %d", i);
        cr_assert(!f[i].def || tune_config_set(&c, &f[i], f[i].def, &err) == 0, "--%s default: %s", f[i].option,
                  err.msg);
    }
    tune_config_free(&c);
}

/* ---- the optimizer interface ---- */

static tune_config small_config(optimizer_kind kind)
{
    tune_config c;
    tune_config_init(&c);
    c.optimizer = kind;
    c.dim = 7;
    c.popsize = 5;
    c.budget = 1000;
    return c;
}

/* Losses of a simple objective, so that CMA-ES moves. */
static void sphere(const double *x, int count, int dim, double *f)
{
    for (int i = 0; i < count; i++) {
        f[i] = 0;
        for (int k = 0; k < dim; k++)
            f[i] += (x[(size_t)i * dim + k] - 1) * (x[(size_t)i * dim + k] - 1);
    }
}

/* A few generations; then a method restored from the saved state asks exactly what the original asks. */
static void saved_state_resumes_exactly(optimizer_kind kind)
{
    tune_config c = small_config(kind);
    bbt_error err;
    optimizer a, b;
    cr_assert_eq(optimizer_open(&a, &c, NULL, 0, &err), 0, "%s", err.msg);
    const double *x;
    int count;
    double f[5];
    for (int g = 0; g < 4; g++) {
        cr_assert_eq(optimizer_ask(&a, &x, &count, &err), 0, "%s", err.msg);
        cr_assert_eq(count, 5);
        sphere(x, count, c.dim, f);
        cr_assert_eq(optimizer_tell(&a, f, &err), 0, "%s", err.msg);
    }
    optimizer_report r;
    optimizer_get_report(&a, &r);
    cr_assert_eq(r.mean == NULL, kind == OPTIMIZER_RANDOM, "only random search has no distribution mean");
    cr_assert_eq(isnan(r.sigma), kind == OPTIMIZER_RANDOM);
    unsigned char *blob;
    size_t len;
    cr_assert_eq(optimizer_save(&a, &blob, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(optimizer_open(&b, &c, blob, len, &err), 0, "%s", err.msg);
    const double *xa, *xb;
    int na, nb;
    cr_assert_eq(optimizer_ask(&a, &xa, &na, &err), 0);
    cr_assert_eq(optimizer_ask(&b, &xb, &nb, &err), 0);
    cr_assert_eq(na, nb);
    cr_assert(!memcmp(xa, xb, (size_t)na * c.dim * sizeof *xa), "the restored method asks other candidates");
    /* a state for another run is refused with a message, never half-read */
    tune_config other = small_config(kind);
    other.dim = 8;
    optimizer bad;
    cr_assert_eq(optimizer_open(&bad, &other, blob, kind == OPTIMIZER_RANDOM ? len - 1 : len, &err), -1);
    cr_assert(strstr(err.msg, kind == OPTIMIZER_RANDOM ? "bytes" : "does not match"), "%s", err.msg);
    free(blob);
    optimizer_close(&a);
    optimizer_close(&b);
    tune_config_free(&c);
    tune_config_free(&other);
}

Test(optimizer, cmaes_state_resumes_exactly)
{
    saved_state_resumes_exactly(OPTIMIZER_SEP);
    saved_state_resumes_exactly(OPTIMIZER_FULL);
}

Test(optimizer, random_search_state_resumes_exactly)
{
    saved_state_resumes_exactly(OPTIMIZER_RANDOM);
}

Test(optimizer, random_search_draws_sigma0_normals_from_its_stream)
{
    tune_config c = small_config(OPTIMIZER_RANDOM);
    c.sigma0 = 0.25;
    bbt_error err;
    optimizer o;
    cr_assert_eq(optimizer_open(&o, &c, NULL, 0, &err), 0, "%s", err.msg);
    const double *x;
    int count;
    cr_assert_eq(optimizer_ask(&o, &x, &count, &err), 0);
    pcg_rng rng;
    pcg_seed(&rng, 13, 0x72616e646f6dULL); /* the run seed, stream "random" */
    double want[35];
    pcg_fill_normal(&rng, want, 35);
    for (int i = 0; i < 35; i++)
        cr_assert(x[i] == 0.25 * want[i], "entry %d: %g vs %g", i, x[i], 0.25 * want[i]);
    optimizer_close(&o);
    tune_config_free(&c);
}

/* ---- prompt.json ---- */

Test(runfiles, prompt_json_z_reads_back_bit_for_bit)
{
    tune_config c;
    tune_config_init(&c);
    config_set(&c.model, "../shared/assets/models/stories260K");
    config_set(&c.task, "sst2");
    c.prompt_len = 4;
    c.threads = 1;
    c.dtype = LM_F32;
    bbt_error err;
    scorer s;
    cr_assert_eq(scorer_open(&s, &c, &err), 0, "%s", err.msg);
    /* values whose 15-digit text reads back one ulp off, and others that need all 17 digits */
    double *z = xmalloc((size_t)c.dim * sizeof *z);
    pcg_rng rng;
    pcg_seed(&rng, 5, 6);
    pcg_fill_normal(&rng, z, (size_t)c.dim);
    z[0] = 0.1, z[1] = 1.0 / 3, z[2] = nextafter(1.0, 2.0), z[3] = -2.5e-300, z[4] = 5e-324, z[5] = -0.0;
    z[6] = 1e30, z[7] = 123456789.12345678;
    run_results r = {.best_z = z, .source = "mean", .best_dev_evals = 100, .evals = 200, .wall_s = 1.0, .forward_s = 0.5};
    char dir[] = "/tmp/bbt-prompt-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *summary = NULL;
    cr_assert_eq(runfiles_write_results(dir, &c, &s, &r, &summary, &err), 0, "%s", err.msg);
    double *back;
    cr_assert_eq(runfiles_read_prompt(dir, &c, &back, &err), 0, "%s", err.msg);
    for (int i = 0; i < c.dim; i++)
        cr_assert(!memcmp(&back[i], &z[i], sizeof *z), "z[%d] = %.17g read back as %.17g", i, z[i], back[i]);
    free(back);
    free(summary);
    free(z);
    scorer_close(&s);
    tune_config_free(&c);
}

/* ---- the projection and OpenBLAS threads ---- */

Test(projection, result_does_not_depend_on_the_blas_thread_count)
{
    /* a size at which OpenBLAS 0.3 splits the product among threads, with other rounding, if let */
    int rows = 3200, dim = 500, count = 20;
    projection p;
    bbt_error err;
    cr_assert_eq(projection_init(&p, rows, dim, 13, PROJ_NORMAL, 1.0, 1.0, 0.3, NULL, &err), 0, "%s", err.msg);
    double *z = xmalloc((size_t)count * dim * sizeof *z);
    pcg_rng rng;
    pcg_seed(&rng, 1, 2);
    pcg_fill_normal(&rng, z, (size_t)count * dim);
    float *one = xmalloc((size_t)count * rows * sizeof *one), *many = xmalloc((size_t)count * rows * sizeof *many);
    int before = openblas_get_num_threads();
    openblas_set_num_threads(1);
    projection_apply(&p, z, count, one);
    openblas_set_num_threads(4);
    projection_apply(&p, z, count, many);
    cr_assert_eq(openblas_get_num_threads(), 4, "the process's setting is restored");
    openblas_set_num_threads(before);
    cr_assert(!memcmp(one, many, (size_t)count * rows * sizeof *one), "A·z differs between 1 and 4 OpenBLAS threads");
    free(one);
    free(many);
    free(z);
    projection_free(&p);
}
