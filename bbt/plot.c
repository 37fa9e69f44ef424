/* plot.c — loss.png and loss.svg of a run, by gnuplot (see plot.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bbt/files.h"
#include "bbt/plot.h"
#include "bbt/util.h"

/* What the pictures show, read from the run's files. */
typedef struct run_series {
    int n, cap;
    double *evals, *loss_min, *loss_mean, *best_so_far; /* one per generation */
    int n_dev, cap_dev;
    double *dev_evals, *dev_mean, *dev_best;              /* one per dev evaluation (NaN where the log has none) */
    int has_mean, has_dev_mean, has_dev_best;            /* a series with at least one finite value */
    char *title;                                         /* task, optimizer, loss */
    char *loss_name, *metric_name;                       /* "ce", "acc" / "f1" / "macro_f1" */
    int finished;                                        /* summary.json read: the kept prompt is known */
    double untuned_dev, kept_dev, kept_evals;
    char *kept_source;                                   /* "mean", "best", "untuned" */
} run_series;

static void series_free(run_series *s)
{
    free(s->evals);
    free(s->loss_min);
    free(s->loss_mean);
    free(s->best_so_far);
    free(s->dev_evals);
    free(s->dev_mean);
    free(s->dev_best);
    free(s->title);
    free(s->loss_name);
    free(s->metric_name);
    free(s->kept_source);
    memset(s, 0, sizeof *s);
}

/* A number of a log line, NaN when absent or null. */
static double number_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static char *string_of(const cJSON *o, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return xstrdup(cJSON_IsString(v) ? v->valuestring : fallback);
}

static void grow(double **v, int cap)
{
    *v = xrealloc(*v, (size_t)cap * sizeof **v);
}

static void add_generation(run_series *s, const cJSON *o)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        grow(&s->evals, s->cap);
        grow(&s->loss_min, s->cap);
        grow(&s->loss_mean, s->cap);
        grow(&s->best_so_far, s->cap);
    }
    s->evals[s->n] = number_of(o, "evals");
    s->loss_min[s->n] = number_of(o, "loss_min");
    s->loss_mean[s->n] = number_of(o, "loss_mean");
    s->best_so_far[s->n] = number_of(o, "best_train_loss");
    s->has_mean |= isfinite(s->loss_mean[s->n]);
    s->n++;
    double mean = number_of(o, "dev_mean"), best = number_of(o, "dev_best");
    if (isnan(mean) && isnan(best))
        return;
    if (s->n_dev == s->cap_dev) {
        s->cap_dev = s->cap_dev ? 2 * s->cap_dev : 16;
        grow(&s->dev_evals, s->cap_dev);
        grow(&s->dev_mean, s->cap_dev);
        grow(&s->dev_best, s->cap_dev);
    }
    s->dev_evals[s->n_dev] = s->evals[s->n - 1];
    s->dev_mean[s->n_dev] = mean;
    s->dev_best[s->n_dev] = best;
    s->has_dev_mean |= isfinite(mean);
    s->has_dev_best |= isfinite(best);
    s->n_dev++;
}

static int read_log(run_series *s, const char *dir, bbt_error *err)
{
    char *path = path_join(dir, "log.jsonl");
    char *text = read_file(path, NULL, err);
    int rc = 0;
    if (!text) {
        rc = bbt_fail(err, "%s: no log.jsonl (not a run directory, or no generation finished yet)", dir);
        free(path);
        return rc;
    }
    int line = 0;
    for (char *p = text, *next; *p && !rc; p = next) {
        next = p + strcspn(p, "\n");
        if (*next)
            *next++ = '\0';
        line++;
        if (!p[strspn(p, " \t\r")])
            continue;
        cJSON *o = cJSON_Parse(p);
        if (!cJSON_IsObject(o) || isnan(number_of(o, "evals")))
            rc = bbt_fail(err, "%s: line %d is not a generation's record (JSON with \"evals\")", path, line);
        else
            add_generation(s, o);
        cJSON_Delete(o);
    }
    if (!rc && s->n == 0)
        rc = bbt_fail(err, "%s: empty: no generation finished yet", path);
    free(text);
    free(path);
    return rc;
}

