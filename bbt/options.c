/* options.c — table-driven parsing of `--name VALUE` options. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/options.h"
#include "bbt/util.h"

void opt_print_help(const opt_spec *spec, FILE *out)
{
    fprintf(out, "usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->summary);
    for (int i = 0; i < spec->n_opts; i++) {
        const opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        /* Help continues under itself: after a '\n' in the text, and after an option too long for its column. */
        if (strlen(left) > 24)
            fprintf(out, "  %s\n  %-24s ", left, "");
        else
            fprintf(out, "  %-24s ", left);
        for (const char *h = o->help; *h; h++)
            if (*h == '\n')
                fprintf(out, "\n  %-24s ", "");
            else
                fputc(*h, out);
        fputc('\n', out);
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
}

/* The command a usage line is for: its first two words ("bbt eval"), so that usage errors start "bbt eval:" as the
 * command's other errors do. */
static const char *command_of(const char *usage, char *buf, size_t size)
{
    size_t first = strcspn(usage, " "), n = first;
    if (usage[n] == ' ')
        n += 1 + strcspn(usage + n + 1, " ");
    if (n >= size)
        n = size - 1;
    memcpy(buf, usage, n);
    buf[n] = 0;
    return buf;
}

static int set_value(const opt *o, const char *text, const char *cmd, int again)
{
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_STRS:
        if (again) { /* a repeated option: its values joined as one list */
            char **v = o->value;
            size_t n = strlen(*v), t = strlen(text);
            char *joined = xmalloc(n + t + 2);
            memcpy(joined, *v, n);
            joined[n] = ',';
            memcpy(joined + n + 1, text, t + 1);
            free(*v);
            *v = joined;
            return 0;
        }
        /* fall through */
    case OPT_STR:
        free(*(char **)o->value);
        *(char **)o->value = xstrdup(text);
        return 0;
    case OPT_INT:
    case OPT_LONG: {
        long v = strtol(text, &end, 10);
        if (end == text || *end || errno || (o->kind == OPT_INT && (v > 2147483647L || v < -2147483647L)))
            break;
        if (o->kind == OPT_INT)
            *(int *)o->value = (int)v;
        else
            *(long *)o->value = v;
        return 0;
    }
    case OPT_DBL: {
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            break;
        *(double *)o->value = v;
        return 0;
    }
    case OPT_FLAG: return 0;
    }
    fprintf(stderr, "%s: --%s: \"%s\" is not a valid %s\n", cmd, o->name, text,
            o->kind == OPT_DBL ? "number" : "integer");
    return -1;
}

static const opt *find_opt(const opt_spec *spec, const char *name, size_t len)
{
    for (int i = 0; i < spec->n_opts; i++)
        if (strlen(spec->opts[i].name) == len && !strncmp(spec->opts[i].name, name, len))
            return &spec->opts[i];
    return NULL;
}

int opt_parse(const opt_spec *spec, int argc, char **argv, char **pos, int *n_pos)
{
    char cmd[64];
    command_of(spec->usage, cmd, sizeof cmd);
    *n_pos = 0;
    char seen[spec->n_opts + 1]; /* which options were given so far on this command line (a repeatable one appends) */
    memset(seen, 0, sizeof seen);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            opt_print_help(spec, stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            if (*n_pos >= spec->max_positional) {
                fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", cmd, a);
                return -1;
            }
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const opt *o = find_opt(spec, a + 2, len);
        if (!o) {
            fprintf(stderr, "%s: unknown option \"%.*s\" (see %s --help)\n", cmd, (int)len + 2, a, cmd);
            return -1;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: --%s takes no value\n", cmd, o->name);
                return -1;
            }
            *(int *)o->value = 1;
            continue;
        }
        const char *text = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!text) {
            fprintf(stderr, "%s: --%s needs a value (%s)\n", cmd, o->name, o->metavar);
            return -1;
        }
        int again = seen[o - spec->opts];
        seen[o - spec->opts] = 1;
        if (set_value(o, text, cmd, again))
            return -1;
    }
    return 0;
}

int opt_given(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n) && (argv[i][2 + n] == 0 || argv[i][2 + n] == '='))
            return 1;
    return 0;
}
