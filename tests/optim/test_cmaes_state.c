/* test_cmaes_state.c — checkpoint/resume is bit-identical; files are written atomically; damaged states are refused
 * with a clear error. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optim/cmaes.h"
#include "tests/optim/crc32_ref.h"

/* A noisy, partly non-finite objective with its own generator, so that both runs see the same f sequence. */
typedef struct objective {
    pcg_rng rng;
    int noisy;
} objective;

static double evaluate(objective *ob, const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (i + 1) * (x[i] - 0.3) * (x[i] - 0.3);
    if (ob->noisy)
        s *= 1 + 0.3 * pcg_normal(&ob->rng);
    if (s > 0 && s < 1e-3 && pcg_uniform(&ob->rng) < 0.05)
        return NAN;   /* now and then a failed evaluation */
    return s;
}

/* A trace of everything the caller sees: every batch entry and f. */
typedef struct trace {
    double *v;
    size_t len, cap;
} trace;

static void record(trace *t, const double *v, size_t count)
{
    if (t->len + count > t->cap) {
        t->cap = (t->len + count) * 2;
        t->v = realloc(t->v, sizeof(double) * t->cap);
    }
    memcpy(t->v + t->len, v, sizeof(double) * count);
    t->len += count;
}

/* One generation; returns 0 once the optimizer has finished. */
static int generation(cmaes *es, objective *ob, trace *t)
{
    cmaes_batch b;
    if (cmaes_ask(es, &b) != CMAES_OK)
        return 0;
    double *f = malloc(sizeof(double) * (size_t)b.count);
    for (int i = 0; i < b.count; i++)
        f[i] = evaluate(ob, b.x + (size_t)i * b.dim, b.dim);
    record(t, b.x, (size_t)b.count * b.dim);
    record(t, f, (size_t)b.count);
    cr_assert_eq(cmaes_tell(es, f), CMAES_OK);
    free(f);
    cmaes_status st;
    cmaes_get_status(es, &st);
    double s = st.sigma;
    record(t, &s, 1);
    return 1;
}

static cmaes *reload(cmaes *es)
{
    unsigned char *buf;
    size_t len;
    cr_assert_eq(cmaes_serialize(es, &buf, &len), CMAES_OK);
    cmaes_free(es);
    cmaes *back;
    char err[CMAES_ERRMSG_MAX];
    cr_assert_eq(cmaes_deserialize(&back, buf, len, err, sizeof err), CMAES_OK, "%s", err);
    free(buf);
    return back;
}

/* Uninterrupted run vs a run checkpointed at `stops` generations (the last one while a batch is pending). */
static void check_resume(const cmaes_options *o, int noisy, int generations)
{
    objective oa = {.noisy = noisy}, ob = {.noisy = noisy};
    pcg_seed(&oa.rng, 77, 1);
    pcg_seed(&ob.rng, 77, 1);
    trace ta = {0}, tb = {0};
    cmaes *a, *b;
    char err[CMAES_ERRMSG_MAX];
    cr_assert_eq(cmaes_create(&a, o, err, sizeof err), CMAES_OK, "%s", err);
    cr_assert_eq(cmaes_create(&b, o, err, sizeof err), CMAES_OK, "%s", err);
    for (int g = 0; g < generations && generation(a, &oa, &ta); g++)
        ;
    for (int g = 0; g < generations; g++) {
        if (g % 7 == 3)
            b = reload(b);
        if (g % 11 == 5) {   /* checkpoint between ask and tell */
            cmaes_batch x;
            if (cmaes_ask(b, &x) == CMAES_OK)
                b = reload(b);
        }
        if (!generation(b, &ob, &tb))
            break;
    }
    cr_assert_eq(ta.len, tb.len, "traces differ in length: %zu vs %zu", ta.len, tb.len);
    cr_assert(memcmp(ta.v, tb.v, sizeof(double) * ta.len) == 0, "resumed run differs from the uninterrupted one");
    unsigned char *sa, *sb;
    size_t la, lb;
    cr_assert_eq(cmaes_serialize(a, &sa, &la), CMAES_OK);
    cr_assert_eq(cmaes_serialize(b, &sb, &lb), CMAES_OK);
    cr_assert(la == lb && memcmp(sa, sb, la) == 0, "final states differ");
    free(sa);
    free(sb);
    free(ta.v);
    free(tb.v);
    cmaes_free(a);
    cmaes_free(b);
}

Test(cmaes_state, resume_is_bit_identical)
{
    double x0[6] = {1, -1, 2, 0.5, 0, 3}, lo[6], hi[6];
    for (int i = 0; i < 6; i++) {
        lo[i] = -4;
        hi[i] = 4;
    }
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 6;
    o.x0 = x0;
    o.seed = 5;
    check_resume(&o, 0, 60);   /* full, CSA */
    o.variant = CMAES_SEP;
    check_resume(&o, 0, 60);
    o.step_rule = CMAES_STEP_TPA;
    check_resume(&o, 0, 60);

    /* bounds, noise handling with repeated evaluations, restarts (max_iter forces them) */
    cmaes_options_init(&o);
    o.dim = 6;
    o.x0_uniform_lo = -3;
    o.x0_uniform_hi = 3;
    o.lower = lo;
    o.upper = hi;
    o.noise_handling = 1;
    o.noise_max_evals = 3;
    o.noise_alpha_evals = 1.5;
    o.restarts = CMAES_RESTART_IPOP;
    o.max_iter = 15;
    o.seed = 6;
    check_resume(&o, 1, 80);
    o.variant = CMAES_SEP;
    o.restarts = CMAES_RESTART_BIPOP;
    check_resume(&o, 1, 80);
}

