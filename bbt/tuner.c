/* tuner.c — the Black-Box Tuning loop: generations, dev evaluations, the log and checkpoints. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_statistics_double.h>

#include "bbt/checkpoint.h"
#include "bbt/deep.h"
#include "bbt/files.h"
#include "bbt/optimizer.h"
#include "bbt/runfiles.h"
#include "bbt/scorer.h"
#include "bbt/remote_client.h"
#include "bbt/tuner.h"
#include "bbt/util.h"

/* Where the kept prompt came from. */
enum { FROM_UNTUNED = 0, FROM_MEAN = 1, FROM_BEST = 2 };
static const char *const source_names[] = {"untuned", "mean", "generation_best"};

/* Everything that changes as the run goes, and all of it is in the checkpoint. */
typedef struct tune_state {
    long evals, generation, next_dev;
    double train_loss_initial, untuned_dev;
    double best_train_loss;
    double *best_train_z;
    double best_dev;
    double *best_dev_z;
    long best_dev_evals;
    long best_dev_source;
    double last_dev;
    double elapsed_s, forward_s;
    long log_bytes;
    long stop_bits;        /* the optimizer's stop reasons when it ended before the budget */
} tune_state;

struct tuner {
    tune_config cfg;
    int zdim;              /* values of z: d, or N·d with deep prompts (bbt/deep.h) */
    char *dir;
    scorer sc;
    dataset train, dev, test;
    encoded_set etrain, edev, etest;
    optimizer opt;
    tune_state st;
    FILE *log;
    double session_start, session_forward_start;
    long session_evals_start;
};

const tune_config *tuner_config(const tuner *t)
{
    return &t->cfg;
}

const task *tuner_task(const tuner *t)
{
    return &t->sc.task;
}

int tuner_done(const tuner *t)
{
    return t->st.evals >= t->cfg.budget || t->st.stop_bits != 0;
}

long tuner_evals(const tuner *t)
{
    return t->st.evals;
}

unsigned tuner_stop_bits(const tuner *t)
{
    return (unsigned)t->st.stop_bits;
}

/* ---- setting up ---- */

static int load_splits(tuner *t, bbt_error *err)
{
    if (scorer_load(&t->sc, t->cfg.train, 1, &t->train, &t->etrain, err) ||
        scorer_load(&t->sc, t->cfg.dev, 1, &t->dev, &t->edev, err))
        return -1;
    if (t->cfg.test && scorer_load(&t->sc, t->cfg.test, 1, &t->test, &t->etest, err))
        return -1;
    return 0;
}

static int write_checkpoint(tuner *t, bbt_error *err);

static tuner *tuner_alloc(const tune_config *cfg, const char *dir)
{
    tuner *t = xcalloc(1, sizeof *t);
    tune_config_copy(&t->cfg, cfg);
    t->dir = xstrdup(dir);
    return t;
}

/* The kept z's, once the size of z is known (a new deep run learns its layers from the model). */
static void alloc_z(tuner *t)
{
    t->zdim = deep_zdim(&t->cfg);
    t->st.best_train_z = xcalloc((size_t)t->zdim, sizeof(double));
    t->st.best_dev_z = xcalloc((size_t)t->zdim, sizeof(double));
}

/* Score the untuned prompt (z = 0) on train and dev: the starting point every report compares against. */
static int score_untuned(tuner *t, bbt_error *err)
{
    int C = t->sc.labels.n;
    float *scores = xmalloc((size_t)(t->etrain.n > t->edev.n ? t->etrain.n : t->edev.n) * C * sizeof *scores);
    int rc = scorer_score(&t->sc, &t->etrain, NULL, 1, scores, err);
    if (!rc) {
        scorer_losses(&t->sc, &t->etrain, scores, 1, &t->st.train_loss_initial);
        rc = scorer_score(&t->sc, &t->edev, NULL, 1, scores, err);
    }
    if (!rc) {
        t->st.untuned_dev = scorer_metric(&t->sc, &t->edev, scores);
        t->st.best_dev = t->st.untuned_dev;
        t->st.best_dev_source = FROM_UNTUNED;
        t->st.best_train_loss = t->st.train_loss_initial;
        t->st.last_dev = NAN;
    }
    free(scores);
    return rc;
}