/* The title and names from config.json, the kept prompt from summary.json when the run has finished. */
static int read_run_files(run_series *s, const char *dir, bbt_error *err)
{
    char *path = path_join(dir, "config.json");
    cJSON *cfg = read_json_object(path, "a run's configuration", err);
    free(path);
    if (!cfg)
        return -1;
    s->loss_name = string_of(cfg, "loss", "loss");
    char *task = string_of(cfg, "task", ""), *task_file = string_of(cfg, "task_file", "");
    char *optimizer = string_of(cfg, "optimizer", "");
    const char *slash = strrchr(task_file, '/');
    const char *task_name = *task ? task : slash ? slash + 1 : task_file;
    size_t len = strlen(dir) + strlen(task_name) + strlen(optimizer) + strlen(s->loss_name) + 64;
    s->title = xmalloc(len);
    snprintf(s->title, len, "%s: task %s, optimizer %s, loss %s", dir, task_name, optimizer, s->loss_name);
    free(task);
    free(task_file);
    free(optimizer);
    cJSON_Delete(cfg);

    path = path_join(dir, "summary.json"); /* none yet: an unfinished run, plotted as far as it went */
    int finished = access(path, F_OK) == 0;
    cJSON *sum = finished ? read_json_object(path, "a run's summary", err) : NULL;
    free(path);
    if (finished && !sum)
        return -1;
    s->metric_name = string_of(sum, "dev_metric_name", "acc");
    if (!sum)
        return 0;
    char key[64];
    snprintf(key, sizeof key, "dev_%s", s->metric_name);
    s->finished = 1;
    s->untuned_dev = number_of(sum, "untuned_dev_metric");
    s->kept_dev = number_of(sum, key);
    s->kept_evals = number_of(sum, "kept_at_evals");
    s->kept_source = string_of(sum, "kept_prompt", "");
    cJSON_Delete(sum);
    return 0;
}

/* ---- the gnuplot script ---- */

typedef struct script {
    char *text;
    size_t len, cap;
} script;

