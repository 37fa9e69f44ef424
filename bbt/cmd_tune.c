/* cmd_tune.c — `bbt tune`: tune a soft prompt, or resume a run. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bbt/assets.h"
#include "bbt/baseline.h"
#include "bbt/checkpoint.h"
#include "bbt/commands.h"
#include "bbt/config.h"
#include "bbt/deep.h"
#include "bbt/files.h"
#include "bbt/options.h"
#include "bbt/plot.h"
#include "bbt/remote_client.h"
#include "bbt/runfiles.h"
#include "bbt/runlock.h"
#include "bbt/task.h"
#include "bbt/tuner.h"
#include "bbt/util.h"

/* Set by SIGINT/SIGTERM; the tuner checks it between generations, writes a checkpoint and returns. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* The settings of a run come from config.h's table; these options are the command's own. */
#define N_OWN_OPTIONS 8
#define MAX_SETTINGS 64

typedef struct tune_cli {
    tune_config cfg;
    char *data, *assets, *out, *resume;
    char *api_key, *api_key_file;
    int force, verbose;
    char *choice_text[MAX_SETTINGS]; /* an enum setting's text as given, decoded once parsing is done */
    char *help[MAX_SETTINGS];        /* the settings' generated --help lines */
} tune_cli;

/* Options that describe a new run; with --resume the run's config.json decides them (and --force, which replaces a run,
 * has no meaning there: a damaged checkpoint is never overwritten by resuming). Every setting but --threads and
 * --budget (which extends the run), and: */
static const char *const run_only_options[] = {"data", "out", "assets", "force", NULL};