static int open_log(tuner *t, bbt_error *err)
{
    char *path = path_join(t->dir, "log.jsonl");
    int rc = 0;
    if (truncate(path, t->st.log_bytes) != 0 && errno != ENOENT)
        rc = bbt_fail(err, "%s: cannot truncate to the checkpoint's %ld bytes: %s", path, t->st.log_bytes,
                      strerror(errno));
    else if (!(t->log = fopen(path, "a")))
        rc = bbt_fail(err, "%s: cannot open for appending: %s", path, strerror(errno));
    free(path);
    return rc;
}

static void start_session(tuner *t)
{
    t->session_start = now_seconds();
    t->session_evals_start = t->st.evals;
    t->session_forward_start = t->sc.forward_s;
}

int tuner_create(tuner **out, const tune_config *cfg, const char *dir, bbt_error *err)
{
    *out = NULL;
    tuner *t = tuner_alloc(cfg, dir);
    int rc = scorer_open(&t->sc, &t->cfg, err) || deep_resolve_layers(&t->cfg, t->sc.info->layers, err);
    t->cfg.label_space = t->sc.enc.label_space; /* "auto" resolved for this model: config.json says what was run */
    alloc_z(t);
    char *config_json = tune_config_to_json(&t->cfg);
    char *config_path = path_join(dir, "config.json");
    /* config.json before the first scoring: a remote service that fails there leaves a run to resume */
    lm_batch train = {0}; /* BBTv2's σ̂_l: the training set under the untuned prompt */
    rc = rc || load_splits(t, err);
    if (!rc) {
        train = scorer_examples(&t->sc, &t->etrain);
        train.prompts = t->sc.proj.p0;
    }
    rc = rc || deep_open(&t->sc.deep, &t->cfg, t->sc.model, &train, t->sc.embedding_std, dir, err) ||
         optimizer_open(&t->opt, &t->cfg, NULL, 0, err) ||
         write_file_atomic(config_path, config_json, strlen(config_json), err);
    int scored = !rc && score_untuned(t, err) ? TUNER_ESCORE : 0;
    rc = rc ? rc : scored;
    free(config_json);
    free(config_path);
    t->st.next_dev = t->cfg.dev_every;
    if (!rc)
        rc = open_log(t, err);
    if (!rc) {
        start_session(t);
        rc = write_checkpoint(t, err); /* from the first moment on, the run directory can be resumed */
    }
    if (rc) {
        tuner_free(t);
        return rc == TUNER_ESCORE ? TUNER_ESCORE : -1;
    }
    *out = t;
    return 0;
}

/* ---- checkpoints ---- */

static char *checkpoint_path(const tuner *t)
{
    return path_join(t->dir, CHECKPOINT_FILE);
}

/* The checkpoint's fields of tune_state, in file order: put_state and get_state both walk this one table, so that what
 * is written and what is read cannot drift apart. (The order is that of checkpoint version 1 files.) */
