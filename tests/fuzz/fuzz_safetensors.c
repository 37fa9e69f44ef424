/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser: any byte string must be either accepted
 * with a self-consistent table (every tensor inside the data, sizes matching dtype × shape) or rejected with a
 * message — never a crash, a leak or undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_header h;
    char err[512];
    if (st_parse(&h, data, size, "fuzz", err, sizeof err)) {
        if (!err[0])
            abort(); /* a rejection must say why */
        return 0;
    }
    uint64_t data_size = size - h.data_start, at = 0;
    for (int i = 0; i < h.n; i++) {
        const st_tensor *t = &h.tensors[i];
        uint64_t bytes = st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++)
            bytes *= (uint64_t)t->shape[d];
        if (t->begin != at || t->end - t->begin != bytes || t->end > data_size || !st_find(&h, t->name))
            abort();
        at = t->end;
    }
    if (at != data_size)
        abort();
    st_header_free(&h);
    return 0;
}
