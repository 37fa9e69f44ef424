/* tuner.c — the Black-Box Tuning loop: generations, dev evaluations, the log and checkpoints. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gsl/gsl_statistics_double.h>

#include "bbt/checkpoint.h"
#include "bbt/files.h"
#include "bbt/runfiles.h"
#include "bbt/scorer.h"
#include "bbt/tuner.h"
#include "bbt/util.h"
#include "optim/cmaes.h"

#define RANDOM_SEARCH_STREAM 0x72616e646f6dULL /* "random" */

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
    char *dir;
    scorer sc;
    dataset train, dev, test;
    encoded_set etrain, edev, etest;
    cmaes *es;             /* NULL for random search */
    pcg_rng rs_rng;        /* random search's generator */
    tune_state st;
    FILE *log;
    double session_start, session_forward_start;
    long session_evals_start;
};

const tune_config *tuner_config(const tuner *t)
{
    return &t->cfg;
}

int tuner_done(const tuner *t)
{
    return t->st.evals >= t->cfg.budget || t->st.stop_bits != 0;
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

static int create_optimizer(tuner *t, bbt_error *err)
{
    if (!strcmp(t->cfg.optimizer, "random")) {
        pcg_seed(&t->rs_rng, (uint64_t)t->cfg.seed, RANDOM_SEARCH_STREAM);
        return 0;
    }
    cmaes_options o;
    cmaes_options_init(&o);
    o.dim = t->cfg.dim;
    o.sigma0 = t->cfg.sigma0;
    o.seed = (uint64_t)t->cfg.seed;
    o.variant = strcmp(t->cfg.optimizer, "full") ? CMAES_SEP : CMAES_FULL;
    o.popsize = t->cfg.popsize;
    o.noise_handling = t->cfg.noise_handling;
    o.max_fevals = t->cfg.budget;
    /* No early stopping (as the reference): the budget ends the run. Flat or slowly moving losses (accuracy, F1) are
     * reported in the log, never a reason to stop; the numerical safeguards (divergent σ, a degenerate covariance,
     * non-finite losses everywhere) stay on and say why in summary.json if they fire. */
    o.tolfun = o.tolfunhist = o.tolx = 0;
    o.tolstagnation = 0;
    o.tolflatfitness = 0;
    char msg[CMAES_ERRMSG_MAX];
    if (cmaes_create(&t->es, &o, msg, sizeof msg) != CMAES_OK)
        return bbt_fail(err, "optimizer: %s", msg);
    return 0;
}

static int write_checkpoint(tuner *t, bbt_error *err);

static tuner *tuner_alloc(const tune_config *cfg, const char *dir)
{
    tuner *t = xcalloc(1, sizeof *t);
    tune_config_copy(&t->cfg, cfg);
    t->dir = xstrdup(dir);
    t->st.best_train_z = xcalloc((size_t)cfg->dim, sizeof(double));
    t->st.best_dev_z = xcalloc((size_t)cfg->dim, sizeof(double));
    return t;
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
    int rc = scorer_open(&t->sc, &t->cfg, err);
    t->cfg.label_space = t->sc.enc.label_space; /* "auto" resolved for this model: config.json says what was run */
    char *config_json = tune_config_to_json(&t->cfg);
    char *config_path = path_join(dir, "config.json");
    rc = rc || load_splits(t, err) || create_optimizer(t, err) || score_untuned(t, err) ||
         write_file_atomic(config_path, config_json, strlen(config_json), err);
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
        return -1;
    }
    *out = t;
    return 0;
}

/* ---- checkpoints ---- */

static char *checkpoint_path(const tuner *t)
{
    return path_join(t->dir, CHECKPOINT_FILE);
}