typedef enum state_type { ST_LONG, ST_DOUBLE, ST_Z } state_type; /* ST_Z: a double * to d values */
typedef struct state_field {
    state_type type;
    size_t offset;
} state_field;
#define SF(name, type) {type, offsetof(tune_state, name)}
static const state_field state_fields[] = {
    SF(evals, ST_LONG),          SF(generation, ST_LONG),     SF(next_dev, ST_LONG),
    SF(train_loss_initial, ST_DOUBLE), SF(untuned_dev, ST_DOUBLE), SF(best_train_loss, ST_DOUBLE),
    SF(best_train_z, ST_Z),      SF(best_dev, ST_DOUBLE),     SF(best_dev_z, ST_Z),
    SF(best_dev_evals, ST_LONG), SF(best_dev_source, ST_LONG), SF(last_dev, ST_DOUBLE),
    SF(elapsed_s, ST_DOUBLE),    SF(forward_s, ST_DOUBLE),    SF(log_bytes, ST_LONG),
    SF(stop_bits, ST_LONG),
};
#undef SF
#define N_STATE_FIELDS (sizeof state_fields / sizeof state_fields[0])
#define STATE_AT(s, f, T) ((T *)((char *)(s) + (f)->offset))

static void put_state(ckpt_writer *w, const tune_state *s, int dim)
{
    for (size_t i = 0; i < N_STATE_FIELDS; i++) {
        const state_field *f = &state_fields[i];
        switch (f->type) {
        case ST_LONG: ckpt_put_i64(w, *STATE_AT(s, f, const long)); break;
        case ST_DOUBLE: ckpt_put_f64(w, *STATE_AT(s, f, const double)); break;
        case ST_Z: ckpt_put_f64s(w, *STATE_AT(s, f, double *const), (size_t)dim); break;
        }
    }
}

static void get_state(ckpt_reader *r, tune_state *s, int dim)
{
    for (size_t i = 0; i < N_STATE_FIELDS; i++) {
        const state_field *f = &state_fields[i];
        switch (f->type) {
        case ST_LONG: *STATE_AT(s, f, long) = (long)ckpt_get_i64(r); break;
        case ST_DOUBLE: *STATE_AT(s, f, double) = ckpt_get_f64(r); break;
        case ST_Z: ckpt_get_f64s(r, *STATE_AT(s, f, double *), (size_t)dim); break;
        }
    }
}

static int write_checkpoint(tuner *t, bbt_error *err)
{
    if (fflush(t->log) || fsync(fileno(t->log)))
        return bbt_fail(err, "%s/log.jsonl: cannot flush: %s", t->dir, strerror(errno));
    double now = now_seconds();
    tune_state s = t->st;
    s.log_bytes = ftell(t->log);
    s.elapsed_s += now - t->session_start;
    s.forward_s += t->sc.forward_s - t->session_forward_start;
    ckpt_writer w = {0};
    ckpt_put_i64(&w, t->zdim);
    put_state(&w, &s, t->zdim);
    unsigned char *blob;
    size_t len;
    if (optimizer_save(&t->opt, &blob, &len, err)) {
        free(w.data);
        return -1;
    }
    ckpt_put_blob(&w, blob, len);
    free(blob);
    char *path = checkpoint_path(t);
    int rc = ckpt_write_file(&w, path, err);
    free(path);
    return rc;
}

static int read_optimizer(tuner *t, ckpt_reader *r, const char *path, bbt_error *err)
{
    size_t len;
    const void *blob = ckpt_get_blob(r, &len);
    if (r->failed)
        return bbt_fail(err, "%s: truncated checkpoint payload", path);
    if (optimizer_open(&t->opt, &t->cfg, blob ? blob : "", len, err))
        return bbt_prefix(err, "%s: ", path);
    return 0;
}

static int read_checkpoint(tuner *t, const char *name, bbt_error *err)
{
    char *path = path_join(t->dir, name);
    ckpt_reader r;
    int rc = ckpt_read_file(&r, path, err);
    if (!rc) {
        long dim = ckpt_get_i64(&r);
        if (dim != t->zdim)
            rc = bbt_fail(err, "%s: checkpoint is for %ld values of z, config.json says %d", path, dim, t->zdim);
    }
    if (!rc) {
        get_state(&r, &t->st, t->zdim);
        rc = read_optimizer(t, &r, path, err);
    }
    if (!rc && (r.failed || r.at != r.len))
        rc = bbt_fail(err, "%s: checkpoint payload does not match this run's layout", path);
    const tune_state *s = &t->st;
    if (!rc && (s->evals < 0 || s->generation < 0 || s->log_bytes < 0 || s->best_dev_source < FROM_UNTUNED ||
                s->best_dev_source > FROM_BEST))
        rc = bbt_fail(err, "%s: checkpoint holds impossible counters (evals %ld, generation %ld, source %ld)", path,
                      s->evals, s->generation, s->best_dev_source);
    ckpt_reader_free(&r);
    free(path);
    return rc;
}

