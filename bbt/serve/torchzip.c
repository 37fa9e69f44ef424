/* torchzip.c — torch.save'd 2-D tensors: reading what PyTorch writes (see torchzip.h; the writer is common/torchsave.c). */
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
