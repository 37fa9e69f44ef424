/* prompt_file.c — soft prompts in safetensors files, through the models/ safetensors reader and writer. */
#include <stdlib.h>

#include "bbt/prompt_file.h"
#include "bbt/util.h"
#include "models/safetensors.h"

int prompt_file_write(const char *path, const float *prompt, int len, int hidden, bbt_error *err)
{
    st_out t = {PROMPT_TENSOR, ST_F32, 2, {len, hidden}, prompt};
    char msg[512];
    if (st_write(path, &t, 1, msg, sizeof msg))
        return bbt_fail(err, "%s", msg);
    return 0;
}

int prompt_file_read(const char *path, int len, int hidden, float **out, bbt_error *err)
{
    st_file f;
    char msg[512];
    *out = NULL;
    if (st_open(&f, path, msg, sizeof msg))
        return bbt_fail(err, "%s", msg);
    const st_tensor *t = st_find(&f.h, PROMPT_TENSOR);
    int rc = 0;
    if (!t)
        rc = bbt_fail(err, "%s: no tensor named \"%s\"", path, PROMPT_TENSOR);
    else if (t->ndim != 2 || t->shape[0] != len || t->shape[1] != hidden)
        rc = bbt_fail(err, "%s: tensor \"%s\" has shape [%lld%s%lld], the run needs [%d, %d] (prompt length × hidden size)",
                      path, PROMPT_TENSOR, t->ndim > 0 ? (long long)t->shape[0] : 0LL, t->ndim > 1 ? ", " : "",
                      t->ndim > 1 ? (long long)t->shape[1] : 0LL, len, hidden);
    else {
        *out = xmalloc((size_t)len * (size_t)hidden * sizeof **out);
        if (st_read_f32(&f, t, *out, msg, sizeof msg)) {
            rc = bbt_fail(err, "%s", msg);
            free(*out);
            *out = NULL;
        }
    }
    st_close(&f);
    return rc;
}