/* Keep the checkpoint on disk as checkpoint.prev.bin before the last one of a run is written (a hard link; a copy where
 * the file system has none). */
static int keep_previous_checkpoint(tuner *t, bbt_error *err)
{
    char *cur = checkpoint_path(t), *prev = path_join(t->dir, CHECKPOINT_PREV_FILE);
    int rc = 0;
    if (unlink(prev) != 0 && errno != ENOENT)
        rc = bbt_fail(err, "%s: cannot remove: %s", prev, strerror(errno));
    else if (!rc && link(cur, prev) != 0) {
        size_t len;
        char *data = read_file(cur, &len, err);
        rc = data ? write_file_atomic(prev, data, len, err) : -1;
        free(data);
    }
    free(cur);
    free(prev);
    return rc;
}

/* A run's budget raised to new_budget (see tuner_resume_budget); t holds the run's config and its last checkpoint. */
static int extend_budget(tuner *t, long new_budget, bbt_error *err)
{
    if (new_budget < t->cfg.budget)
        return bbt_fail(err, "--budget %ld is less than the run's budget %ld: a run can be extended, not shortened",
                        new_budget, t->cfg.budget);
    if (t->st.stop_bits)
        return bbt_fail(err, "the optimizer ended this run after %ld evaluations, before its budget (summary.json says "
                             "why): a larger budget would not take it further; start a new run instead",
                        t->st.evals);
    if (t->st.evals >= t->cfg.budget) { /* finished: back to before the last generation */
        char *prev = path_join(t->dir, CHECKPOINT_PREV_FILE), *cur = checkpoint_path(t);
        struct stat st;
        int rc = 0;
        if (stat(prev, &st) != 0)
            rc = bbt_fail(err, "%s is missing: it holds the state before the run's last generation, which extending a "
                               "finished run starts from (a run finished by an older bbt has none); start a new run "
                               "with --budget %ld instead",
                          prev, new_budget);
        optimizer_close(&t->opt);
        if (!rc)
            rc = read_checkpoint(t, CHECKPOINT_PREV_FILE, err);
        size_t len;
        char *data = rc ? NULL : read_file(prev, &len, err);
        if (!rc) /* the run's checkpoint from here on: a crash before the new one leaves a run resumable as before */
            rc = data ? write_file_atomic(cur, data, len, err) : -1;
        free(data);
        free(prev);
        free(cur);
        if (rc)
            return -1;
    }
    t->cfg.budget = new_budget;
    char *json = tune_config_to_json(&t->cfg), *path = path_join(t->dir, "config.json");
    int rc = write_file_atomic(path, json, strlen(json), err);
    free(json);
    free(path);
    const char *results[] = {"summary.json", "prompt.json", "prompt.safetensors"};
    for (size_t i = 0; !rc && i < sizeof results / sizeof results[0]; i++) {
        char *p = path_join(t->dir, results[i]);
        if (unlink(p) != 0 && errno != ENOENT)
            rc = bbt_fail(err, "%s: cannot remove the finished run's result: %s", p, strerror(errno));
        free(p);
    }
    return rc;
}

int tuner_resume(tuner **out, const char *dir, int threads, bbt_error *err)
{
    return tuner_resume_budget(out, dir, threads, 0, err);
}

