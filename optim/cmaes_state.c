/* cmaes_state.c — checkpoints: the complete optimizer state to and from a byte buffer, and atomically to a file.
 *
 * Format (all integers little-endian, doubles as their IEEE-754 bit patterns, so a state is exact and portable):
 *     "BBTCMAES"  u32 version  u32 0  u64 payload length  payload  u32 CRC-32 (IEEE) of everything before it
 * The payload is the options, then the run and generation state, in the order of the `state_fields` walk below; the
 * same walk writes and reads, so the two cannot drift apart. On reading, every count is checked against what the
 * options imply before anything is allocated or copied, and the options are validated as at creation: a damaged or
 * crafted state gives an error with the offending field, never a crash.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32.h"
#include "common/files.h"
#include "optim/cmaes_internal.h"

static const unsigned char MAGIC[8] = {'B', 'B', 'T', 'C', 'M', 'A', 'E', 'S'};
#define HEADER_SIZE 24
#define MAX_LOAD_BUFFER ((size_t)1 << 24)   /* doubles in one λ x n buffer of a loaded state */

/* A cursor that writes into a growing buffer or reads from a fixed one. */
typedef struct io {
    unsigned char *buf;
    size_t len, cap, pos;
    int reading;
    int failed;            /* sticky: after a failure every operation is a no-op */
    const char *field;     /* what failed, for the message */
} io;

