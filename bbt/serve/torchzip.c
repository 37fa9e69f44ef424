/* torchzip.c — torch.save'd 2-D tensors: reading what PyTorch writes, and writing what it reads (see torchzip.h). */
#include "bbt/serve/torchzip.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/serve/torchzip_pickle.h"
#include "bbt/serve/torchzip_zip.h"
#include "common/bytes.h"
#include "common/crc32.h"

/* ---- element conversions ---- */

float tz_bf16_to_float(unsigned short h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

unsigned short tz_float_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (unsigned short)((u >> 16) | 0x40); /* NaN stays a quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);                /* round to nearest even */
    return (unsigned short)(u >> 16);
}

float tz_f16_to_float(unsigned short h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0)
        v = ldexpf((float)man, -24);
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

unsigned short tz_float_to_f16(float f)
{
    unsigned short sign = signbit(f) ? 0x8000 : 0;
    float a = fabsf(f);
    if (isnan(f))
        return sign | 0x7e00;
    if (a >= 65520.0f) /* rounds past the largest half (65504) */
        return sign | 0x7c00;
    if (a < ldexpf(1.0f, -14)) /* subnormal: units of 2^-24, round to nearest even */
        return sign | (unsigned short)lrintf(a * 16777216.0f);
    int e;
    float m = frexpf(a, &e); /* a = m·2^e, m in [0.5, 1) */
    long bits = lrintf(m * 2048.0f); /* 11 significant bits, nearest even */
    if (bits == 2048) {
        bits = 1024;
        e++;
    }
    return sign | (unsigned short)(((e + 14) << 10) | (bits - 1024));
}

/* ---- reading ---- */

static int dtype_of(const char *storage, tz_dtype *dt, int *elsize)
{
    if (!strcmp(storage, "FloatStorage"))
        *dt = TZ_F32, *elsize = 4;
    else if (!strcmp(storage, "BFloat16Storage"))
        *dt = TZ_BF16, *elsize = 2;
    else if (!strcmp(storage, "HalfStorage"))
        *dt = TZ_F16, *elsize = 2;
    else
        return -1;
    return 0;
}

/* The archive's records: <prefix>/data.pkl, <prefix>/version, <prefix>/byteorder (optional, must say little). */
static int find_records(const tz_archive *a, const tz_entry **pkl, char *prefix, size_t plen, char *err,
                        size_t errlen)
{
    const char *slash = a->n ? strchr(a->entries[0].name, '/') : NULL;
    if (!slash || (size_t)(slash - a->entries[0].name) >= plen - 32)
        return tz_fail(err, errlen, "not a torch.save archive: the first entry is not <name>/data.pkl");
    snprintf(prefix, plen, "%.*s", (int)(slash - a->entries[0].name), a->entries[0].name);
    char name[300];
    snprintf(name, sizeof name, "%s/data.pkl", prefix);
    if (!(*pkl = tz_zip_find(a, name)))
        return tz_fail(err, errlen, "not a torch.save archive: no %s", name);
    snprintf(name, sizeof name, "%s/version", prefix);
    if (!tz_zip_find(a, name))
        return tz_fail(err, errlen, "not a torch.save archive: no %s record", name);
    snprintf(name, sizeof name, "%s/byteorder", prefix);
    const tz_entry *bo = tz_zip_find(a, name);
    if (bo && !(bo->size == 6 && !memcmp(bo->data, "little", 6)))
        return tz_fail(err, errlen, "tensor was saved big-endian (byteorder record); only little-endian is read");
    return 0;
}

/* Shape [rows, cols] (or [1, rows, cols]), contiguous, inside its storage. */
static int check_shape(const tz_pickled *p, int *rows, int *cols, char *err, size_t errlen)
{
    int d = p->ndim;
    if (d == 3 && p->size[0] != 1)
        return tz_fail(err, errlen, "tensor has shape [%lld, %lld, %lld]: a 3-D tensor must have size 1 in dim 0",
                    p->size[0], p->size[1], p->size[2]);
    if (d != 2 && d != 3)
        return tz_fail(err, errlen, "tensor has %d dimensions (expected 2: [tokens, hidden])", d);
    long long r = p->size[d - 2], c = p->size[d - 1];
    if (r < 1 || c < 1 || r > (1 << 24) || c > (1 << 20) || r * c > (1LL << 28))
        return tz_fail(err, errlen, "tensor shape [%lld, %lld] is empty or too large", r, c);
    if (p->stride[d - 1] != 1 || (r > 1 && p->stride[d - 2] != c))
        return tz_fail(err, errlen, "tensor is not contiguous (strides %lld, %lld for shape [%lld, %lld])",
                    p->stride[d - 2], p->stride[d - 1], r, c);
    if (p->offset < 0 || p->storage_numel < 0 || p->offset > p->storage_numel || p->storage_numel - p->offset < r * c)
        return tz_fail(err, errlen, "tensor [%lld, %lld] at offset %lld does not fit its storage of %lld elements", r, c,
                    p->offset, p->storage_numel);
    *rows = (int)r;
    *cols = (int)c;
    return 0;
}

