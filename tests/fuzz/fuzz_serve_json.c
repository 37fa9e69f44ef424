/* fuzz_serve_json.c — libFuzzer target for bbt serve's request-body layer: the body parsed as the routes parse it
 * (cJSON, an object required), then every typed field reader the routes use, on the fields they read: integers with
 * ranges, booleans, strings, id arrays, float arrays and base64 float payloads. Each either yields a value in range or
 * a message — never a crash, a leak or undefined behaviour. (The routes themselves need a model; they are exercised
 * by test_serve's refusal and load tests.) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bbt/serve/jsonin.h"

static void check_ints(const cJSON *root, const char *key)
{
    char msg[JSONIN_MSG] = "";
    int *ids = NULL, n = 0;
    if (json_int_array(cJSON_GetObjectItemCaseSensitive(root, key), key, 0, 511, 2048, &ids, &n, msg)) {
        if (!msg[0] || ids)
            abort();
        return;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] > 511)
            abort();
    free(ids);
}

static void check_floats(const cJSON *root)
{
    char msg[JSONIN_MSG] = "";
    float v[64];
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(root, "z");
    if (cJSON_IsArray(z) && z->child && !json_float_array(z->child, "z[0]", 8, v, msg))
        for (int i = 0; i < 8; i++)
            if (!isfinite(v[i]))
                abort();
    const char *b64 = NULL, *dtype = "f32";
    if (json_get_string(root, "z_b64", &b64, msg) == 0 && json_get_string(root, "z_dtype", &dtype, msg) >= 0 &&
        !b64_floats(b64, dtype, "z_b64", 16, v, msg))
        for (int i = 0; i < 16; i++)
            if (!isfinite(v[i]))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, size + 1, &end, 1);
    if (root && cJSON_IsObject(root)) {
        char msg[JSONIN_MSG];
        int i, b;
        double d;
        const char *s;
        if (json_get_int(root, "max_tokens", 0, 1 << 30, &i, msg) == 0 && (i < 0 || i > (1 << 30)))
            abort();
        if (json_get_double(root, "temperature", 0, 1e6, &d, msg) == 0 && !(d >= 0 && d <= 1e6))
            abort();
        if (json_get_bool(root, "echo", &b, msg) == 0 && b != 0 && b != 1)
            abort();
        if (json_get_string(root, "handle", &s, msg) == 0 && !s)
            abort();
        check_ints(root, "prompt");
        check_ints(root, "tokens");
        check_ints(root, "logprob_token_ids");
        check_floats(root);
    }
    cJSON_Delete(root);
    free(body);
    return 0;
}
