/* files.h — whole-file reads, crash-safe writes and path joins, shared by every library of bbt.
 *
 * A leaf: it depends on nothing of ours and is compiled into each library (libbbtoptim, libbbtmodels, bbt) so that
 * each still builds and installs alone. Nothing is printed; errors come back as -1 with a message in err that names
 * the path and the reason (strerror), in the form "PATH: cannot STEP: REASON".
 */
#ifndef COMMON_FILES_H
#define COMMON_FILES_H

#include <stddef.h>

/* Read the whole file at path into a new buffer (*data, freed by the caller) of *len bytes, followed by a NUL that
 * *len does not count, so that text can be parsed in place. An empty file gives *len = 0 and a one-byte buffer.
 * Returns 0, or -1 with err set (the file cannot be opened or read, or memory ran out). */
int common_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

/* Write len bytes to path so that a reader (or a crash) sees either the old file or the whole new one: a temporary
 * file beside it (PATH.tmp.XXXXXX), written, fsync'd, closed, renamed over path, then the directory fsync'd so that
 * the rename itself is durable. On failure the temporary file is removed and path is untouched. */
int common_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* fsync the directory that holds path (after a rename or a create), best effort: returns 0 or -1 (errno set). */
int common_sync_dir_of(const char *path);

/* "dir/name" in a new string (freed by the caller), or NULL when memory ran out. An empty dir gives "name". */
char *common_path_join(const char *dir, const char *name);

#endif