static int convert(const unsigned char *src, tz_tensor *out, char *err, size_t errlen)
{
    size_t n = (size_t)out->rows * (size_t)out->cols;
    out->data = malloc(n * sizeof *out->data);
    if (!out->data)
        return tz_fail(err, errlen, "out of memory for a [%d, %d] tensor", out->rows, out->cols);
    for (size_t i = 0; i < n; i++) {
        if (out->dtype == TZ_F32) {
            uint32_t u = (uint32_t)common_get_le(src + 4 * i, 4);
            memcpy(&out->data[i], &u, 4);
        } else {
            unsigned short h = (unsigned short)common_get_le(src + 2 * i, 2);
            out->data[i] = out->dtype == TZ_BF16 ? tz_bf16_to_float(h) : tz_f16_to_float(h);
        }
    }
    return 0;
}

int tz_read(const unsigned char *buf, size_t len, tz_tensor *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    tz_archive *a = malloc(sizeof *a);
    if (!a)
        return tz_fail(err, errlen, "out of memory");
    const tz_entry *pkl = NULL;
    char prefix[256], name[400];
    tz_pickled p;
    int elsize = 0, rc = -1;
    if (tz_zip_open(buf, len, a, err, errlen) || find_records(a, &pkl, prefix, sizeof prefix, err, errlen) ||
        tz_unpickle(pkl->data, pkl->size, &p, err, errlen) || check_shape(&p, &out->rows, &out->cols, err, errlen))
        goto done;
    if (dtype_of(p.storage_type, &out->dtype, &elsize)) {
        tz_fail(err, errlen, "tensor dtype is %s (float32, bfloat16 or float16 expected)", p.storage_type);
        goto done;
    }
    snprintf(name, sizeof name, "%s/data/%s", prefix, p.key);
    const tz_entry *data = tz_zip_find(a, name);
    if (!data) {
        tz_fail(err, errlen, "not a torch.save archive: no %s record for the tensor's storage", name);
        goto done;
    }
    if ((unsigned long long)data->size != (unsigned long long)p.storage_numel * (unsigned)elsize) {
        tz_fail(err, errlen, "%s has %zu bytes but its storage of %lld %s elements needs %lld", name, data->size,
             p.storage_numel, p.storage_type, p.storage_numel * elsize);
        goto done;
    }
    rc = convert(data->data + p.offset * elsize, out, err, errlen);
done:
    free(a);
    if (rc)
        tz_tensor_free(out);
    return rc;
}

void tz_tensor_free(tz_tensor *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* ---- writing ---- */

typedef struct bytebuf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} bytebuf;