static void put_state(ckpt_writer *w, const tune_state *s, int dim)
{
    ckpt_put_i64(w, s->evals);
    ckpt_put_i64(w, s->generation);
    ckpt_put_i64(w, s->next_dev);
    ckpt_put_f64(w, s->train_loss_initial);
    ckpt_put_f64(w, s->untuned_dev);
    ckpt_put_f64(w, s->best_train_loss);
    ckpt_put_f64s(w, s->best_train_z, (size_t)dim);
    ckpt_put_f64(w, s->best_dev);
    ckpt_put_f64s(w, s->best_dev_z, (size_t)dim);
    ckpt_put_i64(w, s->best_dev_evals);
    ckpt_put_i64(w, s->best_dev_source);
    ckpt_put_f64(w, s->last_dev);
    ckpt_put_f64(w, s->elapsed_s);
    ckpt_put_f64(w, s->forward_s);
    ckpt_put_i64(w, s->log_bytes);
    ckpt_put_i64(w, s->stop_bits);
}

static void get_state(ckpt_reader *r, tune_state *s, int dim)
{
    s->evals = ckpt_get_i64(r);
    s->generation = ckpt_get_i64(r);
    s->next_dev = ckpt_get_i64(r);
    s->train_loss_initial = ckpt_get_f64(r);
    s->untuned_dev = ckpt_get_f64(r);
    s->best_train_loss = ckpt_get_f64(r);
    ckpt_get_f64s(r, s->best_train_z, (size_t)dim);
    s->best_dev = ckpt_get_f64(r);
    ckpt_get_f64s(r, s->best_dev_z, (size_t)dim);
    s->best_dev_evals = ckpt_get_i64(r);
    s->best_dev_source = ckpt_get_i64(r);
    s->last_dev = ckpt_get_f64(r);
    s->elapsed_s = ckpt_get_f64(r);
    s->forward_s = ckpt_get_f64(r);
    s->log_bytes = ckpt_get_i64(r);
    s->stop_bits = ckpt_get_i64(r);
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
    ckpt_put_i64(&w, t->cfg.dim);
    put_state(&w, &s, t->cfg.dim);
    if (t->es) {
        unsigned char *blob;
        size_t len;
        if (cmaes_serialize(t->es, &blob, &len) != CMAES_OK) {
            free(w.data);
            return bbt_fail(err, "cannot serialise the optimizer: %s", cmaes_errmsg(t->es));
        }
        ckpt_put_blob(&w, blob, len);
        free(blob);
    } else {
        ckpt_put_blob(&w, &t->rs_rng, sizeof t->rs_rng);
    }
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
    if (strcmp(t->cfg.optimizer, "random")) {
        char msg[CMAES_ERRMSG_MAX];
        if (cmaes_deserialize(&t->es, blob, len, msg, sizeof msg) != CMAES_OK)
            return bbt_fail(err, "%s: optimizer state: %s", path, msg);
        cmaes_status st;
        cmaes_get_status(t->es, &st);
        cmaes_variant want = strcmp(t->cfg.optimizer, "full") ? CMAES_SEP : CMAES_FULL;
        if (st.variant != want || st.dim != t->cfg.dim || st.lambda != t->cfg.popsize)
            return bbt_fail(err, "%s: the optimizer state (%s, d = %d, λ = %d) does not match config.json (%s, d = %d, "
                                 "λ = %d)",
                            path, st.variant == CMAES_SEP ? "sep" : "full", st.dim, st.lambda, t->cfg.optimizer,
                            t->cfg.dim, t->cfg.popsize);
        return 0;
    }
    if (len != sizeof t->rs_rng)
        return bbt_fail(err, "%s: random-search state has %zu bytes, expected %zu", path, len, sizeof t->rs_rng);
    memcpy(&t->rs_rng, blob, len);
    return 0;
}