static void emit(script *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->text = xrealloc(b->text, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->text + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A gnuplot string literal in double quotes: backslashes and quotes escaped. */
static void emit_quoted(script *b, const char *s)
{
    emit(b, "\"");
    for (; *s; s++)
        emit(b, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    emit(b, "\"");
}

/* A datum: gnuplot reads NaN as undefined (no point). */
static void emit_value(script *b, double v)
{
    if (isfinite(v))
        emit(b, " %.9g", v);
    else
        emit(b, " NaN");
}

static void emit_data(script *b, const run_series *s)
{
    emit(b, "$train << EOD\n# evals loss_min loss_mean best_train_loss\n");
    for (int i = 0; i < s->n; i++) {
        emit_value(b, s->evals[i]);
        emit_value(b, s->loss_min[i]);
        emit_value(b, s->loss_mean[i]);
        emit_value(b, s->best_so_far[i]);
        emit(b, "\n");
    }
    emit(b, "EOD\n$dev << EOD\n# evals dev_mean dev_best\n");
    for (int i = 0; i < s->n_dev; i++) {
        emit_value(b, s->dev_evals[i]);
        emit_value(b, s->dev_mean[i]);
        emit_value(b, s->dev_best[i]);
        emit(b, "\n");
    }
    emit(b, "EOD\n");
    if (s->finished && isfinite(s->kept_dev) && isfinite(s->kept_evals))
        emit(b, "$kept << EOD\n%.9g %.9g\nEOD\n", s->kept_evals, s->kept_dev);
}

static const char *metric_label(const char *name)
{
    if (!strcmp(name, "f1"))
        return "dev F1 (positive class)";
    if (!strcmp(name, "macro_f1"))
        return "dev macro-F1";
    return "dev accuracy";
}

/* Both panels of one picture; the terminal and output are set before. */
static void emit_panels(script *b, const run_series *s)
{
    double x_max = s->evals[s->n - 1];
    emit(b, "set multiplot layout 2,1 title ");
    emit_quoted(b, s->title);
    /* The legends sit right of the plots, never over data; fixed margins keep both panels' x axes aligned. */
    emit(b, "\nset grid\nset yrange [*:*]\nset xrange [0:%.9g]\nset xlabel \"evaluations\"\n"
            "set lmargin at screen 0.08\nset rmargin at screen 0.66\nset key at screen 0.68, graph 1 left top Left reverse nobox\n"
            "set offsets 0, 0, graph 0.06, graph 0.06\n"
            "set ylabel \"training loss (%s)\"\nset title \"training loss of each generation's population\"\n",
         x_max > 0 ? x_max : 1, s->loss_name);
    if (s->finished && isfinite(s->kept_evals))
        emit(b, "set arrow 1 from %.9g, graph 0 to %.9g, graph 1 nohead dt 3 lw 1.5 lc rgb \"#d62728\"\n", s->kept_evals,
             s->kept_evals);
    emit(b, "plot $train using 1:2 with lines lw 2 lc rgb \"#ff7f0e\" title \"population best\"");
    if (s->has_mean)
        emit(b, ", \\\n     $train using 1:3 with lines lw 2 lc rgb \"#1f77b4\" title \"population mean\"");
    emit(b, ", \\\n     $train using 1:4 with steps lw 1.5 dt 2 lc rgb \"#2ca02c\" title \"best so far\"");
    if (s->finished && isfinite(s->kept_evals)) /* a legend entry for the dotted line */
        emit(b, ", \\\n     NaN with lines dt 3 lw 1.5 lc rgb \"#d62728\" title \"kept prompt found\"");
    emit(b, "\n");

    emit(b, "set ylabel \"%s\"\nset title \"%s at each dev evaluation\"\nset yrange [*:*]\n", metric_label(s->metric_name),
         metric_label(s->metric_name));
    const char *sep = "plot ";
    if (s->has_dev_mean) {
        emit(b, "%s$dev using 1:2 with linespoints lw 2 pt 7 ps 1 lc rgb \"#1f77b4\" title \"distribution mean\"", sep);
        sep = ", \\\n     ";
    }
    if (s->has_dev_best) {
        emit(b, "%s$dev using 1:3 with linespoints lw 2 pt 5 ps 1 lc rgb \"#ff7f0e\" title \"generation best\"", sep);
        sep = ", \\\n     ";
    }
    if (s->finished && isfinite(s->untuned_dev)) {
        emit(b, "%s%.9g with lines dt 2 lw 1.5 lc rgb \"#7f7f7f\" title \"untuned prompt (z = 0)\"", sep, s->untuned_dev);
        sep = ", \\\n     ";
    }
    if (s->finished && isfinite(s->kept_dev) && isfinite(s->kept_evals)) {
        emit(b, "%s$kept using 1:2 with points pt 6 ps 3 lw 2.5 lc rgb \"#d62728\" "
                "title \"kept: %s @ %.0f evals, %.4g\"",
             sep, strcmp(s->kept_source, "generation_best") ? s->kept_source : "gen. best", s->kept_evals, s->kept_dev);
        sep = ", \\\n     ";
    }
    if (!strcmp(sep, "plot ")) /* nothing to draw: no dev evaluation yet, run unfinished */
        emit(b, "set label 1 \"no dev evaluation yet\" at graph 0.5, graph 0.5 center\nunset key\n"
                "set yrange [0:1]\nplot -1 notitle\nunset label 1\n"); /* an empty frame: -1 is out of range */
    else
        emit(b, "\n");
    emit(b, "unset arrow 1\nunset multiplot\nset output\n");
}

static char *make_script(const run_series *s)
{
    script b = {0};
    emit(&b, "# loss.gp - the pictures of this run, written by bbt plot from log.jsonl and summary.json.\n"
             "# Draw them again (after editing, say): cd to this directory, then gnuplot loss.gp\n");
    emit_data(&b, s);
    emit(&b, "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
             "    set terminal pngcairo size 1100,800 noenhanced font \"sans,11\"\n"
             "} else {\n"
             "    set terminal png size 1100,800 noenhanced\n"
             "}\nset output \"loss.png\"\n");
    emit_panels(&b, s);
    emit(&b, "set terminal svg size 1100,800 dynamic noenhanced font \"sans,11\"\nset output \"loss.svg\"\n");
    emit_panels(&b, s);
    return b.text;
}

/* ---- running gnuplot ---- */

/* 1 when PATH has an executable named name. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = xstrdup(path);
    int found = 0;
    for (char *dir = strtok(copy, ":"); dir && !found; dir = strtok(NULL, ":")) {
        char *full = path_join(*dir ? dir : ".", name);
        found = access(full, X_OK) == 0;
        free(full);
    }
    free(copy);
    return found;
}

/* Run `gnuplot loss.gp` in dir; its error output becomes the message when it fails. */
static int run_gnuplot(const char *dir, bbt_error *err)
{
    int fds[2];
    if (pipe(fds))
        return bbt_fail(err, "cannot start gnuplot: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return bbt_fail(err, "cannot start gnuplot: fork: %s", strerror(errno));
    }
    if (pid == 0) { /* the child: only async-signal-safe calls until exec */
        int null = open("/dev/null", O_RDWR);
        if (chdir(dir) || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(126);
        close(fds[0]);
        execlp("gnuplot", "gnuplot", "loss.gp", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[4096];
    size_t n = 0;
    ssize_t got;
    while ((got = read(fds[0], out + n, sizeof out - 1 - n)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0 && (n += (size_t)got) == sizeof out - 1)
            n = 0; /* keep reading (the end of its message matters most); a very long one is cut */
    close(fds[0]);
    out[n] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return bbt_fail(err, "%s/loss.gp: gnuplot failed (%s %d)%s%s", dir, WIFEXITED(status) ? "exit" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), n ? ": " : "", out);
}

int plot_run(const char *dir, bbt_error *err)
{
    run_series s = {0};
    if (read_log(&s, dir, err) || read_run_files(&s, dir, err)) {
        series_free(&s);
        return -1;
    }
    char *text = make_script(&s);
    char *path = path_join(dir, "loss.gp");
    int rc = write_file_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    series_free(&s);
    if (rc)
        return -1;
    if (!on_path("gnuplot"))
        return PLOT_NO_GNUPLOT;
    return run_gnuplot(dir, err) ? -1 : PLOT_DRAWN;
}
