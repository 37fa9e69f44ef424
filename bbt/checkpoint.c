/* checkpoint.c — framing, verification and typed fields of checkpoint files. Fields are stored little-endian
 * (common/bytes.h); the CRC is common/crc32.h's, zlib's. */
#include <stdlib.h>
#include <string.h>

#include "bbt/checkpoint.h"
#include "bbt/files.h"
#include "bbt/util.h"
#include "common/bytes.h"
#include "common/crc32.h"

static const unsigned char MAGIC[8] = {'B', 'B', 'T', 'C', 'K', 'P', 'T', '\n'};
#define FRAME_HEAD 20 /* magic 8, version 4, payload length 8 */
#define FRAME_TAIL 4  /* CRC-32 of everything before it */

static void put_bytes(ckpt_writer *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = 2 * (w->len + n) + 256;
        w->data = xrealloc(w->data, w->cap);
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void put_le(ckpt_writer *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    common_put_le(b, v, bytes);
    put_bytes(w, b, (size_t)bytes);
}

void ckpt_put_i64(ckpt_writer *w, int64_t v)
{
    put_le(w, (uint64_t)v, 8);
}

void ckpt_put_f64(ckpt_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_le(w, bits, 8);
}

void ckpt_put_f64s(ckpt_writer *w, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ckpt_put_f64(w, v[i]);
}

void ckpt_put_blob(ckpt_writer *w, const void *p, size_t n)
{
    put_le(w, n, 8);
    put_bytes(w, p, n);
}

int ckpt_write_file(ckpt_writer *w, const char *path, bbt_error *err)
{
    ckpt_writer framed = {0};
    put_bytes(&framed, MAGIC, sizeof MAGIC);
    put_le(&framed, CHECKPOINT_VERSION, 4);
    put_le(&framed, w->len, 8);
    put_bytes(&framed, w->data, w->len);
    put_le(&framed, common_crc32(framed.data, framed.len), 4);
    int rc = write_file_atomic(path, framed.data, framed.len, err);
    free(framed.data);
    free(w->data);
    memset(w, 0, sizeof *w);
    return rc;
}

int ckpt_read_file(ckpt_reader *r, const char *path, bbt_error *err)
{
    memset(r, 0, sizeof *r);
    size_t len;
    char *file = read_file(path, &len, err);
    if (!file)
        return -1;
    const unsigned char *b = (const unsigned char *)file;
    int rc = 0;
    if (len < FRAME_HEAD + FRAME_TAIL || memcmp(b, MAGIC, sizeof MAGIC))
        rc = bbt_fail(err, "%s: not a bbt checkpoint (bad magic or too short: %zu bytes)", path, len);
    else if (common_get_le(b + 8, 4) != CHECKPOINT_VERSION)
        rc = bbt_fail(err, "%s: checkpoint version %u, this bbt reads version %d", path, (unsigned)common_get_le(b + 8, 4),
                      CHECKPOINT_VERSION);
    else if (common_get_le(b + 12, 8) != len - FRAME_HEAD - FRAME_TAIL)
        rc = bbt_fail(err, "%s: truncated or damaged checkpoint (payload says %llu bytes, file holds %zu)", path,
                      (unsigned long long)common_get_le(b + 12, 8), len - FRAME_HEAD - FRAME_TAIL);
    else if (common_get_le(b + len - FRAME_TAIL, 4) != common_crc32(b, len - FRAME_TAIL))
        rc = bbt_fail(err, "%s: corrupt checkpoint (CRC-32 mismatch)", path);
    if (rc) {
        free(file);
        return rc;
    }
    r->len = len - FRAME_HEAD - FRAME_TAIL;
    r->data = xmalloc(r->len + 1);
    memcpy(r->data, b + FRAME_HEAD, r->len);
    free(file);
    return 0;
}

void ckpt_reader_free(ckpt_reader *r)
{
    free(r->data);
    memset(r, 0, sizeof *r);
}

static const unsigned char *take(ckpt_reader *r, size_t n)
{
    if (r->failed || n > r->len - r->at) {
        r->failed = 1;
        return NULL;
    }
    const unsigned char *p = r->data + r->at;
    r->at += n;
    return p;
}

int64_t ckpt_get_i64(ckpt_reader *r)
{
    const unsigned char *p = take(r, 8);
    return p ? (int64_t)common_get_le(p, 8) : 0;
}

double ckpt_get_f64(ckpt_reader *r)
{
    const unsigned char *p = take(r, 8);
    uint64_t bits = p ? common_get_le(p, 8) : 0;
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

void ckpt_get_f64s(ckpt_reader *r, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = ckpt_get_f64(r);
}

const void *ckpt_get_blob(ckpt_reader *r, size_t *n)
{
    const unsigned char *p = take(r, 8);
    *n = p ? (size_t)common_get_le(p, 8) : 0;
    const void *blob = take(r, *n);
    if (!blob)
        *n = 0;
    return blob;
}
