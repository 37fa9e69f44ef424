/* safetensors.c — the safetensors reader and writer (see safetensors.h). */
#define _DEFAULT_SOURCE /* madvise */
#include "models/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/files.h"
#include "models/kernels.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_N_DTYPES] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},     [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2},   [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4},
    [ST_U32] = {"U32", 4},   [ST_F32] = {"F32", 4},   [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *st_dtype_name(st_dtype t) { return (unsigned)t < ST_N_DTYPES ? dtypes[t].name : "?"; }
size_t st_dtype_size(st_dtype t) { return (unsigned)t < ST_N_DTYPES ? dtypes[t].size : 0; }

int64_t st_numel(const st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

void st_header_free(st_header *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->tensors[i].name);
    free(h->tensors);
    h->tensors = NULL;
    h->n = 0;
}

/* A JSON number that is a non-negative integer below 2^53 (exactly representable). */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_entry(st_tensor *t, const cJSON *e, const char *file, char *err, size_t errlen)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e)) {
        snprintf(err, errlen, "%s: safetensors entry '%s' is not an object", file, name);
        return -1;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
        snprintf(err, errlen, "%s: safetensors entry '%s' lacks a string 'dtype', an array 'shape' or an array "
                 "'data_offsets'", file, name);
        return -1;
    }
    t->dtype = ST_N_DTYPES;
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (!strcmp(dt->valuestring, dtypes[i].name))
            t->dtype = (st_dtype)i;
    if (t->dtype == ST_N_DTYPES) {
        snprintf(err, errlen, "%s: tensor '%s' has unknown dtype '%.40s'", file, name, dt->valuestring);
        return -1;
    }
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS) {
        snprintf(err, errlen, "%s: tensor '%s' has %d dimensions (at most %d supported)", file, name, nd, ST_MAX_DIMS);
        return -1;
    }
    t->ndim = nd;
    uint64_t bytes = st_dtype_size(t->dtype);
    const cJSON *d;
    int i = 0;
    cJSON_ArrayForEach(d, shape)
    {
        uint64_t v;
        if (json_uint(d, &v) || v > INT64_MAX) {
            snprintf(err, errlen, "%s: tensor '%s': shape entry %d is not a non-negative integer", file, name, i);
            return -1;
        }
        t->shape[i++] = (int64_t)v;
        if (__builtin_mul_overflow(bytes, v, &bytes)) {
            snprintf(err, errlen, "%s: tensor '%s': shape overflows", file, name);
            return -1;
        }
    }
    uint64_t b, en;
    if (cJSON_GetArraySize(offs) != 2 || json_uint(cJSON_GetArrayItem(offs, 0), &b) ||
        json_uint(cJSON_GetArrayItem(offs, 1), &en) || en < b) {
        snprintf(err, errlen, "%s: tensor '%s': data_offsets must be two integers begin <= end", file, name);
        return -1;
    }
    t->begin = b;
    t->end = en;
    if (en - b != bytes) {
        snprintf(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] span %llu bytes but dtype %s and its shape "
                 "need %llu", file, name, (unsigned long long)b, (unsigned long long)en,
                 (unsigned long long)(en - b), dtypes[t->dtype].name, (unsigned long long)bytes);
        return -1;
    }
    return 0;
}

