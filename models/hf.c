/* hf.c — Hugging Face model directories (see hf.h). */
#include "models/hf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/files.h"


static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Read a whole (small) text file; NULL with err on failure. */
static char *slurp(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (!stat(path, &sb) && sb.st_size >= (64L << 20)) { /* a JSON file this size is not a config: do not read it */
        snprintf(err, errlen, "%s: cannot read (larger than 64 MB)", path);
        return NULL;
    }
    char *buf;
    size_t n;
    return common_read_file(path, &buf, &n, err, errlen) ? NULL : buf;
}

static cJSON *read_json(const char *path, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (!text)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Shard names from the index must be plain file names in the model directory. */
static int open_shards_from_index(hf_model *hf, char *err, size_t errlen)
{
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(hf->index, "weight_map");
    if (!cJSON_IsObject(map)) {
        snprintf(err, errlen, "%s: missing object 'weight_map'", hf->index_path);
        return -1;
    }
    int n = cJSON_GetArraySize(map);
    hf->shards = calloc((size_t)n + 1, sizeof *hf->shards);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int rc = (hf->shards && names) ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, map)
    {
        if (rc)
            break;
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !strcmp(e->valuestring, "..") || !*e->valuestring) {
            snprintf(err, errlen, "%s: weight_map entry '%s' is not a file name in the model directory",
                     hf->index_path, e->string ? e->string : "?");
            rc = -1;
            break;
        }
        int seen = 0;
        for (int i = 0; i < hf->n_shards; i++)
            seen |= !strcmp(names[i], e->valuestring);
        if (seen)
            continue;
        char *p = common_path_join(hf->dir, e->valuestring);
        rc = p ? st_open(&hf->shards[hf->n_shards], p, err, errlen) : -1;
        free(p);
        if (!rc)
            names[hf->n_shards++] = e->valuestring;
    }
    free(names);
    return rc;
}

int hf_open(hf_model *hf, const char *dir, char *err, size_t errlen)
{
    memset(hf, 0, sizeof *hf);
    hf->dir = strdup(dir);
    hf->config_path = common_path_join(dir, "config.json");
    if (!hf->dir || !hf->config_path) {
        snprintf(err, errlen, "out of memory");
        hf_close(hf);
        return -1;
    }
    if (!(hf->config = read_json(hf->config_path, err, errlen))) {
        hf_close(hf);
        return -1;
    }
    char *single = common_path_join(dir, "model.safetensors");
    hf->index_path = common_path_join(dir, "model.safetensors.index.json");
    int rc = -1;
    if (single && exists(single)) {
        hf->shards = calloc(1, sizeof *hf->shards);
        if (hf->shards && !(rc = st_open(&hf->shards[0], single, err, errlen)))
            hf->n_shards = 1;
    } else if (hf->index_path && exists(hf->index_path)) {
        if ((hf->index = read_json(hf->index_path, err, errlen)))
            rc = open_shards_from_index(hf, err, errlen);
    } else {
        snprintf(err, errlen, "%s: no model.safetensors or model.safetensors.index.json (only safetensors weights are "
                 "read)", dir);
    }
    free(single);
    if (rc)
        hf_close(hf);
    return rc;
}

void hf_close(hf_model *hf)
{
    for (int i = 0; i < hf->n_shards; i++)
        st_close(&hf->shards[i]);
    free(hf->shards);
    cJSON_Delete(hf->config);
    cJSON_Delete(hf->index);
    free(hf->index_path);
    free(hf->config_path);
    free(hf->dir);
    memset(hf, 0, sizeof *hf);
}

const char *hf_architecture(const hf_model *hf)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(hf->config, "architectures");
    if (cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0)))
        return cJSON_GetArrayItem(a, 0)->valuestring;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(hf->config, "model_type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static const cJSON *item(const hf_model *hf, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(hf->config, key);
    return cJSON_IsNull(v) ? NULL : v;
}

int hf_int(const hf_model *hf, const char *key, int *out, char *err, size_t errlen)
{
    const cJSON *v = item(hf, key);
    if (!v) {
        snprintf(err, errlen, "%s: missing key '%s'", hf->config_path, key);
        return -1;
    }
    return hf_int_or(hf, key, 0, out, err, errlen);
}

int hf_int_or(const hf_model *hf, const char *key, int def, int *out, char *err, size_t errlen)
{
    const cJSON *v = item(hf, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -2147483647.0 && v->valuedouble <= 2147483647.0) ||
        v->valuedouble != (double)(int)v->valuedouble) {
        snprintf(err, errlen, "%s: '%s' must be an integer (a 32-bit one)", hf->config_path, key);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

int hf_float_or(const hf_model *hf, const char *key, double def, double *out, char *err, size_t errlen)
{
    const cJSON *v = item(hf, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v)) {
        snprintf(err, errlen, "%s: '%s' must be a number", hf->config_path, key);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int hf_bool_or(const hf_model *hf, const char *key, int def, int *out, char *err, size_t errlen)
{
    const cJSON *v = item(hf, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        snprintf(err, errlen, "%s: '%s' must be true or false", hf->config_path, key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

const char *hf_string_or(const hf_model *hf, const char *key, const char *def)
{
    const cJSON *v = item(hf, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

const cJSON *hf_object(const hf_model *hf, const char *key)
{
    const cJSON *v = item(hf, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* The shard that holds a tensor, following the index when there is one. */
static const st_file *find_shard(const hf_model *hf, const char *name, const st_tensor **t, char *err, size_t errlen)
{
    if (hf->index) {
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(hf->index, "weight_map");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(map, name);
        if (!cJSON_IsString(f)) {
            snprintf(err, errlen, "%s: no tensor '%s' in weight_map", hf->index_path, name);
            return NULL;
        }
        for (int i = 0; i < hf->n_shards; i++) {
            const char *base = strrchr(hf->shards[i].path, '/');
            if (strcmp(base ? base + 1 : hf->shards[i].path, f->valuestring))
                continue;
            if ((*t = st_find(&hf->shards[i].h, name)))
                return &hf->shards[i];
            snprintf(err, errlen, "%s: the index places tensor '%s' here but the file does not contain it",
                     hf->shards[i].path, name);
            return NULL;
        }
    }
    for (int i = 0; i < hf->n_shards; i++)
        if ((*t = st_find(&hf->shards[i].h, name)))
            return &hf->shards[i];
    snprintf(err, errlen, "%s: no tensor '%s' in the model's safetensors", hf->dir, name);
    return NULL;
}

int hf_has(const hf_model *hf, const char *name)
{
    for (int i = 0; i < hf->n_shards; i++)
        if (st_find(&hf->shards[i].h, name))
            return 1;
    return 0;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
}

int hf_read(const hf_model *hf, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
            size_t errlen)
{
    const st_tensor *t = NULL;
    const st_file *f = find_shard(hf, name, &t, err, errlen);
    if (!f)
        return -1;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char have[128], want[128];
        shape_str(have, sizeof have, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        snprintf(err, errlen, "%s: tensor '%s' has shape %s but config.json implies %s", f->path, name, have, want);
        return -1;
    }
    return st_read_f32(f, t, dst, err, errlen);
}