int tuner_resume_budget(tuner **out, const char *dir, int threads, long new_budget, bbt_error *err)
{
    *out = NULL;
    tune_config cfg;
    char *config_path = path_join(dir, "config.json");
    int rc = tune_config_load(&cfg, config_path, err);
    free(config_path);
    if (rc)
        return -1;
    if (threads > 0)
        cfg.threads = threads;
    char *ckpt = path_join(dir, CHECKPOINT_FILE), *log = path_join(dir, "log.jsonl");
    struct stat st;
    int fresh = stat(ckpt, &st) != 0 && (stat(log, &st) != 0 || st.st_size == 0);
    free(ckpt);
    free(log);
    if (fresh) { /* stopped before its first checkpoint (TUNER_ESCORE): start it again */
        if (new_budget > 0 && new_budget < cfg.budget)
            rc = bbt_fail(err, "--budget %ld is less than the run's budget %ld: a run can be extended, not shortened",
                          new_budget, cfg.budget);
        else if (new_budget > 0)
            cfg.budget = new_budget;
        rc = rc ? -1 : tuner_create(out, &cfg, dir, err);
        tune_config_free(&cfg);
        return rc;
    }
    tuner *t = tuner_alloc(&cfg, dir);
    tune_config_free(&cfg);
    alloc_z(t);
    rc = read_checkpoint(t, CHECKPOINT_FILE, err);
    if (!rc && new_budget > 0 && new_budget != t->cfg.budget)
        rc = extend_budget(t, new_budget, err);
    rc = rc || scorer_open(&t->sc, &t->cfg, err) || load_splits(t, err) ||
         deep_open(&t->sc.deep, &t->cfg, t->sc.model, NULL, t->sc.embedding_std, dir, err) ||
         open_log(t, err);
    if (rc) {
        tuner_free(t);
        return -1;
    }
    t->sc.forward_s = 0;
    start_session(t);
    *out = t;
    return 0;
}

/* ---- one generation ---- */

typedef struct generation {
    const double *x;       /* candidates, count × d (the optimizer's memory) */
    int count;
    double *losses;
    int best;              /* row of the lowest loss */
    double loss_median;
    double loss_mean;      /* of the finite losses (the population's mean, for the log and its plot) */
} generation;

/* Median and best row of a generation's losses; a NaN loss (a broken candidate) counts as the worst. */
static void summarise(generation *g)
{
    double *work = xmalloc((size_t)g->count * sizeof *work), sum = 0;
    int finite = 0;
    for (int i = 0; i < g->count; i++) {
        work[i] = isnan(g->losses[i]) ? INFINITY : g->losses[i];
        if (isfinite(work[i])) {
            sum += work[i];
            finite++;
        }
    }
    g->loss_mean = finite ? sum / finite : NAN;
    g->best = (int)gsl_stats_min_index(work, 1, (size_t)g->count);
    g->loss_median = gsl_stats_median(work, 1, (size_t)g->count); /* reorders work: after the index */
    free(work);
}

static int evaluate(tuner *t, generation *g, bbt_error *err)
{
    size_t per = (size_t)t->etrain.n * (size_t)t->sc.labels.n;
    float *scores = xmalloc((size_t)g->count * per * sizeof *scores);
    int rc = scorer_score(&t->sc, &t->etrain, g->x, g->count, scores, err);
    if (!rc)
        scorer_losses(&t->sc, &t->etrain, scores, g->count, g->losses);
    free(scores);
    if (rc)
        return -1;
    summarise(g);
    t->st.evals += g->count;
    double best = g->losses[g->best];
    if (best < t->st.best_train_loss) {
        t->st.best_train_loss = best;
        memcpy(t->st.best_train_z, g->x + (size_t)g->best * t->zdim, (size_t)t->zdim * sizeof(double));
    }
    return 0;
}

/* Dev metrics of one round; NaN where nothing was scored (random search has no mean). */
typedef struct dev_result {
    double mean, best;
} dev_result;

/* Score the mean (when there is one) and the generation's best on dev in one call; keep whichever strictly beats the
 * kept prompt, the mean first. */
