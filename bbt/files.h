/* files.h — files for bbt/: whole-file reads, JSON files, crash-safe writes, path joins, directories.
 *
 * The file plumbing itself is common/files.h (one copy for every library); these are its bbt/ faces: errors go into a
 * bbt_error, and out of memory aborts as with the x* allocators of util.h.
 */
#ifndef BBT_FILES_H
#define BBT_FILES_H

#include <stddef.h>

#include "bbt/error.h"

struct cJSON;

/* Read a whole file into a NUL-terminated buffer (caller frees); *len (if not NULL) gets its length. NULL with a
 * message naming the file on failure. */
char *read_file(const char *path, size_t *len, bbt_error *err);

/* Read a file that must hold one JSON object; `what` names what it should be, for the message
 * ("a task definition"). NULL with a message on failure. Caller frees with cJSON_Delete. */
struct cJSON *read_json_object(const char *path, const char *what, bbt_error *err);

/* A JSON value as text for a file: pretty-printed, ending in a newline; malloc'ed (caller frees). */
char *json_text(const struct cJSON *v);

/* Write data to path atomically: a temporary file beside it, fsync, rename, fsync of the directory. A reader sees the
 * old file or the new one, never a mix, even after a crash. */
int write_file_atomic(const char *path, const void *data, size_t len, bbt_error *err);

/* path = dir + "/" + name, in a fresh buffer (caller frees). */
char *path_join(const char *dir, const char *name);

/* Create a directory and any missing parents (as mkdir -p), and check that files can be written in it. An error names
 * the part that is a file or cannot be made. */
int make_dirs(const char *dir, bbt_error *err);

#endif
