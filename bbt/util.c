/* util.c — allocation, file reading and atomic file writing for bbt/. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bbt/util.h"

static void *check_alloc(void *p, size_t n)
{
    if (!p && n) {
        fprintf(stderr, "bbt: out of memory (allocating %zu bytes)\n", n);
        abort();
    }
    return p;
}

void *xmalloc(size_t n)
{
    return check_alloc(malloc(n), n);
}

void *xcalloc(size_t n, size_t size)
{
    return check_alloc(calloc(n, size), n * size);
}

void *xrealloc(void *p, size_t n)
{
    return check_alloc(realloc(p, n), n);
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = xmalloc(a + b + 2);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

char *read_file(const char *path, size_t *len, bbt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        bbt_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        buf = xrealloc(buf, cap);
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        bbt_fail(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

cJSON *read_json_object(const char *path, const char *what, bbt_error *err)
{
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) { /* say where, as an editor would: line and column of the first byte cJSON could not take */
        int line = 1, col = 1;
        for (const char *p = text; end && p < end && p < text + len; p++)
            if (*p == '\n')
                line++, col = 1;
            else
                col++;
        free(text);
        bbt_fail(err, "%s: not valid JSON (%s): syntax error at line %d, column %d", path, what, line, col);
        return NULL;
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        bbt_fail(err, "%s: not a JSON object (expected %s)", path, what);
        return NULL;
    }
    return root;
}

char *json_text(const cJSON *v)
{
    char *text = cJSON_Print(v);
    size_t n = strlen(text);
    char *out = xmalloc(n + 2);
    memcpy(out, text, n);
    memcpy(out + n, "\n", 2);
    cJSON_free(text);
    return out;
}

static int fsync_dir_of(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int write_file_atomic(const char *path, const void *data, size_t len, bbt_error *err)
{
    size_t n = strlen(path) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        bbt_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    int ok = left == 0 && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        bbt_fail(err, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    fsync_dir_of(path);
    return 0;
}

int make_dirs(const char *dir, bbt_error *err)
{
    if (!*dir)
        return bbt_fail(err, "\"\": an empty directory name");
    char *path = xstrdup(dir);
    int rc = 0;
    /* Each prefix that ends before a '/', then the whole path. */
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        *p = 0;
        struct stat st;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            rc = bbt_fail(err, "%s: cannot create the directory %s: %s", dir, path, strerror(errno));
        else if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = bbt_fail(err, "%s: %s is a file, not a directory", dir, path);
        *p = c;
        if (rc || c == 0)
            break;
    }
    if (!rc && access(dir, W_OK | X_OK) != 0) /* before any work is done that could not be saved */
        rc = bbt_fail(err, "%s: cannot write in this directory: %s", dir, strerror(errno));
    free(path);
    return rc;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + (size_t)len > n)
            return 0;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const unsigned min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += (size_t)len;
    }
    return 1;
}