static void put(bytebuf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_le(bytebuf *b, uint64_t v, int n)
{
    unsigned char t[8];
    common_put_le(t, v, n);
    put(b, t, (size_t)n);
}

static void put_str(bytebuf *b, const char *s) { put(b, s, strlen(s)); }

static void pickle_int(bytebuf *b, long long v)
{
    if (v >= 0 && v < 256) {
        put_str(b, "K");
        put_le(b, (uint64_t)v, 1);
    } else if (v >= 0 && v < 65536) {
        put_str(b, "M");
        put_le(b, (uint64_t)v, 2);
    } else {
        put_str(b, "J");
        put_le(b, (uint64_t)v, 4);
    }
}

static void pickle_unicode(bytebuf *b, const char *s)
{
    put_str(b, "X");
    put_le(b, strlen(s), 4);
    put_str(b, s);
}

static void write_pickle(bytebuf *b, int rows, int cols, tz_dtype dtype)
{
    static const char *const storages[] = {"FloatStorage", "BFloat16Storage", "HalfStorage"};
    put(b, "\x80\x02", 2);
    put_str(b, "ctorch._utils\n_rebuild_tensor_v2\n(");
    put_str(b, "(");
    pickle_unicode(b, "storage");
    put_str(b, "ctorch\n");
    put_str(b, storages[dtype]);
    put_str(b, "\n");
    pickle_unicode(b, "0");
    pickle_unicode(b, "cpu");
    pickle_int(b, (long long)rows * cols);
    put_str(b, "tQ");
    pickle_int(b, 0);
    pickle_int(b, rows);
    pickle_int(b, cols);
    put(b, "\x86", 1);
    pickle_int(b, cols);
    pickle_int(b, 1);
    put(b, "\x86\x89", 2);
    put_str(b, "ccollections\nOrderedDict\n)RtR.");
}

typedef struct zip_rec {
    const char *name;
    size_t off, size;
    uint32_t crc;
} zip_rec;

/* A stored entry whose data starts at a multiple of 64 (PyTorch's 'FB' padding extra field). */
static void zip_entry(bytebuf *z, zip_rec *r, const void *data, size_t n)
{
    r->off = z->n;
    r->size = n;
    r->crc = common_crc32(data, n);
    size_t name_len = strlen(r->name), head = z->n + 30 + name_len + 4;
    size_t pad = (64 - head % 64) % 64;
    put_le(z, 0x04034b50u, 4);
    put_le(z, 0, 2); /* version needed */
    put_le(z, 0, 2); /* flags */
    put_le(z, 0, 2); /* stored */
    put_le(z, 0, 4); /* time, date */
    put_le(z, r->crc, 4);
    put_le(z, n, 4);
    put_le(z, n, 4);
    put_le(z, name_len, 2);
    put_le(z, 4 + pad, 2);
    put_str(z, r->name);
    put_le(z, 0x4246, 2); /* "FB" */
    put_le(z, pad, 2);
    for (size_t i = 0; i < pad; i++)
        put(z, "Z", 1);
    put(z, data, n);
}

static void zip_directory(bytebuf *z, const zip_rec *r, int n)
{
    size_t start = z->n;
    for (int i = 0; i < n; i++) {
        put_le(z, 0x02014b50u, 4);
        put_le(z, 0, 2); put_le(z, 0, 2); put_le(z, 0, 2); put_le(z, 0, 2); put_le(z, 0, 4);
        put_le(z, r[i].crc, 4);
        put_le(z, r[i].size, 4);
        put_le(z, r[i].size, 4);
        put_le(z, strlen(r[i].name), 2);
        put_le(z, 0, 2); put_le(z, 0, 2); put_le(z, 0, 2); put_le(z, 0, 2); put_le(z, 0, 4);
        put_le(z, r[i].off, 4);
        put_str(z, r[i].name);
    }
    size_t size = z->n - start;
    put_le(z, 0x06054b50u, 4);
    put_le(z, 0, 2); put_le(z, 0, 2);
    put_le(z, (uint64_t)n, 2); put_le(z, (uint64_t)n, 2);
    put_le(z, size, 4);
    put_le(z, start, 4);
    put_le(z, 0, 2);
}

int tz_write(const float *data, int rows, int cols, tz_dtype dtype, unsigned char **out, size_t *len)
{
    bytebuf pkl = {0}, raw = {0}, z = {0};
    write_pickle(&pkl, rows, cols, dtype);
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) {
        if (dtype == TZ_F32) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            put_le(&raw, u, 4);
        } else {
            put_le(&raw, dtype == TZ_BF16 ? tz_float_to_bf16(data[i]) : tz_float_to_f16(data[i]), 2);
        }
    }
    zip_rec r[4] = {{"archive/data.pkl", 0, 0, 0}, {"archive/byteorder", 0, 0, 0}, {"archive/data/0", 0, 0, 0},
                    {"archive/version", 0, 0, 0}};
    zip_entry(&z, &r[0], pkl.p, pkl.n);
    zip_entry(&z, &r[1], "little", 6);
    zip_entry(&z, &r[2], raw.p, raw.n);
    zip_entry(&z, &r[3], "3\n", 2);
    zip_directory(&z, r, 4);
    int oom = pkl.oom || raw.oom || z.oom;
    free(pkl.p);
    free(raw.p);
    if (oom) {
        free(z.p);
        return -1;
    }
    *out = z.p;
    *len = z.n;
    return 0;
}