static int dev_round(tuner *t, const double *mean, const double *best, dev_result *out, bbt_error *err)
{
    int d = t->zdim, count = 0;
    const double *cand[2];
    long source[2];
    double *slot[2];
    out->mean = out->best = NAN;
    if (mean) {
        cand[count] = mean, source[count] = FROM_MEAN, slot[count++] = &out->mean;
    }
    cand[count] = best, source[count] = FROM_BEST, slot[count++] = &out->best;
    double *z = xmalloc((size_t)count * d * sizeof *z);
    for (int c = 0; c < count; c++)
        memcpy(z + (size_t)c * d, cand[c], (size_t)d * sizeof *z);
    size_t per = (size_t)t->edev.n * (size_t)t->sc.labels.n;
    float *scores = xmalloc((size_t)count * per * sizeof *scores);
    int rc = scorer_score(&t->sc, &t->edev, z, count, scores, err);
    for (int c = 0; c < count && !rc; c++) {
        double m = *slot[c] = scorer_metric(&t->sc, &t->edev, scores + c * per);
        t->st.last_dev = m;
        if (m > t->st.best_dev) {
            t->st.best_dev = m;
            t->st.best_dev_source = source[c];
            t->st.best_dev_evals = t->st.evals;
            memcpy(t->st.best_dev_z, cand[c], (size_t)d * sizeof *z);
        }
    }
    free(scores);
    free(z);
    return rc;
}

/* The dev metric's name, as summary.json's dev_metric_name: acc, f1, or macro_f1 for more than two classes. */
static const char *tuner_metric_name(const tuner *t)
{
    return t->sc.task.metric == METRIC_F1 ? metric_f1_name(t->sc.labels.n) : "acc";
}

/* A log number: 9 significant digits, as the log has always had (it is for reading and plotting; the checkpoint holds
 * the exact state), or null when not finite, so that every line is valid JSON. */
static void log_number(cJSON *o, const char *key, double v, const char *format)
{
    char buf[64];
    snprintf(buf, sizeof buf, format, v);
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(strtod(buf, NULL)) : cJSON_CreateNull());
}

/* The generation's log.jsonl line (one line of compact JSON, written by cJSON; malloc'ed, caller frees). */
static char *log_line(tuner *t, const generation *g, const dev_result *dev, const optimizer_report *rep)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "generation", (double)t->st.generation);
    cJSON_AddNumberToObject(o, "evals", (double)t->st.evals);
    if (rep->deep_layer)
        cJSON_AddNumberToObject(o, "layer", rep->deep_layer - 1);
    log_number(o, "loss_min", g->losses[g->best], "%.9g");
    log_number(o, "loss_median", g->loss_median, "%.9g");
    log_number(o, "loss_mean", g->loss_mean, "%.9g");
    if (!isnan(rep->sigma))
        log_number(o, "sigma", rep->sigma, "%.9g");
    if (!isnan(dev->mean) || !isnan(dev->best)) /* a dev round: which metric, and the kept prompt's value after it */
        cJSON_AddStringToObject(o, "dev_metric", tuner_metric_name(t));
    if (!isnan(dev->mean))
        log_number(o, "dev_mean", dev->mean, "%.9g");
    if (!isnan(dev->best))
        log_number(o, "dev_best", dev->best, "%.9g");
    if (!isnan(dev->mean) || !isnan(dev->best))
        log_number(o, "dev_kept", t->st.best_dev, "%.9g");
    if (rep->noise_handling) {
        log_number(o, "noise_level", rep->noise_level, "%.9g");
        log_number(o, "evals_per_candidate", rep->evals_per_candidate, "%.9g");
    }
    if (rep->flat_fitness)
        cJSON_AddTrueToObject(o, "flat_fitness");
    if (rep->nonfinite)
        cJSON_AddNumberToObject(o, "nonfinite", rep->nonfinite);
    log_number(o, "best_train_loss", t->st.best_train_loss, "%.9g");
    log_number(o, "elapsed_s", t->st.elapsed_s + now_seconds() - t->session_start, "%.3f");
    remote_cost_add(o, t->sc.model);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) {
        fprintf(stderr, "bbt: out of memory (printing a log line)\n");
        abort();
    }
    return line;
}