Test(cmaes_state, injected_solutions_survive_a_checkpoint)
{
    double x0[4] = {1, 1, 1, 1}, inj[4] = {0.3, 0.3, 0.3, 0.3};
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 4;
    o.x0 = x0;
    cmaes *a, *b;
    cr_assert_eq(cmaes_create(&a, &o, NULL, 0), CMAES_OK);
    cr_assert_eq(cmaes_create(&b, &o, NULL, 0), CMAES_OK);
    cmaes_inject(a, inj);
    cmaes_inject(b, inj);
    b = reload(b);
    objective oa = {0}, ob = {0};
    trace ta = {0}, tb = {0};
    for (int g = 0; g < 5; g++) {
        generation(a, &oa, &ta);
        generation(b, &ob, &tb);
    }
    cr_assert(ta.len == tb.len && memcmp(ta.v, tb.v, sizeof(double) * ta.len) == 0);
    cr_assert_eq(ta.v[0], 0.3);
    free(ta.v);
    free(tb.v);
    cmaes_free(a);
    cmaes_free(b);
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        count += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return count;
}

Test(cmaes_state, save_and_load_files)
{
    char dir[] = "/tmp/cmaes-state-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/opt.state", dir);
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 7;
    o.variant = CMAES_FULL;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    objective ob = {0};
    trace t = {0};
    for (int g = 0; g < 10; g++)
        generation(es, &ob, &t);
    cr_assert_eq(cmaes_save(es, path), CMAES_OK, "%s", cmaes_errmsg(es));
    cr_assert_eq(cmaes_save(es, path), CMAES_OK);   /* replaces the previous file */
    cr_assert_eq(count_tmp_files(dir), 0);
    cmaes *back;
    char err[CMAES_ERRMSG_MAX];
    cr_assert_eq(cmaes_load(&back, path, err, sizeof err), CMAES_OK, "%s", err);
    unsigned char *s1, *s2;
    size_t l1, l2;
    cmaes_serialize(es, &s1, &l1);
    cmaes_serialize(back, &s2, &l2);
    cr_assert(l1 == l2 && memcmp(s1, s2, l1) == 0);
    free(s1);
    free(s2);
    cmaes_free(back);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/opt.state", dir);
    cr_assert_eq(cmaes_save(es, missing), CMAES_ERR_IO);
    cr_assert(strstr(cmaes_errmsg(es), missing) != NULL, "%s", cmaes_errmsg(es));
    cr_assert_eq(cmaes_load(&back, missing, err, sizeof err), CMAES_ERR_IO);
    cr_assert_null(back);
    cr_assert(strstr(err, "No such file") != NULL, "%s", err);
    cmaes_free(es);
    unlink(path);
    rmdir(dir);
    free(t.v);
}

static void expect_refused(const unsigned char *buf, size_t len, int code, const char *needle)
{
    cmaes *es = (cmaes *)1;
    char err[CMAES_ERRMSG_MAX] = "";
    cr_assert_eq(cmaes_deserialize(&es, buf, len, err, sizeof err), code, "%s", err);
    cr_assert_null(es);
    cr_assert(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
}

Test(cmaes_state, damaged_states_are_refused)
{
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = 5;
    cmaes *es;
    cr_assert_eq(cmaes_create(&es, &o, NULL, 0), CMAES_OK);
    unsigned char *buf;
    size_t len;
    cr_assert_eq(cmaes_serialize(es, &buf, &len), CMAES_OK);
    cmaes_free(es);
    unsigned char *copy = malloc(len);

    memcpy(copy, buf, len);
    copy[len / 2] ^= 0x10;
    expect_refused(copy, len, CMAES_ERR_CORRUPT, "checksum");
    expect_refused(buf, len - 9, CMAES_ERR_CORRUPT, "truncated");
    expect_refused(buf, 10, CMAES_ERR_FORMAT, "not a cmaes state");
    memcpy(copy, buf, len);
    copy[0] = 'X';
    expect_refused(copy, len, CMAES_ERR_FORMAT, "not a cmaes state");
    memcpy(copy, buf, len);
    copy[8] = 2;
    expect_refused(copy, len, CMAES_ERR_FORMAT, "version 2");
    /* a consistent checksum over a bad value: the options are validated as at creation */
    memcpy(copy, buf, len);
    copy[24] = 0;   /* dim, the first payload field */
    crc32_reseal(copy, len);
    expect_refused(copy, len, CMAES_ERR_CORRUPT, "dim");
    memcpy(copy, buf, len);
    copy[24 + 3 * 8 + 7] ^= 0x80;   /* the sign bit of sigma0 (little-endian: in its last byte) */
    crc32_reseal(copy, len);
    expect_refused(copy, len, CMAES_ERR_CORRUPT, "sigma0");
    /* cut inside the run state, resealed: a missing field is named */
    memcpy(copy, buf, len);
    size_t cut = len - 200;
    uint64_t payload = cut - 28;
    for (int i = 0; i < 8; i++)
        copy[16 + i] = (unsigned char)(payload >> (8 * i));
    crc32_reseal(copy, cut);
    expect_refused(copy, cut, CMAES_ERR_CORRUPT, "field");
    expect_refused(NULL, 0, CMAES_ERR_ARG, "NULL");
    free(copy);
    free(buf);
}