static int by_begin(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : (x->end > y->end);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The entries must tile [0, data_size) exactly, and names must be unique. */
static int check_layout(st_header *h, uint64_t data_size, const char *file, char *err, size_t errlen)
{
    qsort(h->tensors, (size_t)h->n, sizeof *h->tensors, by_begin);
    uint64_t at = 0;
    for (int i = 0; i < h->n; i++) {
        const st_tensor *t = &h->tensors[i];
        if (t->begin != at) {
            snprintf(err, errlen, "%s: tensor '%s' starts at byte %llu of the data but the previous tensor ends at %llu "
                     "(%s)", file, t->name, (unsigned long long)t->begin, (unsigned long long)at,
                     t->begin < at ? "overlapping offsets" : "a hole in the data");
            return -1;
        }
        at = t->end;
    }
    if (at != data_size) {
        snprintf(err, errlen, "%s: the tensors cover %llu bytes but the file holds %llu bytes of data%s", file,
                 (unsigned long long)at, (unsigned long long)data_size,
                 at > data_size ? " (offsets past the end of the file: truncated?)" : "");
        return -1;
    }
    /* unique names: sort pointers to them and compare neighbours */
    const char **names = malloc((size_t)(h->n + 1) * sizeof *names);
    if (!names) {
        snprintf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    for (int i = 0; i < h->n; i++)
        names[i] = h->tensors[i].name;
    qsort(names, (size_t)h->n, sizeof *names, by_name);
    for (int i = 1; i < h->n; i++)
        if (!strcmp(names[i - 1], names[i])) {
            snprintf(err, errlen, "%s: tensor '%s' appears twice", file, names[i]);
            free(names);
            return -1;
        }
    free(names);
    return 0;
}

int st_parse(st_header *h, const unsigned char *buf, size_t size, const char *file, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (size < 8) {
        snprintf(err, errlen, "%s: too short for a safetensors file (%zu bytes)", file, size);
        return -1;
    }
    uint64_t n = common_get_le(buf, 8);
    if (n > ST_MAX_HEADER || n > size - 8) {
        snprintf(err, errlen, "%s: safetensors header length %llu %s", file, (unsigned long long)n,
                 n > size - 8 ? "runs past the end of the file" : "exceeds the 100 MB limit");
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)n);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: the safetensors header is not a JSON object", file);
        cJSON_Delete(root);
        return -1;
    }
    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) count++;
    h->tensors = calloc((size_t)count + 1, sizeof *h->tensors);
    if (!h->tensors) {
        snprintf(err, errlen, "%s: out of memory", file);
        cJSON_Delete(root);
        return -1;
    }
    int rc = 0;
    cJSON_ArrayForEach(e, root)
    {
        if (!e->string) {
            rc = -1;
            snprintf(err, errlen, "%s: the safetensors header has an unnamed entry", file);
            break;
        }
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                rc = -1;
                snprintf(err, errlen, "%s: __metadata__ is not an object", file);
                break;
            }
            continue;
        }
        st_tensor *t = &h->tensors[h->n];
        if (!(t->name = strdup(e->string))) {
            rc = -1;
            snprintf(err, errlen, "%s: out of memory", file);
            break;
        }
        h->n++;
        if ((rc = parse_entry(t, e, file, err, errlen)))
            break;
    }
    cJSON_Delete(root);
    h->data_start = 8 + n;
    if (!rc)
        rc = check_layout(h, size - 8 - n, file, err, errlen);
    if (rc)
        st_header_free(h);
    return rc;
}

const st_tensor *st_find(const st_header *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->tensors[i].name, name))
            return &h->tensors[i];
    return NULL;
}

int st_open(st_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    f->size = (size_t)sb.st_size;
    if (f->size > 0) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        f->map = m;
    }
    close(fd);
    f->path = strdup(path);
    if (!f->path || st_parse(&f->h, f->map, f->size, path, err, errlen)) {
        if (!f->path)
            snprintf(err, errlen, "out of memory");
        st_close(f);
        return -1;
    }
    return 0;
}

void st_close(st_file *f)
{
    if (f->map)
        munmap((void *)f->map, f->size);
    st_header_free(&f->h);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Give back the memory of the whole pages inside a tensor's bytes: the loaders convert each tensor once, so loading
 * never holds the mapped file and the converted weights at once (a page read again comes back from the file). */
static void drop_pages(const st_file *f, const st_tensor *t)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t lo = (uintptr_t)(f->map + f->h.data_start + t->begin), hi = (uintptr_t)(f->map + f->h.data_start + t->end);
    lo = (lo + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    hi = hi / (uintptr_t)page * (uintptr_t)page;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, char *err, size_t errlen)
{
    const unsigned char *src = f->map + f->h.data_start + t->begin;
    int64_t n = st_numel(t);
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, src, (size_t)n * 4);
        drop_pages(f, t);
        return 0;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        drop_pages(f, t);
        return 0;
    case ST_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        drop_pages(f, t);
        return 0;
    default:
        snprintf(err, errlen, "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16", f->path, t->name,
                 st_dtype_name(t->dtype));
        return -1;
    }
}