static void io_raw(io *s, void *p, size_t k, const char *field)
{
    if (s->failed)
        return;
    if (s->reading) {
        if (k > s->len - s->pos) {
            s->failed = 1;
            s->field = field;
            return;
        }
        memcpy(p, s->buf + s->pos, k);
        s->pos += k;
        return;
    }
    if (k > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 4096;
        while (k > cap - s->len)
            cap *= 2;
        unsigned char *b = realloc(s->buf, cap);
        if (!b) {
            s->failed = 1;
            s->field = "memory";
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, k);
    s->len += k;
}

static void io_u64(io *s, uint64_t *v, const char *field)
{
    unsigned char b[8];
    if (!s->reading)
        common_put_le(b, *v, 8);
    io_raw(s, b, 8, field);
    if (s->reading && !s->failed)
        *v = common_get_le(b, 8);
}

static void io_f64(io *s, double *v, const char *field)
{
    uint64_t bits;
    memcpy(&bits, v, sizeof bits);
    io_u64(s, &bits, field);
    if (s->reading && !s->failed)
        memcpy(v, &bits, sizeof bits);
}

static void io_long(io *s, long *v, const char *field)
{
    uint64_t u = (uint64_t)(int64_t)*v;
    io_u64(s, &u, field);
    if (s->reading && !s->failed)
        *v = (long)(int64_t)u;
}

static void io_int(io *s, int *v, const char *field)
{
    long l = *v;
    io_long(s, &l, field);
    if (s->reading && !s->failed) {
        if (l < -2147483647L || l > 2147483647L) {
            s->failed = 1;
            s->field = field;
            return;
        }
        *v = (int)l;
    }
}

static void io_unsigned(io *s, unsigned *v, const char *field)
{
    uint64_t u = *v;
    io_u64(s, &u, field);
    if (s->reading && !s->failed)
        *v = (unsigned)u;
}

static void io_f64s(io *s, double *v, size_t count, const char *field)
{
    for (size_t i = 0; i < count && !s->failed; i++)
        io_f64(s, &v[i], field);
}

/* Reading: a count must lie in [lo, hi], else the state is inconsistent. */
static int io_check(io *s, long value, long lo, long hi, const char *field)
{
    if (s->failed)
        return 0;
    if (value < lo || value > hi) {
        s->failed = 1;
        s->field = field;
        return 0;
    }
    return 1;
}

#define ENUM_FIELD(s, v, name)          \
    do {                                \
        int e_ = (int)(v);              \
        io_int(s, &e_, name);           \
        (v) = e_;                       \
    } while (0)

/* The options (the vectors as presence flags, their values follow in options_vectors). */
static void options_scalars(io *s, cmaes_options *o, int *has)
{
    io_int(s, &o->dim, "dim");
    io_f64(s, &o->x0_uniform_lo, "x0_uniform_lo");
    io_f64(s, &o->x0_uniform_hi, "x0_uniform_hi");
    io_f64(s, &o->sigma0, "sigma0");
    io_u64(s, &o->seed, "seed");
    ENUM_FIELD(s, o->variant, "variant");
    io_int(s, &o->popsize, "popsize");
    io_int(s, &o->mu, "mu");
    io_int(s, &o->active, "active");
    ENUM_FIELD(s, o->step_rule, "step_rule");
    ENUM_FIELD(s, o->sampling, "sampling");
    io_f64(s, &o->eigen_gap_factor, "eigen_gap_factor");
    ENUM_FIELD(s, o->restarts, "restarts");
    io_int(s, &o->max_restarts, "max_restarts");
    io_f64(s, &o->incpopsize, "incpopsize");
    io_int(s, &o->noise_handling, "noise_handling");
    io_f64(s, &o->noise_reevals, "noise_reevals");
    io_f64(s, &o->noise_epsilon, "noise_epsilon");
    io_f64(s, &o->noise_max_evals, "noise_max_evals");
    io_f64(s, &o->noise_alpha_sigma, "noise_alpha_sigma");
    io_f64(s, &o->noise_alpha_evals, "noise_alpha_evals");
    io_f64(s, &o->ftarget, "ftarget");
    io_long(s, &o->max_fevals, "max_fevals");
    io_long(s, &o->max_iter, "max_iter");
    io_f64(s, &o->tolfun, "tolfun");
    io_f64(s, &o->tolfunhist, "tolfunhist");
    io_f64(s, &o->tolx, "tolx");
    io_f64(s, &o->tolupsigma, "tolupsigma");
    io_f64(s, &o->tolconditioncov, "tolconditioncov");
    io_int(s, &o->tolstagnation, "tolstagnation");
    io_int(s, &o->tolflatfitness, "tolflatfitness");
    io_int(s, &o->tolnonfinite, "tolnonfinite");
    io_int(s, has, "vector flags");
}

enum { HAS_X0 = 1, HAS_SCALE = 2, HAS_BOUNDS = 4 };

/* Whether the pending batch lives in `rows` (as cmaes_sample decides). */
static int uses_rows(const cmaes *es)
{
    return es->lower || es->evals_per > 1 || es->reev_count > 0;
}

/* The pending generation, present only between ask and tell. */
static void pending_fields(io *s, cmaes *es)
{
    size_t n = (size_t)es->n, lam = (size_t)es->par.lambda;
    io_int(s, &es->evals_per, "evals_per");
    io_int(s, &es->reev_count, "reev_count");
    io_int(s, &es->row_count, "row_count");
    io_int(s, &es->tpa_pair, "tpa_pair");
    io_int(s, &es->mirror_pairs, "mirror_pairs");
    if (s->reading) {
        int evals_max = es->opt.noise_handling ? (int)floor(es->opt.noise_max_evals) : 1;
        if (!io_check(s, es->evals_per, 1, evals_max, "evals_per") ||
            !io_check(s, es->reev_count, 0, es->opt.noise_handling ? es->par.lambda : 0, "reev_count") ||
            !io_check(s, es->row_count, 0, es->rows_cap, "row_count") || !io_check(s, es->tpa_pair, 0, 1, "tpa_pair") ||
            !io_check(s, es->mirror_pairs, 0, es->par.lambda, "mirror_pairs"))
            return;
        /* cmaes_tell reads exactly this many f values: each candidate and re-evaluation point evals_per times */
        int rows = (es->par.lambda + es->reev_count) * es->evals_per;
        if (!io_check(s, es->row_count, rows, rows, "row_count"))
            return;
    }
    io_f64s(s, es->Z, lam * n, "Z");
    io_f64s(s, es->Y, lam * n, "Y");
    io_f64s(s, es->X, lam * n, "X");
    io_f64s(s, es->reev_x, (size_t)es->reev_count * n, "reev_x");
    if (uses_rows(es))
        io_f64s(s, es->rows, (size_t)es->row_count * n, "rows");
    for (size_t k = 0; k < lam && !s->failed; k++) {
        int v = es->injected[k];
        io_int(s, &v, "injected");
        if (s->reading && io_check(s, v, 0, 1, "injected"))
            es->injected[k] = (unsigned char)v;
    }
}

/* Everything after the options. Reading: es was created from the options, buffers are sized by cmaes_run_resize. */
static void run_fields(io *s, cmaes *es)
{
    size_t n = (size_t)es->n;
    int full = es->opt.variant == CMAES_FULL;
    io_u64(s, &es->rng.state_hi, "rng");
    io_u64(s, &es->rng.state_lo, "rng");
    io_u64(s, &es->rng.inc_hi, "rng");
    io_u64(s, &es->rng.inc_lo, "rng");
    io_f64(s, &es->sigma, "sigma");
    io_f64(s, &es->sigma0_run, "sigma0_run");
    io_f64s(s, es->mean, n, "mean");
    io_f64s(s, es->mean_old, n, "mean_old");
    io_f64s(s, es->ps, n, "ps");
    io_f64s(s, es->pc, n, "pc");
    io_f64s(s, es->C, full ? n * n : n, "C");
    if (full)
        io_f64s(s, es->B, n * n, "B");
    io_f64s(s, es->D, n, "D");
    io_f64s(s, es->dm, n, "dm");
    io_long(s, &es->eigen_iter, "eigen_iter");
    io_long(s, &es->run_iter, "run_iter");
    io_long(s, &es->run_start_evals, "run_start_evals");
    io_f64(s, &es->tpa_s, "tpa_s");
    io_int(s, &es->flat_count, "flat_count");
    io_int(s, &es->nonfinite_count, "nonfinite_count");
    io_int(s, &es->hist_count, "hist_count");
    io_int(s, &es->hist_pos, "hist_pos");
    if (s->reading && (!io_check(s, es->hist_count, 0, es->par.hist_len, "hist_count") ||
                       !io_check(s, es->hist_pos, 0, es->par.hist_len - 1, "hist_pos")))
        return;
    io_f64s(s, es->hist_best, (size_t)es->hist_count, "hist_best");
    io_int(s, &es->stag_count, "stag_count");
    io_int(s, &es->stag_pos, "stag_pos");
    if (s->reading && (!io_check(s, es->stag_count, 0, es->stag_cap, "stag_count") ||
                       !io_check(s, es->stag_pos, 0, es->stag_cap - 1, "stag_pos")))
        return;
    io_f64s(s, es->stag_best, (size_t)es->stag_count, "stag_best");
    io_f64s(s, es->stag_median, (size_t)es->stag_count, "stag_median");

    io_int(s, &es->inj_count, "inj_count");
    if (s->reading && !io_check(s, es->inj_count, 0, CMAES_INJECT_MAX, "inj_count"))
        return;
    io_f64s(s, es->inj, (size_t)es->inj_count * n, "inj");

    io_long(s, &es->iter, "iter");
    io_long(s, &es->evals, "evals");
    io_long(s, &es->best_eval, "best_eval");
    io_long(s, &es->nonfinite_total, "nonfinite_total");
    io_int(s, &es->restarts, "restarts");
    io_int(s, &es->repairs, "repairs");
    io_f64(s, &es->best_f, "best_f");
    io_f64s(s, es->best_x, n, "best_x");
    io_f64s(s, es->mean_pheno, n, "mean_pheno");
    io_unsigned(s, &es->stop, "stop");
    io_int(s, &es->finished, "finished");
    io_int(s, &es->restarted, "restarted");
    io_unsigned(s, &es->restart_reason, "restart_reason");
    io_int(s, &es->flat_last, "flat_last");
    io_int(s, &es->nonfinite_last, "nonfinite_last");
    io_int(s, &es->large_runs, "large_runs");
    io_int(s, &es->small_regime, "small_regime");
    io_long(s, &es->evals_large, "evals_large");
    io_long(s, &es->evals_small, "evals_small");
    io_f64(s, &es->noise_s, "noise_s");
    io_f64(s, &es->noise_evals, "noise_evals");
    io_f64(s, &es->noise_sigma_factor, "noise_sigma_factor");
    io_int(s, &es->noise_reev_last, "noise_reev_last");
    io_int(s, &es->pending, "pending");
    if (s->reading && (!io_check(s, es->pending, 0, 1, "pending") || !io_check(s, es->finished, 0, 1, "finished") ||
                       !io_check(s, es->restarted, 0, 1, "restarted") ||
                       !io_check(s, es->small_regime, 0, 1, "small_regime") ||
                       !io_check(s, es->large_runs, 0, es->opt.max_restarts, "large_runs") ||
                       !io_check(s, es->restarts, 0, 2147483647, "restarts") ||
                       !io_check(s, es->flat_count, 0, 2147483647, "flat_count") ||
                       !io_check(s, es->nonfinite_count, 0, 2147483647, "nonfinite_count") ||
                       !io_check(s, es->noise_reev_last, 0, es->par.lambda, "noise_reev_last")))
        return;
    if (s->reading && (!io_check(s, es->run_iter, 0, LONG_MAX, "run_iter") ||
                       !io_check(s, es->eigen_iter, 0, es->run_iter, "eigen_iter") ||
                       !io_check(s, es->iter, es->run_iter, LONG_MAX, "iter") ||
                       !io_check(s, es->evals, 0, LONG_MAX, "evals") ||
                       !io_check(s, es->run_start_evals, 0, es->evals, "run_start_evals") ||
                       !io_check(s, es->evals_large, 0, es->evals, "evals_large") ||
                       !io_check(s, es->evals_small, 0, es->evals, "evals_small")))
        return;
    if (s->reading && es->opt.noise_handling &&
        !(es->noise_evals >= 1 && es->noise_evals <= es->opt.noise_max_evals)) {
        s->failed = 1;
        s->field = "noise_evals";
        return;
    }
    if (es->pending)
        pending_fields(s, es);
}

int cmaes_serialize(cmaes *es, unsigned char **buf, size_t *len)
{
    if (!es || !buf || !len)
        return es ? cmaes_fail(es, CMAES_ERR_ARG, "cmaes_serialize: buf and len must not be NULL") : CMAES_ERR_ARG;
    io s = {0};
    unsigned char header[HEADER_SIZE] = {0};
    io_raw(&s, header, HEADER_SIZE, "header");
    cmaes_options o = es->opt;
    int has = (es->x0 ? HAS_X0 : 0) | HAS_SCALE | (es->lower ? HAS_BOUNDS : 0);
    options_scalars(&s, &o, &has);
    if (es->x0)
        io_f64s(&s, es->x0, (size_t)es->n, "x0");
    io_f64s(&s, es->scale, (size_t)es->n, "sigma0_scale");
    if (es->lower) {
        io_f64s(&s, es->lower, (size_t)es->n, "lower");
        io_f64s(&s, es->upper, (size_t)es->n, "upper");
    }
    int lambda = es->par.lambda;
    io_int(&s, &lambda, "lambda");
    run_fields(&s, es);
    unsigned char crc[4] = {0};
    io_raw(&s, crc, 4, "crc");
    if (s.failed) {
        free(s.buf);
        return cmaes_fail(es, CMAES_ERR_NOMEM, "cmaes_serialize: out of memory");
    }
    memcpy(s.buf, MAGIC, 8);
    uint64_t payload = s.len - HEADER_SIZE - 4;
    common_put_le(s.buf + 8, CMAES_STATE_VERSION, 4);
    common_put_le(s.buf + 16, payload, 8);
    common_put_le(s.buf + s.len - 4, common_crc32(s.buf, s.len - 4), 4);
    *buf = s.buf;
    *len = s.len;
    return CMAES_OK;
}

static int read_fail(char *errbuf, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int read_fail(char *errbuf, size_t errlen, int code, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The λ x n buffers of a generation (with noise handling: repeated and re-evaluated rows) fit the load limit. */
static int sane_generation(const cmaes_options *o, long lambda)
{
    size_t per = o->noise_handling ? 2 * (size_t)floor(o->noise_max_evals) : 1;
    return lambda >= 2 && lambda <= 10000000 && (size_t)lambda * per * (size_t)o->dim <= MAX_LOAD_BUFFER;
}

/* The options part: scalars, then the vectors (into `vectors`, 4 n doubles, freed by the caller). */
static int read_options(io *s, cmaes_options *o, double **vectors, char *errbuf, size_t errlen)
{
    int has = 0;
    cmaes_options_init(o);
    options_scalars(s, o, &has);
    if (s->failed)
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: truncated at option %s", s->field);
    size_t n = o->dim > 0 ? (size_t)o->dim : 0;
    if (n == 0 || n > (s->len - s->pos) / 8 || (has & ~(HAS_X0 | HAS_SCALE | HAS_BOUNDS)))
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: dim = %d does not fit the data", o->dim);
    double *v = *vectors = calloc(4 * n, sizeof(double));
    if (!v)
        return read_fail(errbuf, errlen, CMAES_ERR_NOMEM, "out of memory reading a state of dim %zu", n);
    if (has & HAS_X0) {
        io_f64s(s, v, n, "x0");
        o->x0 = v;
    }
    if (has & HAS_SCALE) {
        io_f64s(s, v + n, n, "sigma0_scale");
        o->sigma0_scale = v + n;
    }
    if (has & HAS_BOUNDS) {
        io_f64s(s, v + 2 * n, n, "lower");
        io_f64s(s, v + 3 * n, n, "upper");
        o->lower = v + 2 * n;
        o->upper = v + 3 * n;
    }
    char msg[CMAES_ERRMSG_MAX];
    if (s->failed)
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: truncated at %s", s->field);
    if (cmaes_options_check(o, msg, sizeof msg) != CMAES_OK)
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: %s", msg);
    /* sizes implied by the options must be backed by the data (C and B of the full variant are in it) or be sane */
    size_t rest = s->len - s->pos;
    int lambda = o->popsize ? o->popsize : cmaes_default_popsize(o->dim);
    if ((o->variant == CMAES_FULL && n > rest / 16 / n) || !sane_generation(o, lambda))
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: dim = %d, popsize = %d do not fit "
                         "the data", o->dim, lambda);
    return CMAES_OK;
}

/* The λ of the stored run must be one the options can produce, and its buffers must be of a sane size. */
static int check_lambda(const cmaes *es, long lambda)
{
    const cmaes_options *o = &es->opt;
    double top = es->lambda_default;
    if (o->restarts != CMAES_RESTART_NONE)
        top = floor(es->lambda_default * pow(o->incpopsize, (o->max_restarts < 60 ? o->max_restarts : 60) + 1));
    return lambda <= top && sane_generation(o, lambda);
}

int cmaes_deserialize(cmaes **out, const unsigned char *buf, size_t len, char *errbuf, size_t errlen)
{
    if (!out || !buf) {
        if (out)
            *out = NULL;
        return read_fail(errbuf, errlen, CMAES_ERR_ARG, "cmaes_deserialize: NULL argument");
    }
    *out = NULL;
    if (len < HEADER_SIZE + 4 || memcmp(buf, MAGIC, 8) != 0)
        return read_fail(errbuf, errlen, CMAES_ERR_FORMAT, "not a cmaes state (no BBTCMAES header, %zu bytes)", len);
    uint32_t version = (uint32_t)common_get_le(buf + 8, 4);
    if (version != CMAES_STATE_VERSION)
        return read_fail(errbuf, errlen, CMAES_ERR_FORMAT, "cmaes state version %u: this library reads version %d",
                         (unsigned)version, CMAES_STATE_VERSION);
    uint64_t payload = common_get_le(buf + 16, 8);
    if (payload != len - HEADER_SIZE - 4)
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: truncated or padded (%zu bytes)", len);
    if ((uint32_t)common_get_le(buf + len - 4, 4) != common_crc32(buf, len - 4))
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: checksum mismatch (%zu bytes)", len);

    io s = {(unsigned char *)buf, len - 4, 0, HEADER_SIZE, 1, 0, NULL};
    cmaes_options o;
    double *vectors = NULL;
    int rc = read_options(&s, &o, &vectors, errbuf, errlen);
    cmaes *es = NULL;
    if (rc == CMAES_OK)
        rc = cmaes_create(&es, &o, errbuf, errlen);
    free(vectors);
    if (rc != CMAES_OK)
        return rc;
    int lambda = 0;
    io_int(&s, &lambda, "lambda");
    if (!s.failed && !check_lambda(es, lambda)) {
        s.failed = 1;
        s.field = "lambda";
    }
    if (!s.failed && cmaes_run_resize(es, lambda) != CMAES_OK) {
        cmaes_free(es);
        return read_fail(errbuf, errlen, CMAES_ERR_NOMEM, "out of memory for a state with popsize %d", lambda);
    }
    run_fields(&s, es);
    if (!s.failed && s.pos != s.len) {
        s.failed = 1;
        s.field = "end (extra data)";
    }
    if (s.failed) {
        cmaes_free(es);
        return read_fail(errbuf, errlen, CMAES_ERR_CORRUPT, "corrupt cmaes state: bad or missing field %s (byte %zu)",
                         s.field, s.pos);
    }
    *out = es;
    return CMAES_OK;
}

int cmaes_save(cmaes *es, const char *path)
{
    if (!es || !path)
        return es ? cmaes_fail(es, CMAES_ERR_ARG, "cmaes_save: path is NULL") : CMAES_ERR_ARG;
    unsigned char *buf;
    size_t len;
    int rc = cmaes_serialize(es, &buf, &len);
    if (rc != CMAES_OK)
        return rc;
    char msg[CMAES_ERRMSG_MAX];
    rc = common_write_atomic(path, buf, len, msg, sizeof msg);   /* file and directory fsync'd */
    free(buf);
    return rc ? cmaes_fail(es, CMAES_ERR_IO, "cmaes_save: %s", msg) : CMAES_OK;
}

int cmaes_load(cmaes **out, const char *path, char *errbuf, size_t errlen)
{
    if (!out || !path) {
        if (out)
            *out = NULL;
        return read_fail(errbuf, errlen, CMAES_ERR_ARG, "cmaes_load: NULL argument");
    }
    *out = NULL;
    char *data, msg[CMAES_ERRMSG_MAX];
    size_t len;
    if (common_read_file(path, &data, &len, msg, sizeof msg))
        return read_fail(errbuf, errlen, errno == ENOMEM ? CMAES_ERR_NOMEM : CMAES_ERR_IO, "cmaes_load: %s", msg);
    unsigned char *buf = (unsigned char *)data;
    int rc = cmaes_deserialize(out, buf, len, errbuf, errlen);
    free(buf);
    if (rc != CMAES_OK && errbuf && errlen) {
        char detail[CMAES_ERRMSG_MAX];
        snprintf(detail, sizeof detail, "%s", errbuf);
        snprintf(errbuf, errlen, "%s: %s", path, detail);
    }
    return rc;
}
