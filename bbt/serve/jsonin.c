/* jsonin.c — typed request fields with messages that name them (see jsonin.h). */
#include "bbt/serve/jsonin.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "bbt/serve/torchzip.h"
#include "common/bytes.h"

static int fail(char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, JSONIN_MSG, fmt, ap);
    va_end(ap);
    return -1;
}

static const cJSON *field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int json_get_int(const cJSON *obj, const char *key, long lo, long hi, int *out, char *msg)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return fail(msg, "field \"%s\" must be an integer", key);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return fail(msg, "field \"%s\" is %.17g (allowed: %ld..%ld)", key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

int json_get_double(const cJSON *obj, const char *key, double lo, double hi, double *out, char *msg)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return 1;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return fail(msg, "field \"%s\" must be a finite number", key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return fail(msg, "field \"%s\" is %.17g (allowed: %g..%g)", key, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return 0;
}

int json_get_bool(const cJSON *obj, const char *key, int *out, char *msg)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return 1;
    if (!cJSON_IsBool(v))
        return fail(msg, "field \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int json_get_string(const cJSON *obj, const char *key, const char **out, char *msg)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return 1;
    if (!cJSON_IsString(v))
        return fail(msg, "field \"%s\" must be a string", key);
    *out = v->valuestring;
    return 0;
}

int json_int_array(const cJSON *arr, const char *what, long lo, long hi, int max, int **ids, int *n, char *msg)
{
    *ids = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return fail(msg, "%s must be an array of integers", what);
    int count = cJSON_GetArraySize(arr);
    if (count > max)
        return fail(msg, "%s has %d entries (the limit is %d)", what, count, max);
    int *v = malloc((size_t)(count ? count : 1) * sizeof *v);
    if (!v)
        return fail(msg, "out of memory");
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < (double)lo ||
            e->valuedouble > (double)hi) {
            free(v);
            if (cJSON_IsNumber(e))
                return fail(msg, "%s[%d] is %.17g (expected an integer in %ld..%ld)", what, i, e->valuedouble, lo, hi);
            return fail(msg, "%s[%d] is not an integer", what, i);
        }
        v[i] = (int)e->valuedouble;
    }
    *ids = v;
    *n = count;
    return 0;
}

int json_float_array(const cJSON *arr, const char *what, size_t n, float *out, char *msg)
{
    if (!cJSON_IsArray(arr))
        return fail(msg, "%s must be an array of numbers", what);
    size_t count = (size_t)cJSON_GetArraySize(arr);
    if (count != n)
        return fail(msg, "%s has %zu numbers (expected %zu)", what, count, n);
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || fabs(e->valuedouble) > 3.4e38)
            return fail(msg, "%s[%zu] is not a finite number", what, i);
        out[i] = (float)e->valuedouble;
    }
    return 0;
}

int b64_floats(const char *text, const char *dtype, const char *what, size_t n, float *out, char *msg)
{
    int size = !strcmp(dtype, "f32") ? 4 : (!strcmp(dtype, "bf16") || !strcmp(dtype, "f16")) ? 2 : 0;
    if (!size)
        return fail(msg, "dtype \"%s\" for %s (expected \"f32\", \"bf16\" or \"f16\")", dtype, what);
    size_t len = strlen(text);
    unsigned char *raw = malloc(common_b64_decoded_max(len));
    if (!raw)
        return fail(msg, "out of memory");
    size_t bad;
    long got = common_b64_decode(text, len, raw, &bad);
    int rc = 0;
    if (got < 0)
        rc = fail(msg, "%s is not valid base64 (at character %zu)", what, bad);
    else if ((size_t)got != n * (size_t)size)
        rc = fail(msg, "%s holds %ld bytes; %zu %s values need %zu", what, got, n, dtype, n * (size_t)size);
    for (size_t i = 0; !rc && i < n; i++) {
        if (size == 4) {
            uint32_t u = (uint32_t)common_get_le(raw + 4 * i, 4);
            memcpy(&out[i], &u, 4);
        } else {
            unsigned short h = (unsigned short)common_get_le(raw + 2 * i, 2);
            out[i] = dtype[0] == 'b' ? tz_bf16_to_float(h) : tz_f16_to_float(h);
        }
        if (!isfinite(out[i]))
            rc = fail(msg, "%s[%zu] is not finite", what, i);
    }
    free(raw);
    return rc;
}
