/* fuzz_serve_torchzip.c — libFuzzer target for bbt serve's torch.save reader (ZIP directory, pickle machine, shape
 * checks): any byte string is either read as a [rows, cols] tensor whose every element was inside the input, or
 * refused with a message — never a crash, a leak or undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/serve/torchzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tz_tensor t;
    char err[400];
    err[0] = '\0';
    if (tz_read(data, size, &t, err, sizeof err)) {
        if (!err[0])
            abort(); /* a refusal must say why */
        return 0;
    }
    size_t elsize = t.dtype == TZ_F32 ? 4 : 2;
    if (t.rows < 1 || t.cols < 1 || (size_t)t.rows * (size_t)t.cols * elsize > size)
        abort();
    float sum = 0;
    for (size_t i = 0; i < (size_t)t.rows * (size_t)t.cols; i++)
        sum += t.data[i]; /* every element readable */
    (void)sum;
    tz_tensor_free(&t);
    return 0;
}