/* ---- writing ---- */

/* fp32 → IEEE half, round to nearest even, with subnormals, overflow to infinity and NaN. */
static uint16_t f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) /* rounds to 65536 or more */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below the smallest normal half: a subnormal (or zero) */
        if (a < 0x33000000u)
            return (uint16_t)sign;
        uint32_t e = a >> 23, man = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)e; /* 14 .. 24: the mantissa bits that fall off */
        uint32_t keep = man >> shift, rest = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (keep & 1u)))
            keep++;
        return (uint16_t)(sign | keep);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round the 13 dropped bits to nearest even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static int write_all(FILE *fp, const void *p, size_t n) { return fwrite(p, 1, n, fp) == n ? 0 : -1; }

static int write_data(FILE *fp, const st_out *t, int64_t n)
{
    unsigned char buf[4096];
    size_t es = st_dtype_size(t->dtype), per = sizeof buf / es;
    for (int64_t i = 0; i < n; i += (int64_t)per) {
        size_t k = (size_t)(n - i) < per ? (size_t)(n - i) : per;
        for (size_t j = 0; j < k; j++) {
            float v = t->data[i + (int64_t)j];
            if (t->dtype == ST_F32) {
                memcpy(buf + 4 * j, &v, 4);
            } else {
                uint16_t h = t->dtype == ST_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
                buf[2 * j] = (unsigned char)h;
                buf[2 * j + 1] = (unsigned char)(h >> 8);
            }
        }
        if (write_all(fp, buf, k * es))
            return -1;
    }
    return 0;
}

static char *header_json(const st_out *t, int n, uint64_t *total)
{
    cJSON *root = cJSON_CreateObject();
    uint64_t at = 0;
    for (int i = 0; root && i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape"), *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddStringToObject(e, "dtype", st_dtype_name(t[i].dtype));
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
            numel *= t[i].shape[d];
        }
        uint64_t bytes = (uint64_t)numel * st_dtype_size(t[i].dtype);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)at));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(at + bytes)));
        at += bytes;
    }
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    *total = at;
    return s;
}

int st_write(const char *path, const st_out *t, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (t[i].dtype != ST_F32 && t[i].dtype != ST_F16 && t[i].dtype != ST_BF16) {
            snprintf(err, errlen, "%s: tensor '%s': only F32, F16 and BF16 can be written", path, t[i].name);
            return -1;
        }
    uint64_t total;
    char *json = header_json(t, n, &total);
    size_t tmplen = strlen(path) + 16;
    char *tmp = malloc(tmplen);
    if (!json || !tmp) {
        free(json);
        free(tmp);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, tmplen, "%s.tmp%ld", path, (long)getpid());
    /* pad the header with spaces so the data starts 8-byte aligned, as the reference writer does */
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    FILE *fp = fopen(tmp, "wb");
    int rc = fp ? 0 : -1;
    unsigned char n8[8];
    common_put_le(n8, padded, 8);
    if (!rc)
        rc = write_all(fp, n8, 8) || write_all(fp, json, len) || write_all(fp, "        ", padded - len);
    for (int i = 0; !rc && i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= t[i].shape[d];
        rc = write_data(fp, &t[i], numel);
    }
    if (fp) {
        rc |= fflush(fp) || fsync(fileno(fp));
        rc |= fclose(fp);
    }
    if (!rc && rename(tmp, path))
        rc = -1;
    if (rc) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        common_sync_dir_of(path);   /* the rename itself durable too; best effort, the data already is */
    }
    free(json);
    free(tmp);
    return rc ? -1 : 0;
}
