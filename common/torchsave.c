/* torchsave.c — a 2-D float tensor written as PyTorch 1.13's torch.save writes it (see torchsave.h). */
#include "common/torchsave.h"

#include <math.h> /* isnan: a macro */
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crc32.h"

/* ---- element conversions ---- */

float common_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t common_float_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (isnan(f))
        return 0xffff; /* the NaN PyTorch's CPU conversion writes */
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float float_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* (bit manipulation only: the library needs no libm) */
float common_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 1023;
    if (exp == 31)
        return float_of_bits(sign | 0x7f800000u | (man << 13)); /* infinity, or NaN with the payload */
    if (exp == 0) {
        float v = (float)man * 5.9604644775390625e-8f; /* man · 2^-24, exact */
        return sign ? -v : v;
    }
    return float_of_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t common_float_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return sign | 0x7e00; /* NaN */
    if (ax >= 0x477ff000u)    /* 65520 and above round past the largest half (65504) */
        return sign | 0x7c00;
    if (ax < 0x38800000u) {   /* below 2^-14: a subnormal half, in units of 2^-24, rounded to nearest even */
        float t = float_of_bits(ax) * 16777216.0f;
        return sign | (uint16_t)((t + 8388608.0f) - 8388608.0f);
    }
    uint32_t h = ((((ax >> 23) - 112) << 10) | ((ax & 0x7fffffu) >> 13)), rest = ax & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) /* nearest even; a carry moves into the exponent */
        h++;
    return sign | (uint16_t)h;
}

/* ---- a growing byte buffer ---- */

typedef struct bytebuf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} bytebuf;

