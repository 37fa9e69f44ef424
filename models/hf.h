/* hf.h — a model directory in the Hugging Face layout: config.json + model.safetensors, or sharded
 * model-0000x-of-0000y.safetensors listed by model.safetensors.index.json.
 *
 * Gives typed access to config keys (a missing or mistyped key is an error naming config.json and the key) and reads
 * tensors by name as fp32 with their expected shape checked (a missing tensor, a wrong shape or an unsupported dtype
 * is an error naming the file and the tensor).
 */
#ifndef BBT_MODELS_HF_H
#define BBT_MODELS_HF_H

#include <stddef.h>
#include <stdint.h>

#include "models/safetensors.h"

struct cJSON;

typedef struct hf_model {
    char *dir;
    char *config_path;
    struct cJSON *config;
    st_file *shards;
    int n_shards;
    struct cJSON *index;      /* model.safetensors.index.json, or NULL for a single file */
    char *index_path;
} hf_model;

/* Open dir/config.json and the weights beside it. Returns 0 or -1 with a message in err. */
int hf_open(hf_model *hf, const char *dir, char *err, size_t errlen);
void hf_close(hf_model *hf);

/* The model's architecture: config "architectures"[0], else "model_type"; NULL if neither is present. */
const char *hf_architecture(const hf_model *hf);

/* Config values. hf_int/hf_float: the key must be present; the _or forms use def when it is absent (or null) and
 * still fail when it has the wrong type. hf_bool_or accepts true/false. hf_string_or returns def when absent. */
int hf_int(const hf_model *hf, const char *key, int *out, char *err, size_t errlen);
int hf_int_or(const hf_model *hf, const char *key, int def, int *out, char *err, size_t errlen);
int hf_float_or(const hf_model *hf, const char *key, double def, double *out, char *err, size_t errlen);
int hf_bool_or(const hf_model *hf, const char *key, int def, int *out, char *err, size_t errlen);
const char *hf_string_or(const hf_model *hf, const char *key, const char *def);
/* A sub-object of the config (e.g. "rope_scaling"), NULL if absent or null. */
const struct cJSON *hf_object(const hf_model *hf, const char *key);

/* 1 if a tensor of that name is present. */
int hf_has(const hf_model *hf, const char *name);

/* Read the named tensor into dst as fp32; its shape must be exactly shape[0..ndim-1]. */
int hf_read(const hf_model *hf, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
            size_t errlen);

#endif
