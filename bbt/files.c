/* files.c — bbt/'s faces of the common/ file plumbing (errors into bbt_error), JSON files and directories. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bbt/files.h"
#include "bbt/util.h"
#include "common/files.h"

char *path_join(const char *dir, const char *name)
{
    char *p = common_path_join(dir, name);
    if (!p) { /* the one way it fails; as every x* allocation, not worth threading through callers */
        fprintf(stderr, "bbt: out of memory (joining %s and %s)\n", dir, name);
        abort();
    }
    return p;
}

char *read_file(const char *path, size_t *len, bbt_error *err)
{
    char *data, msg[sizeof err->msg];
    size_t n;
    if (common_read_file(path, &data, &n, msg, sizeof msg)) {
        bbt_fail(err, "%s", msg);
        return NULL;
    }
    if (len)
        *len = n;
    return data;
}

int write_file_atomic(const char *path, const void *data, size_t len, bbt_error *err)
{
    char msg[sizeof err->msg];
    if (common_write_atomic(path, data, len, msg, sizeof msg))
        return bbt_fail(err, "%s", msg);
    return 0;
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
    if (!text) {
        fprintf(stderr, "bbt: out of memory (printing JSON)\n");
        abort();
    }
    size_t n = strlen(text);
    char *out = xmalloc(n + 2);
    memcpy(out, text, n);
    memcpy(out + n, "\n", 2);
    cJSON_free(text);
    return out;
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