/* Hand the losses to the optimizer; an optimizer that ends before the budget ends the run (summary.json says why). */
static int tell_losses(tuner *t, const generation *g, optimizer_report *rep, bbt_error *err)
{
    if (optimizer_tell(&t->opt, g->losses, err))
        return -1;
    optimizer_get_report(&t->opt, rep);
    if (rep->finished && t->st.evals < t->cfg.budget)
        t->st.stop_bits = rep->stop;
    return 0;
}

/* One generation, as tuner.h tells it: ask, score on train, tell, a dev round when due, the log line (*line, caller
 * frees). */
static int step(tuner *t, char **line, bbt_error *err)
{
    int d = t->zdim;
    generation g = {0};
    if (optimizer_ask(&t->opt, &g.x, &g.count, err))
        return -1;
    g.losses = xmalloc((size_t)g.count * sizeof(double));
    double *best_x = xmalloc((size_t)d * sizeof *best_x);
    optimizer_report rep;
    int rc = evaluate(t, &g, err);
    if (!rc) /* copied now: the optimizer's rows are gone after tell */
        memcpy(best_x, g.x + (size_t)g.best * d, (size_t)d * sizeof *best_x);
    if (!rc)
        rc = tell_losses(t, &g, &rep, err);
    dev_result dev = {NAN, NAN};
    if (!rc && (t->st.evals >= t->st.next_dev || tuner_done(t))) {
        rc = dev_round(t, rep.mean, best_x, &dev, err);
        while (t->st.next_dev <= t->st.evals)
            t->st.next_dev += t->cfg.dev_every;
    }
    t->st.generation++;
    if (!rc) {
        *line = log_line(t, &g, &dev, &rep);
        fprintf(t->log, "%s\n", *line);
    }
    free(best_x);
    free(g.losses);
    return rc;
}

static void report(tuner *t, const char *line, tune_progress_fn progress, void *userdata)
{
    if (!progress)
        return;
    double dt = now_seconds() - t->session_start;
    tune_progress p = {.evals = t->st.evals, .budget = t->cfg.budget, .generation = t->st.generation,
                       .best_train_loss = t->st.best_train_loss, .last_dev = t->st.last_dev, .best_dev = t->st.best_dev,
                       .metric = tuner_metric_name(t), .log_line = line};
    if (dt > 0 && t->st.evals > t->session_evals_start) {
        p.evals_per_s = (double)(t->st.evals - t->session_evals_start) / dt;
        p.eta_s = (double)(t->cfg.budget - t->st.evals) / p.evals_per_s;
    }
    progress(&p, userdata);
}

int tuner_run(tuner *t, volatile sig_atomic_t *interrupt, tune_progress_fn progress, void *userdata, bbt_error *err)
{
    while (!tuner_done(t)) {
        char *line = NULL;
        if (step(t, &line, err))
            return -1;
        report(t, line, progress, userdata);
        cJSON_free(line);
        int due = t->st.generation % t->cfg.checkpoint_every == 0 || tuner_done(t);
        if (tuner_done(t) && !t->st.stop_bits && keep_previous_checkpoint(t, err))
            return -1;
        if ((due || (interrupt && *interrupt)) && write_checkpoint(t, err))
            return -1;
        if (interrupt && *interrupt && !tuner_done(t))
            return 1;
    }
    return 0;
}

/* ---- the end ---- */

