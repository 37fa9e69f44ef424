/* torchzip_zip.h — the ZIP container under torch.save: stored entries found through the central directory (internal to
 * torchzip.c and its fuzz target). */
#ifndef BBT_SERVE_TORCHZIP_ZIP_H
#define BBT_SERVE_TORCHZIP_ZIP_H

#include <stddef.h>

#define TZ_MAX_ENTRIES 64

typedef struct tz_entry {
    char name[256];
    const unsigned char *data; /* points into the archive */
    size_t size;
} tz_entry;

typedef struct tz_archive {
    tz_entry entries[TZ_MAX_ENTRIES];
    int n;
} tz_archive;

/* Format a message into err (errlen bytes) and return -1: the error idiom of the torch.save reader's files. */
int tz_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* List the entries of a ZIP archive in central-directory order; every entry must be STORED with a correct CRC-32. */
int tz_zip_open(const unsigned char *buf, size_t len, tz_archive *a, char *err, size_t errlen);

/* The entry named exactly name, or NULL. */
const tz_entry *tz_zip_find(const tz_archive *a, const char *name);

#endif