static const char *run_option_given(int argc, char **argv)
{
    int n;
    const config_field *f = tune_config_fields(&n);
    for (int i = 0; i < n; i++)
        if (f[i].offset != offsetof(tune_config, threads) && f[i].offset != offsetof(tune_config, budget) &&
            opt_given(argc, argv, f[i].option))
            return f[i].option;
    for (const char *const *o = run_only_options; *o; o++)
        if (opt_given(argc, argv, *o))
            return *o;
    return NULL;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where the data comes from, first match: --train/--dev[/--test] files; --data DIR; the shared assets' folder of a
 * built-in task. In a folder each split is looked for in DIR/16-<seed>/ first, then in DIR/ itself (the shared tasks keep
 * train/dev in 16-<seed>/ and one test.tsv beside them; a user's folder may hold all three in either place). train and
 * dev must be found; the test split is optional (yelpp has none). */
/* The error for a data folder without the split asked for: it names the splits that are there. */
static int no_split_error(const char *dir, int seed, bbt_error *err)
{
    char found[512] = "";
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return bbt_fail(err, "%s: cannot open the data folder: %s", dir, strerror(errno));
    int seeds[64], n_seeds = 0;
    for (struct dirent *e; (e = readdir(d)) && n_seeds < 64;) {
        char *end;
        if (!strncmp(e->d_name, "16-", 3) && isdigit((unsigned char)e->d_name[3])) {
            long s = strtol(e->d_name + 3, &end, 10);
            if (!*end && s <= INT_MAX)
                seeds[n_seeds++] = (int)s;
        }
    }
    closedir(d);
    for (int i = 1; i < n_seeds; i++) /* in order, for the reader */
        for (int j = i; j > 0 && seeds[j - 1] > seeds[j]; j--) {
            int t = seeds[j];
            seeds[j] = seeds[j - 1];
            seeds[j - 1] = t;
        }
    for (int i = 0; i < n_seeds && n + 16 < sizeof found; i++)
        n += (size_t)snprintf(found + n, sizeof found - n, "%s%d", i ? ", " : "", seeds[i]);
    if (!n_seeds)
        return bbt_fail(err, "%s has neither train.tsv nor a split folder 16-%d/ (give --data DIR holding train.tsv and "
                             "dev.tsv, or --train F --dev F)",
                        dir, seed);
    return bbt_fail(err, "%s has no split for --seed %d (no 16-%d/); its splits are for --seed %s", dir, seed, seed,
                    found);
}

/* DIR/16-<seed>/<split>.tsv, else DIR/<split>.tsv; NULL when neither is a file. Caller frees. */
static char *find_split(const char *dir, int seed, const char *split)
{
    char name[64];
    snprintf(name, sizeof name, "16-%d/%s.tsv", seed, split);
    char *path = path_join(dir, name);
    if (file_exists(path))
        return path;
    free(path);
    path = path_join(dir, name + strcspn(name, "/") + 1);
    if (file_exists(path))
        return path;
    free(path);
    return NULL;
}

static int resolve_data(tune_cli *c, bbt_error *err)
{
    tune_config *cfg = &c->cfg;
    if (cfg->train || cfg->dev || cfg->test)
        return 0;
    char *dir = c->data ? xstrdup(c->data) : path_join(c->assets, "tasks");
    if (!c->data) {
        char *task_dir = path_join(dir, cfg->task);
        free(dir);
        dir = task_dir;
    }
    int rc = 0;
    if (!(cfg->train = find_split(dir, cfg->seed, "train")))
        rc = no_split_error(dir, cfg->seed, err);
    else if (!(cfg->dev = find_split(dir, cfg->seed, "dev")))
        rc = bbt_fail(err, "%s: found %s but no dev.tsv (looked in %s/16-%d/ and %s/)", dir, cfg->train, dir, cfg->seed,
                      dir);
    else
        cfg->test = find_split(dir, cfg->seed, "test");
    free(dir);
    return rc;
}

/* One stderr line per split: which file the run reads, how many examples it holds, and how many of them are blank or
 * were cut to fit the model's context (also in summary.json's "data"). */
static void print_data(const tuner *t)
{
    for (int i = 0; i < RUN_N_SPLITS; i++) {
        run_split s;
        tuner_split(t, i, &s);
        if (!s.path) {
            fprintf(stderr, "bbt tune: %s: none (no test split given or found: the run has no test score)\n",
                    run_split_names[i]);
            continue;
        }
        fprintf(stderr, "bbt tune: %s: %s (%d examples", run_split_names[i], s.path, s.examples);
        if (s.blank)
            fprintf(stderr, ", %d blank", s.blank);
        if (s.truncated)
            fprintf(stderr, ", %d cut to fit the model's context", s.truncated);
        fprintf(stderr, ")\n");
    }
}

/* Paths in config.json are absolute, so that the run can be resumed, evaluated and used from any directory. */
static void make_absolute(char **path)
{
    char buf[PATH_MAX];
    if (*path && realpath(*path, buf))
        config_set(path, buf);
}

/* What can be told wrong from the command line alone (a usage error, exit 1): values out of range, options that
 * exclude or need each other. Files are looked at later (input errors). */
static int check_options(tune_cli *c, bbt_error *err)
{
    tune_config *cfg = &c->cfg;
    if (cfg->task && cfg->task_file)
        return bbt_fail(err, "give --task or --task-file, not both");
    int n;
    const config_field *f = tune_config_fields(&n);
    for (int i = 0; i < n; i++)
        if (c->choice_text[i] && tune_config_set(cfg, &f[i], c->choice_text[i], err))
            return -1;
    if (cfg->train || cfg->dev || cfg->test) {
        if (!cfg->train || !cfg->dev)
            return bbt_fail(err, "give both --train and --dev (and --test if there is one)");
        if (c->data)
            return bbt_fail(err, "give --data DIR or --train/--dev files, not both");
    } else if (cfg->task_file && !c->data) {
        return bbt_fail(err, "a task from --task-file needs its data: give --data DIR or --train F --dev F [--test F]");
    }
    if (tune_config_check(cfg, err))
        return -1;
    if (cfg->budget < cfg->popsize) /* one generation would already spend more than asked */
        return bbt_fail(err, "--budget %ld is less than one generation (--popsize %d candidates, each an evaluation)",
                        cfg->budget, cfg->popsize);
    return 0;
}

static int resolve_defaults(tune_cli *c, bbt_error *err)
{
    tune_config *cfg = &c->cfg;
    if (!cfg->task && !cfg->task_file)
        config_set(&cfg->task, "sst2");
    int need_assets = !cfg->model || (!c->data && !cfg->train && !cfg->dev && !cfg->test);
    if (need_assets) {
        char *assets = assets_find(c->assets, err);
        if (!assets)
            return -1;
        config_set(&c->assets, assets);
        free(assets);
    }
    if (!cfg->model) {
        char *m = assets_default_model(c->assets);
        config_set(&cfg->model, m);
        free(m);
    }
    task known; /* an unknown task name, before looking for its data folder */
    if (cfg->task && task_builtin(&known, cfg->task, err))
        return -1;
    if (cfg->task)
        task_free(&known);
    if (resolve_data(c, err))
        return -1;
    char **paths[] = {&cfg->model, &cfg->task_file, &cfg->train, &cfg->dev, &cfg->test, &cfg->init_prompt};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        make_absolute(paths[i]);
    return tune_config_check(cfg, err);
}

/* A run directory that holds nothing of a run, or --force (then the old run's files go). Never silently overwrite. */
static int prepare_out_dir(const char *dir, int force, bbt_error *err)
{
    if (make_dirs(dir, err))
        return bbt_prefix(err, "--out ");
    const char *files[] = {"config.json", CHECKPOINT_FILE, CHECKPOINT_PREV_FILE, "log.jsonl", "prompt.json",
                           "prompt.safetensors", "summary.json", DEEP_FILE, "loss.png", "loss.svg", "loss.gp"};
    char *ckpt = path_join(dir, CHECKPOINT_FILE);
    int has_ckpt = file_exists(ckpt);
    ckpt_reader r;
    bbt_error why;
    int corrupt = has_ckpt && ckpt_read_file(&r, ckpt, &why) != 0;
    if (has_ckpt && !corrupt)
        ckpt_reader_free(&r);
    free(ckpt);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *p = path_join(dir, files[i]);
        int exists = file_exists(p);
        if (exists && force)
            unlink(p);
        free(p);
        if (exists && !force) {
            if (corrupt)
                return bbt_fail(err, "%s holds a run whose checkpoint is damaged (%s); not overwriting it: give --force "
                                     "to start a new run there",
                                dir, why.msg);
            return bbt_fail(err, "%s already holds a run (%s); resume it with --resume %s, or give --force to replace it",
                            dir, files[i], dir);
        }
    }
    return 0;
}

/* runs/<task>-s<seed>, or the first of runs/<task>-s<seed>-2, -3, … that does not exist yet. */
static char *default_out_dir(const tune_config *cfg)
{
    mkdir("runs", 0755);
    const char *task = cfg->task ? cfg->task : "task";
    char buf[512];
    for (int k = 1;; k++) {
        if (k == 1)
            snprintf(buf, sizeof buf, "runs/%s-s%d", task, cfg->seed);
        else
            snprintf(buf, sizeof buf, "runs/%s-s%d-%d", task, cfg->seed, k);
        struct stat st;
        if (stat(buf, &st) != 0)
            return xstrdup(buf);
    }
}

static void format_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

typedef struct progress_ctx {
    int tty, verbose;
} progress_ctx;

static void show_progress(const tune_progress *p, void *userdata)
{
    const progress_ctx *ctx = userdata;
    if (ctx->verbose)
        fprintf(stderr, "%s\n", p->log_line);
    if (!ctx->tty)
        return;
    char eta[32], dev[32];
    format_duration(p->eta_s, eta, sizeof eta);
    if (isnan(p->last_dev))
        snprintf(dev, sizeof dev, "-");
    else
        snprintf(dev, sizeof dev, "%.4f (kept %.4f)", p->last_dev, p->best_dev);
    /* the words of log.jsonl: best train loss = best_train_loss (lowest so far), kept = dev_kept */
    fprintf(stderr, "\r%6ld/%ld evals | best train loss %.4f | dev %s %s | %.1f evals/s | ETA %s\033[K", p->evals,
            p->budget, p->best_train_loss, p->metric, dev, p->evals_per_s, eta);
    fflush(stderr);
}

/* F1 over more than two classes is macro-F1 (metrics.h): say so once, where the user sees it. */
static void note_macro_f1(const tuner *t)
{
    const task *tk = tuner_task(t);
    int metric = tk->metric == METRIC_F1, loss = tuner_config(t)->loss == LOSS_F1;
    if (tk->n_classes > 2 && (metric || loss))
        fprintf(stderr, "bbt tune: %d classes: F1 (%s) is macro-F1, the mean of the classes' F1, not one class's F1\n",
                tk->n_classes, metric && loss ? "the dev metric and the loss" : metric ? "the dev metric" : "the loss");
}

/* RUN/loss.png and loss.svg (bbt/plot.h). A finished run stays finished: a missing gnuplot or a failed plot is said
 * once and the exit code stays 0 (bbt plot RUN draws them later). */
static void draw_plots(const char *dir)
{
    bbt_error err;
    int rc = plot_run(dir, &err);
    if (rc == PLOT_NO_GNUPLOT)
        fprintf(stderr, "bbt tune: gnuplot not found on PATH: no loss.png or loss.svg (%s/loss.gp written; gnuplot "
                        "loss.gp there draws them)\n", dir);
    else if (rc < 0)
        fprintf(stderr, "bbt tune: the run finished, but its plot did not: %s\n", err.msg);
}

static int run_and_finish(tuner *t, const char *dir, int verbose)
{
    note_macro_f1(t);
    progress_ctx ctx = {isatty(STDERR_FILENO), verbose};
    bbt_error err;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = tuner_done(t) ? 0 : tuner_run(t, &interrupted, show_progress, &ctx, &err);
    if (ctx.tty)
        fprintf(stderr, "\n");
    if (rc == 1) {
        fprintf(stderr, "bbt tune: interrupted; checkpoint written. Resume with: bbt tune --resume %s\n", dir);
        return 130;
    }
    char *summary = NULL;
    if (rc == 0)
        rc = tuner_finish(t, &summary, &err);
    if (rc) {
        fprintf(stderr, "bbt tune: %s\nThe run can be resumed from its last checkpoint: bbt tune --resume %s\n", err.msg,
                dir);
        return EXIT_RUNTIME;
    }
    fputs(summary, stdout);
    free(summary);
    draw_plots(dir);
    if (ctx.tty)
        fprintf(stderr, "run directory: %s\n", dir);
    return EXIT_OK;
}

/* --resume of a run that is finished and has its results: say so, print its summary.json again, exit 0. -1 when there is
 * something to do (generations, or the results of a run stopped between its last checkpoint and summary.json). */
static int report_finished(const tuner *t, const char *dir)
{
    if (!tuner_done(t))
        return -1;
    char *path = path_join(dir, "summary.json");
    bbt_error err;
    char *summary = read_file(path, NULL, &err);
    free(path);
    if (!summary)
        return -1;
    long budget = tuner_config(t)->budget;
    if (tuner_stop_bits(t))
        fprintf(stderr, "bbt tune: %s is finished: the optimizer ended it after %ld evaluations, before its budget of %ld "
                        "(summary.json says why); nothing to resume\n",
                dir, tuner_evals(t), budget);
    else
        fprintf(stderr, "bbt tune: %s is finished: %ld evaluations of its budget of %ld; nothing to resume. To tune it "
                        "further: bbt tune --resume %s --budget N (N > %ld)\n",
                dir, tuner_evals(t), budget, dir, budget);
    fputs(summary, stdout);
    free(summary);
    return EXIT_OK;
}

static int resume_run(tune_cli *c, int argc, char **argv)
{
    long budget = opt_given(argc, argv, "budget") ? c->cfg.budget : 0; /* 0: the run's own */
    if (budget && (budget < 1 || budget > 1000000000000L)) {
        fprintf(stderr, "bbt tune: --budget %ld: must be 1 .. 10^12 evaluations\n", budget);
        return EXIT_USAGE;
    }
    const char *o = run_option_given(argc, argv);
    if (o) {
        fprintf(stderr, "bbt tune: --resume takes the run's settings from %s/config.json; --%s cannot be given with it\n",
                c->resume, o);
        return EXIT_USAGE;
    }
    if (c->cfg.threads < 0 || c->cfg.threads > MAX_THREADS) {
        fprintf(stderr, "bbt tune: --threads %d: must be 0 (all cores) .. %d\n", c->cfg.threads, MAX_THREADS);
        return EXIT_USAGE;
    }
    bbt_error err;
    tuner *t;
    if (runfiles_check_run_dir(c->resume, &err)) {
        fprintf(stderr, "bbt tune: --resume %s\n", err.msg);
        return EXIT_INPUT;
    }
    tune_config done;
    char *config_path = path_join(c->resume, "config.json");
    int is_baseline = 0;
    if (tune_config_load(&done, config_path, &err) == 0) { /* (a config.json that does not load: tuner_resume says why) */
        is_baseline = done.baseline != BASELINE_NONE;
        tune_config_free(&done);
    }
    free(config_path);
    if (is_baseline) {
        fprintf(stderr, "bbt tune: --resume %s: a baseline run (--baseline) has nothing to resume; run it again with "
                        "--force\n", c->resume);
        return EXIT_INPUT;
    }
    runlock lock;
    if (runlock_acquire(&lock, c->resume, &err)) {
        fprintf(stderr, "bbt tune: --resume %s\n", err.msg);
        return EXIT_INPUT;
    }
    int resumed = tuner_resume_budget(&t, c->resume, c->cfg.threads, budget, &err);
    if (resumed) {
        if (resumed == TUNER_ESCORE)
            fprintf(stderr, "bbt tune: %s\nThe run can be resumed: bbt tune --resume %s\n", err.msg, c->resume);
        else
            fprintf(stderr, "bbt tune: cannot resume %s: %s\n", c->resume, err.msg);
        runlock_release(&lock);
        return resumed == TUNER_ESCORE ? EXIT_RUNTIME : EXIT_INPUT;
    }
    int rc = report_finished(t, c->resume);
    if (rc < 0) {
        print_data(t);
        rc = run_and_finish(t, c->resume, c->verbose);
    }
    tuner_free(t);
    runlock_release(&lock);
    return rc;
}

/* --baseline manual|icl: score without tuning (bbt/baseline.h); nothing to interrupt or resume. */
static int run_baseline(tune_cli *c)
{
    bbt_error err;
    char *summary;
    if (baseline_run(&c->cfg, c->out, &summary, &err)) {
        fprintf(stderr, "bbt tune: --baseline %s: %s\n", tune_config_name(&c->cfg, "baseline"), err.msg);
        return EXIT_INPUT;
    }
    fputs(summary, stdout);
    free(summary);
    return EXIT_OK;
}

static int new_run(tune_cli *c, int argc, char **argv)
{
    bbt_error err;
    deep_defaults(&c->cfg, opt_given(argc, argv, "sigma0"), opt_given(argc, argv, "alpha"));
    if (check_options(c, &err)) {
        fprintf(stderr, "bbt tune: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (resolve_defaults(c, &err)) {
        fprintf(stderr, "bbt tune: %s\n", err.msg);
        return EXIT_INPUT;
    }
    if (!c->out)
        c->out = default_out_dir(&c->cfg);
    /* The lock first, then the look at what the directory holds: of two runs started together on one --out (with or
     * without --force) one gets the directory and the other is refused, naming the first. */
    runlock lock;
    if (make_dirs(c->out, &err) || runlock_acquire(&lock, c->out, &err)) {
        fprintf(stderr, "bbt tune: --out %s\n", err.msg);
        return EXIT_INPUT;
    }
    tuner *t = NULL;
    int rc = EXIT_INPUT, created = 0;
    if (prepare_out_dir(c->out, c->force, &err))
        fprintf(stderr, "bbt tune: %s\n", err.msg);
    else if (c->cfg.baseline != BASELINE_NONE)
        rc = run_baseline(c);
    else if ((created = tuner_create(&t, &c->cfg, c->out, &err)) == TUNER_ESCORE) {
        fprintf(stderr, "bbt tune: %s\nThe run can be resumed: bbt tune --resume %s\n", err.msg, c->out);
        rc = EXIT_RUNTIME;
    } else if (created)
        fprintf(stderr, "bbt tune: %s\n", err.msg);
    else {
        print_data(t);
        rc = run_and_finish(t, c->out, c->verbose);
        tuner_free(t);
    }
    runlock_release(&lock);
    return rc;
}

/* The options of `bbt tune`: every setting of config.h's table (kind, metavar and help from there), then the
 * command's own. */
static int build_options(tune_cli *c, opt *opts)
{
    static const opt_kind kinds[] = {[CFG_STR] = OPT_STR, [CFG_INT] = OPT_INT, [CFG_LONG] = OPT_LONG,
                                     [CFG_DBL] = OPT_DBL, [CFG_FLAG] = OPT_FLAG, [CFG_CHOICE] = OPT_STR,
                                     [CFG_AUTO] = OPT_STR};
    int n;
    const config_field *f = tune_config_fields(&n);
    if (n > MAX_SETTINGS) /* a table grown past this file's arrays: raise MAX_SETTINGS */
        n = MAX_SETTINGS;
    for (int i = 0; i < n; i++) {
        int as_text = f[i].type == CFG_CHOICE || f[i].type == CFG_AUTO;
        c->help[i] = config_field_help(&f[i]);
        opts[i] = (opt){f[i].option, f[i].repeatable ? OPT_STRS : kinds[f[i].type],
                        as_text ? (void *)&c->choice_text[i] : (char *)&c->cfg + f[i].offset, f[i].metavar, c->help[i]};
    }
    const opt own[N_OWN_OPTIONS] = {
        {"data", OPT_STR, &c->data, "DIR",
         "data folder: train.tsv, dev.tsv and (optional) test.tsv, each from\n"
         "DIR/16-<seed>/ if there, else from DIR/; the files used are printed"},
        {"assets", OPT_STR, &c->assets, "DIR", "shared assets (default: $BBT_ASSETS, ../shared/assets)"},
        {"out", OPT_STR, &c->out, "DIR", "run directory (default runs/<task>-s<seed>)"},
        {"resume", OPT_STR, &c->resume, "DIR",
         "continue the run in DIR from its checkpoint (a finished run: says so);\n"
         "with --budget N, raise its budget to N, a finished run included,\n"
         "exactly as if it had been started with N"},
        {"force", OPT_FLAG, &c->force, NULL, "replace a run already in --out (not one still running: see run.lock)"},
        {"verbose", OPT_FLAG, &c->verbose, NULL, "print every log line to stderr"},
        {"api-key", OPT_STR, &c->api_key, "KEY", "--endpoint's API key (default $BBT_API_KEY; never recorded)"},
        {"api-key-file", OPT_STR, &c->api_key_file, "F", "the same, read from a file"},
    };
    memcpy(opts + n, own, sizeof own);
    return n + N_OWN_OPTIONS;
}

static void tune_cli_free(tune_cli *c)
{
    tune_config_free(&c->cfg);
    free(c->data);
    free(c->assets);
    free(c->out);
    free(c->resume);
    free(c->api_key);
    free(c->api_key_file);
    for (int i = 0; i < MAX_SETTINGS; i++) {
        free(c->choice_text[i]);
        free(c->help[i]);
    }
}

int cmd_tune(int argc, char **argv)
{
    tune_cli c = {0};
    tune_config_init(&c.cfg);
    opt opts[MAX_SETTINGS + N_OWN_OPTIONS];
    int n_opts = build_options(&c, opts);
    const opt_spec spec = {"bbt tune [options]",
                           "Tune a soft prompt for a frozen language model with Black-Box Tuning (CMA-ES on p = A·z + "
                           "p0).\nWith no options: stories260K on SST-2, split seed 13, from the shared assets.\n"
                           "At the end, OUT/loss.png and OUT/loss.svg show the training loss and the dev metric "
                           "against evaluations (gnuplot; without it, said once, and the exit code stays 0). With "
                           "more than two classes, an F1 metric or --loss f1 is macro-F1.",
                           opts, n_opts, 0};
    int n_pos, rc = opt_parse(&spec, argc, argv, NULL, &n_pos);
    bbt_error err;
    if (rc == 0 && remote_set_api_key(c.api_key, c.api_key_file, &err)) {
        fprintf(stderr, "bbt tune: %s\n", err.msg);
        rc = EXIT_USAGE;
    } else if (rc == 0)
        rc = c.resume ? resume_run(&c, argc, argv) : new_run(&c, argc, argv);
    else
        rc = rc > 0 ? EXIT_OK : EXIT_USAGE;
    tune_cli_free(&c);
    return rc;
}