/* Accuracy and F1 of the kept prompt on dev (the run tracked only the task's own metric). */
static int score_kept_on_dev(tuner *t, run_results *res, bbt_error *err)
{
    int C = t->sc.labels.n;
    float *scores = xmalloc((size_t)t->edev.n * C * sizeof *scores);
    int rc = scorer_score(&t->sc, &t->edev, t->st.best_dev_z, 1, scores, err); /* z = 0 when untuned was kept */
    if (!rc) {
        res->dev_acc = metric_accuracy(scores, t->edev.labels, t->edev.n, C);
        res->dev_f1 = metric_task_f1(scores, t->edev.labels, t->edev.n, C, t->sc.task.positive_class);
    }
    free(scores);
    return rc;
}

void tuner_split(const tuner *t, int split, run_split *out)
{
    const char *paths[RUN_N_SPLITS] = {t->cfg.train, t->cfg.dev, t->cfg.test};
    const dataset *d[RUN_N_SPLITS] = {&t->train, &t->dev, &t->test};
    const encoded_set *e[RUN_N_SPLITS] = {&t->etrain, &t->edev, &t->etest};
    *out = (run_split){0};
    if (split < 0 || split >= RUN_N_SPLITS || !paths[split])
        return;
    *out = (run_split){paths[split], d[split]->n, dataset_count_blank(d[split]), e[split]->n_truncated};
}

int tuner_finish(tuner *t, char **summary, bbt_error *err)
{
    int C = t->sc.labels.n;
    run_results res = {0};
    res.best_z = t->st.best_dev_z;
    res.source = source_names[t->st.best_dev_source];
    res.best_dev_evals = t->st.best_dev_evals;
    res.evals = t->st.evals;
    res.train_loss_initial = t->st.train_loss_initial;
    res.train_loss_best = t->st.best_train_loss;
    res.untuned_dev = t->st.untuned_dev;
    res.dev_metric = t->st.best_dev;
    res.stop_bits = (unsigned)t->st.stop_bits;
    res.wall_s = t->st.elapsed_s + now_seconds() - t->session_start;
    res.forward_s = t->st.forward_s + t->sc.forward_s - t->session_forward_start;
    for (int i = 0; i < RUN_N_SPLITS; i++)
        tuner_split(t, i, &res.splits[i]);
    if (score_kept_on_dev(t, &res, err))
        return -1;
    if (t->cfg.test) {
        float *scores = xmalloc((size_t)2 * t->etest.n * C * sizeof *scores);
        int rc = scorer_score(&t->sc, &t->etest, t->st.best_dev_z, 1, scores, err) ||
                 scorer_score(&t->sc, &t->etest, NULL, 1, scores + (size_t)t->etest.n * C, err);
        if (!rc) {
            res.has_test = 1;
            res.test_acc = metric_accuracy(scores, t->etest.labels, t->etest.n, C);
            res.test_f1 = metric_task_f1(scores, t->etest.labels, t->etest.n, C, t->sc.task.positive_class);
            res.untuned_test_acc = metric_accuracy(scores + (size_t)t->etest.n * C, t->etest.labels, t->etest.n, C);
            res.untuned_test_f1 = metric_task_f1(scores + (size_t)t->etest.n * C, t->etest.labels, t->etest.n, C,
                                                 t->sc.task.positive_class);
        }
        free(scores);
        if (rc)
            return -1;
    }
    return runfiles_write_results(t->dir, &t->cfg, &t->sc, &res, summary, err);
}

void tuner_free(tuner *t)
{
    if (!t)
        return;
    if (t->log)
        fclose(t->log);
    optimizer_close(&t->opt);
    encoded_set_free(&t->etrain);
    encoded_set_free(&t->edev);
    encoded_set_free(&t->etest);
    dataset_free(&t->train);
    dataset_free(&t->dev);
    dataset_free(&t->test);
    scorer_close(&t->sc);
    tune_config_free(&t->cfg);
    free(t->st.best_train_z);
    free(t->st.best_dev_z);
    free(t->dir);
    free(t);
}