static int read_checkpoint(tuner *t, bbt_error *err)
{
    char *path = checkpoint_path(t);
    ckpt_reader r;
    int rc = ckpt_read_file(&r, path, err);
    if (!rc) {
        long dim = ckpt_get_i64(&r);
        if (dim != t->cfg.dim)
            rc = bbt_fail(err, "%s: checkpoint is for d = %ld, config.json says %d", path, dim, t->cfg.dim);
    }
    if (!rc) {
        get_state(&r, &t->st, t->cfg.dim);
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

int tuner_resume(tuner **out, const char *dir, int threads, bbt_error *err)
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
    tuner *t = tuner_alloc(&cfg, dir);
    tune_config_free(&cfg);
    rc = read_checkpoint(t, err) || scorer_open(&t->sc, &t->cfg, err) || load_splits(t, err) || open_log(t, err);
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
    const double *x;       /* candidates, count × d */
    int count;
    double *losses;
    int best;              /* row of the lowest loss */
    double loss_median;
} generation;

/* Median and best row of a generation's losses; a NaN loss (a broken candidate) counts as the worst. */
static void summarise(generation *g)
{
    double *work = xmalloc((size_t)g->count * sizeof *work);
    for (int i = 0; i < g->count; i++)
        work[i] = isnan(g->losses[i]) ? INFINITY : g->losses[i];
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
        memcpy(t->st.best_train_z, g->x + (size_t)g->best * t->cfg.dim, (size_t)t->cfg.dim * sizeof(double));
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
    int d = t->cfg.dim, count = 0;
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

static void draw_random(tuner *t, double *x, int count)
{
    pcg_fill_normal(&t->rs_rng, x, (size_t)count * t->cfg.dim);
    for (size_t i = 0; i < (size_t)count * t->cfg.dim; i++)
        x[i] *= t->cfg.sigma0;
}

/* A log line being written; numbers that are not finite become null, so that every line is valid JSON. */
typedef struct line_buf {
    char *s;
    size_t cap, n;
} line_buf;

static void put(line_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->n = b->n + (size_t)k < b->cap ? b->n + (size_t)k : b->cap - 1;
}

static void put_number(line_buf *b, const char *key, double v)
{
    if (isfinite(v))
        put(b, ",\"%s\":%.9g", key, v);
    else
        put(b, ",\"%s\":null", key);
}

static void write_log_line(tuner *t, const generation *g, const dev_result *dev, const cmaes_status *st, char *line,
                           size_t cap)
{
    line_buf b = {line, cap, 0};
    put(&b, "{\"generation\":%ld,\"evals\":%ld", t->st.generation, t->st.evals);
    put_number(&b, "loss_min", g->losses[g->best]);
    put_number(&b, "loss_median", g->loss_median);
    if (st)
        put_number(&b, "sigma", st->sigma);
    if (!isnan(dev->mean))
        put_number(&b, "dev_mean", dev->mean);
    if (!isnan(dev->best))
        put_number(&b, "dev_best", dev->best);
    if (st && t->cfg.noise_handling) {
        put_number(&b, "noise_level", st->noise_level);
        put_number(&b, "evals_per_candidate", st->evals_per_candidate);
    }
    if (st && st->flat_fitness)
        put(&b, ",\"flat_fitness\":true");
    if (st && st->nonfinite)
        put(&b, ",\"nonfinite\":%d", st->nonfinite);
    put_number(&b, "best_train_loss", t->st.best_train_loss);
    put(&b, ",\"elapsed_s\":%.3f}", t->st.elapsed_s + now_seconds() - t->session_start);
    fprintf(t->log, "%s\n", line);
}

/* The candidates of this generation: the optimizer's, or λ random draws (then *owned holds them, caller frees). */
static int ask_candidates(tuner *t, cmaes_batch *b, double **owned, bbt_error *err)
{
    *owned = NULL;
    if (t->es)
        return cmaes_ask(t->es, b) == CMAES_OK ? 0 : bbt_fail(err, "optimizer: %s", cmaes_errmsg(t->es));
    b->count = t->cfg.popsize;
    b->dim = t->cfg.dim;
    *owned = xmalloc((size_t)b->count * b->dim * sizeof **owned);
    draw_random(t, *owned, b->count);
    b->x = *owned;
    return 0;
}

/* Hand the losses to the optimizer; an optimizer that ends before the budget ends the run (summary.json says why). */
static int tell_losses(tuner *t, const generation *g, cmaes_status *st, bbt_error *err)
{
    if (cmaes_tell(t->es, g->losses) != CMAES_OK)
        return bbt_fail(err, "optimizer: %s", cmaes_errmsg(t->es));
    cmaes_get_status(t->es, st);
    if (st->finished && t->st.evals < t->cfg.budget)
        t->st.stop_bits = st->stop;
    return 0;
}

/* One generation: ask, score on train, tell, a dev round when due, the log line. */
static int step(tuner *t, char *line, size_t cap, bbt_error *err)
{
    int d = t->cfg.dim;
    cmaes_batch b = {0};
    double *owned;
    if (ask_candidates(t, &b, &owned, err))
        return -1;
    generation g = {b.x, b.count, xmalloc((size_t)b.count * sizeof(double)), 0, 0};
    double *best_x = xmalloc((size_t)d * sizeof *best_x);
    cmaes_status st;
    int rc = evaluate(t, &g, err);
    if (!rc) /* copied now: the optimizer's rows are gone after tell */
        memcpy(best_x, g.x + (size_t)g.best * d, (size_t)d * sizeof *best_x);
    if (!rc && t->es)
        rc = tell_losses(t, &g, &st, err);
    dev_result dev = {NAN, NAN};
    if (!rc && (t->st.evals >= t->st.next_dev || tuner_done(t))) {
        rc = dev_round(t, t->es ? st.mean : NULL, best_x, &dev, err);
        while (t->st.next_dev <= t->st.evals)
            t->st.next_dev += t->cfg.dev_every;
    }
    t->st.generation++;
    if (!rc)
        write_log_line(t, &g, &dev, t->es ? &st : NULL, line, cap);
    free(best_x);
    free(g.losses);
    free(owned);
    return rc;
}

static void report(tuner *t, const char *line, tune_progress_fn progress, void *userdata)
{
    if (!progress)
        return;
    double dt = now_seconds() - t->session_start;
    tune_progress p = {t->st.evals, t->cfg.budget, t->st.generation, t->st.best_train_loss, t->st.last_dev,
                       t->st.best_dev, 0, 0, line};
    if (dt > 0 && t->st.evals > t->session_evals_start) {
        p.evals_per_s = (double)(t->st.evals - t->session_evals_start) / dt;
        p.eta_s = (double)(t->cfg.budget - t->st.evals) / p.evals_per_s;
    }
    progress(&p, userdata);
}

int tuner_run(tuner *t, volatile sig_atomic_t *interrupt, tune_progress_fn progress, void *userdata, bbt_error *err)
{
    char line[1024];
    while (!tuner_done(t)) {
        if (step(t, line, sizeof line, err))
            return -1;
        report(t, line, progress, userdata);
        int due = t->st.generation % t->cfg.checkpoint_every == 0 || tuner_done(t);
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
        res->dev_f1 = metric_f1(scores, t->edev.labels, t->edev.n, C, t->sc.task.positive_class);
    }
    free(scores);
    return rc;
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
    if (score_kept_on_dev(t, &res, err))
        return -1;
    if (t->cfg.test) {
        float *scores = xmalloc((size_t)2 * t->etest.n * C * sizeof *scores);
        int rc = scorer_score(&t->sc, &t->etest, t->st.best_dev_z, 1, scores, err) ||
                 scorer_score(&t->sc, &t->etest, NULL, 1, scores + (size_t)t->etest.n * C, err);
        if (!rc) {
            res.has_test = 1;
            res.test_acc = metric_accuracy(scores, t->etest.labels, t->etest.n, C);
            res.test_f1 = metric_f1(scores, t->etest.labels, t->etest.n, C, t->sc.task.positive_class);
            res.untuned_test_acc = metric_accuracy(scores + (size_t)t->etest.n * C, t->etest.labels, t->etest.n, C);
            res.untuned_test_f1 = metric_f1(scores + (size_t)t->etest.n * C, t->etest.labels, t->etest.n, C,
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
    if (t->es)
        cmaes_free(t->es);
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
