/* torchzip_zip.c — reading the stored entries of a ZIP archive, every offset checked against the buffer. */
#include "bbt/serve/torchzip_zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crc32.h"

#define EOCD_SIG 0x06054b50u
#define CDIR_SIG 0x02014b50u
#define LOCAL_SIG 0x04034b50u
#define EOCD_SIZE 22
#define CDIR_SIZE 46
#define LOCAL_SIZE 30

/* The torch.save reader's error idiom, shared by its files: the message into err, -1 back. */
int tz_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t le(const unsigned char *p, int n) { return common_get_le(p, n); }

/* The end-of-central-directory record: searched backwards over the comment (at most 65535 bytes). */
static long find_eocd(const unsigned char *buf, size_t len)
{
    if (len < EOCD_SIZE)
        return -1;
    size_t lowest = len - EOCD_SIZE > 65535 ? len - EOCD_SIZE - 65535 : 0;
    for (size_t at = len - EOCD_SIZE + 1; at-- > lowest;)
        if (le(buf + at, 4) == EOCD_SIG && at + EOCD_SIZE + le(buf + at + 20, 2) == len)
            return (long)at;
    return -1;
}

/* The data of the entry whose local header is at off, checked against the central directory's sizes and CRC. */
static int read_local(const unsigned char *buf, size_t len, size_t off, tz_entry *e, size_t size, uint32_t crc,
                      char *err, size_t errlen)
{
    if (off > len || len - off < LOCAL_SIZE || le(buf + off, 4) != LOCAL_SIG)
        return tz_fail(err, errlen, "malformed archive: entry \"%s\" has no local header at offset %zu", e->name, off);
    if (le(buf + off + 6, 2) & 1)
        return tz_fail(err, errlen, "entry \"%s\" is encrypted", e->name);
    if (le(buf + off + 8, 2) != 0)
        return tz_fail(err, errlen, "entry \"%s\" is compressed (method %u); torch.save stores entries uncompressed",
                    e->name, (unsigned)le(buf + off + 8, 2));
    size_t start = off + LOCAL_SIZE + le(buf + off + 26, 2) + le(buf + off + 28, 2);
    if (start > len || len - start < size)
        return tz_fail(err, errlen, "malformed archive: entry \"%s\" (%zu bytes) runs past the end", e->name, size);
    e->data = buf + start;
    e->size = size;
    if (common_crc32(e->data, size) != crc)
        return tz_fail(err, errlen, "entry \"%s\" fails its CRC-32 check", e->name);
    return 0;
}

static int read_cdir_entry(const unsigned char *buf, size_t len, size_t *at, size_t cdir_end, tz_entry *e, char *err,
                           size_t errlen)
{
    const unsigned char *p = buf + *at;
    if (cdir_end - *at < CDIR_SIZE || le(p, 4) != CDIR_SIG)
        return tz_fail(err, errlen, "malformed archive: bad central directory entry at offset %zu", *at);
    size_t name_len = le(p + 28, 2), extra = le(p + 30, 2), comment = le(p + 32, 2);
    size_t csize = le(p + 20, 4), usize = le(p + 24, 4), local = le(p + 42, 4);
    uint32_t crc = (uint32_t)le(p + 16, 4);
    if (cdir_end - *at - CDIR_SIZE < name_len + extra + comment)
        return tz_fail(err, errlen, "malformed archive: central directory entry at offset %zu runs past it", *at);
    if (name_len == 0 || name_len >= sizeof e->name)
        return tz_fail(err, errlen, "archive entry name of %zu bytes (expected 1..%zu)", name_len, sizeof e->name - 1);
    memcpy(e->name, p + CDIR_SIZE, name_len);
    e->name[name_len] = '\0';
    if (memchr(e->name, '\0', name_len))
        return tz_fail(err, errlen, "archive entry name contains a NUL byte");
    if (csize == 0xffffffffu || usize == 0xffffffffu || local == 0xffffffffu)
        return tz_fail(err, errlen, "entry \"%s\" uses zip64, which torch.save does not need here", e->name);
    if (le(p + 10, 2) != 0 || csize != usize)
        return tz_fail(err, errlen, "entry \"%s\" is compressed (method %u); torch.save stores entries uncompressed",
                    e->name, (unsigned)le(p + 10, 2));
    *at += CDIR_SIZE + name_len + extra + comment;
    return read_local(buf, len, local, e, usize, crc, err, errlen);
}

int tz_zip_open(const unsigned char *buf, size_t len, tz_archive *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    long eocd = find_eocd(buf, len);
    if (eocd < 0)
        return tz_fail(err, errlen, "not a ZIP archive (no end-of-central-directory record; torch.save writes one)");
    const unsigned char *p = buf + eocd;
    size_t count = le(p + 10, 2), cdir_size = le(p + 12, 4), cdir_off = le(p + 16, 4);
    if (le(p + 4, 2) != 0 || le(p + 6, 2) != 0 || le(p + 8, 2) != count)
        return tz_fail(err, errlen, "multi-disk ZIP archives are not supported");
    if (count == 0xffff || cdir_off == 0xffffffffu)
        return tz_fail(err, errlen, "zip64 archives are not supported");
    if (cdir_off > (size_t)eocd || (size_t)eocd - cdir_off < cdir_size)
        return tz_fail(err, errlen, "malformed archive: the central directory (%zu bytes at %zu) lies outside the file",
                    cdir_size, cdir_off);
    if (count > TZ_MAX_ENTRIES)
        return tz_fail(err, errlen, "archive has %zu entries (at most %d expected)", count, TZ_MAX_ENTRIES);
    size_t at = cdir_off, end = cdir_off + cdir_size;
    for (size_t i = 0; i < count; i++)
        if (read_cdir_entry(buf, len, &at, end, &a->entries[a->n++], err, errlen))
            return -1;
    return 0;
}

const tz_entry *tz_zip_find(const tz_archive *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->entries[i].name, name))
            return &a->entries[i];
    return NULL;
}