static void put(bytebuf *b, const void *data, size_t n)
{
    if (b->oom || !n)
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

/* ---- the pickle: what Python's pickler writes for the tensor, memo entries (BINPUT) included ---- */

static void pickle_int(bytebuf *b, long long v)
{
    if (v < 256) {
        put_str(b, "K");
        put_le(b, (uint64_t)v, 1);
    } else if (v < 65536) {
        put_str(b, "M");
        put_le(b, (uint64_t)v, 2);
    } else {
        put_str(b, "J");
        put_le(b, (uint64_t)v, 4);
    }
}

static void pickle_put(bytebuf *b, int *memo) /* BINPUT: Python memoizes every global, string and tuple */
{
    put_str(b, "q");
    put_le(b, (uint64_t)(*memo)++, 1);
}

static void pickle_string(bytebuf *b, const char *s, int *memo)
{
    put_str(b, "X");
    put_le(b, strlen(s), 4);
    put_str(b, s);
    pickle_put(b, memo);
}

static void pickle_global(bytebuf *b, const char *module, const char *name, int *memo)
{
    put_str(b, "c");
    put_str(b, module);
    put_str(b, "\n");
    put_str(b, name);
    put_str(b, "\n");
    pickle_put(b, memo);
}

static void pickle_pair(bytebuf *b, long long x, long long y, int *memo)
{
    pickle_int(b, x);
    pickle_int(b, y);
    put(b, "\x86", 1); /* TUPLE2 */
    pickle_put(b, memo);
}

/* _rebuild_tensor_v2((storage persistent id), offset 0, (rows, cols), (cols, 1), False, OrderedDict()) */
static void write_pickle(bytebuf *b, int rows, int cols, common_tensor_dtype dtype)
{
    static const char *const storages[] = {"FloatStorage", "BFloat16Storage", "HalfStorage"};
    int memo = 0;
    put(b, "\x80\x02", 2); /* PROTO 2 */
    pickle_global(b, "torch._utils", "_rebuild_tensor_v2", &memo);
    put_str(b, "((");      /* MARK for the arguments, MARK for the persistent id */
    pickle_string(b, "storage", &memo);
    pickle_global(b, "torch", storages[dtype], &memo);
    pickle_string(b, "0", &memo);
    pickle_string(b, "cpu", &memo);
    pickle_int(b, (long long)rows * cols);
    put_str(b, "t"); /* TUPLE */
    pickle_put(b, &memo);
    put_str(b, "Q"); /* BINPERSID */
    pickle_int(b, 0);
    pickle_pair(b, rows, cols, &memo);
    pickle_pair(b, cols, 1, &memo);
    put(b, "\x89", 1); /* NEWFALSE: requires_grad */
    pickle_global(b, "collections", "OrderedDict", &memo);
    put_str(b, ")R"); /* EMPTY_TUPLE, REDUCE */
    pickle_put(b, &memo);
    put_str(b, "t");
    pickle_put(b, &memo);
    put_str(b, "R");
    pickle_put(b, &memo);
    put_str(b, ".");
}

/* ---- the ZIP archive, as PyTorch's writer (miniz) lays it out ---- */

typedef struct zip_rec {
    const char *name;
    size_t off, size;
    uint32_t crc;
} zip_rec;

/* A stored entry: local header without sizes, an 'FB' extra field padding its data to a multiple of 64, the data,
 * and a data descriptor with the CRC and sizes. */
static void zip_entry(bytebuf *z, zip_rec *r, const void *data, size_t n)
{
    r->off = z->n;
    r->size = n;
    r->crc = common_crc32(data, n);
    size_t name_len = strlen(r->name), start = z->n + 30 + name_len + 4;
    size_t pad = (64 - start % 64) % 64;
    put_le(z, 0x04034b50u, 4);
    put_le(z, 0, 2);      /* version needed */
    put_le(z, 0x0808, 2); /* flags: sizes in a data descriptor, UTF-8 names */
    put_le(z, 0, 2);      /* stored */
    put_le(z, 0, 4);      /* time, date */
    put_le(z, 0, 4);      /* CRC, sizes: in the descriptor */
    put_le(z, 0, 4);
    put_le(z, 0, 4);
    put_le(z, name_len, 2);
    put_le(z, 4 + pad, 2);
    put_str(z, r->name);
    put_le(z, 0x4246, 2); /* "FB" */
    put_le(z, pad, 2);
    for (size_t i = 0; i < pad; i++)
        put(z, "Z", 1);
    put(z, data, n);
    put_le(z, 0x08074b50u, 4);
    put_le(z, r->crc, 4);
    put_le(z, n, 4);
    put_le(z, n, 4);
}

static void zip_directory(bytebuf *z, const zip_rec *r, int n)
{
    size_t start = z->n;
    for (int i = 0; i < n; i++) {
        put_le(z, 0x02014b50u, 4);
        put_le(z, 0, 2);      /* made by */
        put_le(z, 0, 2);      /* version needed */
        put_le(z, 0x0808, 2); /* flags */
        put_le(z, 0, 2);      /* stored */
        put_le(z, 0, 4);      /* time, date */
        put_le(z, r[i].crc, 4);
        put_le(z, r[i].size, 4);
        put_le(z, r[i].size, 4);
        put_le(z, strlen(r[i].name), 2);
        put_le(z, 0, 2); /* extra */
        put_le(z, 0, 2); /* comment */
        put_le(z, 0, 2); /* disk */
        put_le(z, 0, 2); /* internal attributes */
        put_le(z, 0, 4); /* external attributes */
        put_le(z, r[i].off, 4);
        put_str(z, r[i].name);
    }
    size_t size = z->n - start, zip64_at = z->n;
    put_le(z, 0x06064b50u, 4); /* zip64 end of central directory record */
    put_le(z, 44, 8);
    put_le(z, 0x031e, 2);
    put_le(z, 0x002d, 2);
    put_le(z, 0, 4);
    put_le(z, 0, 4);
    put_le(z, (uint64_t)n, 8);
    put_le(z, (uint64_t)n, 8);
    put_le(z, size, 8);
    put_le(z, start, 8);
    put_le(z, 0x07064b50u, 4); /* its locator */
    put_le(z, 0, 4);
    put_le(z, zip64_at, 8);
    put_le(z, 1, 4);
    put_le(z, 0x06054b50u, 4); /* end of central directory */
    put_le(z, 0, 2);
    put_le(z, 0, 2);
    put_le(z, (uint64_t)n, 2);
    put_le(z, (uint64_t)n, 2);
    put_le(z, size, 4);
    put_le(z, start, 4);
    put_le(z, 0, 2);
}

int common_torchsave(const float *data, int rows, int cols, common_tensor_dtype dtype, unsigned char **out,
                     size_t *len)
{
    if (rows < 1 || cols < 1 || (long long)rows * cols >= (1LL << 31) / 4 || dtype < COMMON_T_F32 ||
        dtype > COMMON_T_F16)
        return -1;
    bytebuf pkl = {0}, raw = {0}, z = {0};
    write_pickle(&pkl, rows, cols, dtype);
    size_t n = (size_t)rows * (size_t)cols, el = dtype == COMMON_T_F32 ? 4 : 2;
    raw.p = malloc(n * el);
    raw.oom = !raw.p;
    for (size_t i = 0; i < n && raw.p; i++) {
        uint32_t u;
        if (dtype == COMMON_T_F32)
            memcpy(&u, &data[i], 4);
        else
            u = dtype == COMMON_T_BF16 ? common_float_to_bf16(data[i]) : common_float_to_f16(data[i]);
        common_put_le(raw.p + i * el, u, (int)el);
    }
    raw.n = n * el;
    zip_rec r[3] = {{"archive/data.pkl", 0, 0, 0}, {"archive/data/0", 0, 0, 0}, {"archive/version", 0, 0, 0}};
    zip_entry(&z, &r[0], pkl.p, pkl.n);
    if (!raw.oom)
        zip_entry(&z, &r[1], raw.p, raw.n);
    zip_entry(&z, &r[2], "3\n", 2);
    zip_directory(&z, r, 3);
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
