/* fuzz_file.h — for fuzz targets whose parser reads a path, not a buffer: the input goes into a file in a directory of
 * this process's own (so that parallel fuzzing jobs do not share files), named as the parser expects it. */
#ifndef BBT_TESTS_FUZZ_FILE_H
#define BBT_TESTS_FUZZ_FILE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir_path[64];

/* At exit: the scratch directory's files, then the directory (a crash leaves it, beside the crash's input). */
static inline void fuzz_dir_remove(void)
{
    DIR *d = opendir(fuzz_dir_path);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(fuzz_dir_path);
}

/* The process's scratch directory, in memory where the system has /dev/shm (a file per input costs the disk otherwise);
 * made on first use, removed at exit. */
static inline const char *fuzz_dir(void)
{
    char *dir = fuzz_dir_path;
    if (!dir[0]) {
        snprintf(dir, sizeof fuzz_dir_path, "/dev/shm/bbt-fuzz-XXXXXX");
        if (!mkdtemp(dir)) {
            snprintf(dir, sizeof fuzz_dir_path, "/tmp/bbt-fuzz-XXXXXX");
            if (!mkdtemp(dir))
                abort();
        }
        atexit(fuzz_dir_remove);
    }
    return dir;
}

/* Write data[0..size) to DIR/name and return the path (a static buffer, overwritten by the next call). */
static inline const char *fuzz_write(const char *name, const void *data, size_t size)
{
    static char path[2][128];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path[which], "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        abort();
    return path[which];
}

/* With FUZZ_VERBOSE=1 in the environment, say why an input was refused (to check that seeds get past the checks). */
static inline void fuzz_note(const char *what, int rc, const char *msg)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "%s: %s\n", what, rc ? msg : "ok");
}

#endif
