/* assets.c — the search path for the shared assets. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bbt/assets.h"
#include "bbt/files.h"
#include "bbt/util.h"

static int is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ../../shared/assets beside the running executable, or NULL. */
static char *beside_executable(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    return path_join(exe, "../../shared/assets");
}

char *assets_find(const char *option, bbt_error *err)
{
    if (option) {
        if (is_dir(option))
            return xstrdup(option);
        bbt_fail(err, "--assets %s: not a directory", option);
        return NULL;
    }
    const char *env = getenv("BBT_ASSETS");
    if (env && *env) {
        if (is_dir(env))
            return xstrdup(env);
        bbt_fail(err, "BBT_ASSETS=%s: not a directory", env);
        return NULL;
    }
    if (is_dir("../shared/assets"))
        return xstrdup("../shared/assets");
    char *exe = beside_executable();
    if (is_dir(exe))
        return exe;
    bbt_fail(err, "no assets directory found (tried --assets, $BBT_ASSETS, ../shared/assets, %s); give --assets DIR",
             exe ? exe : "the executable's ../../shared/assets");
    free(exe);
    return NULL;
}

char *assets_default_model(const char *assets)
{
    return path_join(assets, "models/stories260K");
}
