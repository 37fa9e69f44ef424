/* fuzz_prompt_file.c — libFuzzer target for prompt_file_read, the reader of prompt.safetensors (--init-prompt): the
 * safetensors header as this reader sees it, the "prompt" tensor's shape and dtype against the run's [L, H], and the
 * conversion of its data to F32. The first two input bytes give the shape the run expects, [1 + b0 % 64, 1 + b1] (so
 * that both matching and mismatching files are seen); the rest is the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bbt/prompt_file.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int len = 1 + data[0] % 64, hidden = 1 + data[1];
    const char *path = fuzz_write("prompt.safetensors", data + 2, size - 2);
    float *p = NULL;
    bbt_error err;
    int rc = prompt_file_read(path, len, hidden, &p, &err);
    fuzz_note("prompt", rc, err.msg);
    if (rc == 0) {
        double sum = 0;
        for (int i = 0; i < len * hidden; i++) /* every element must be readable (ASan checks) */
            sum += p[i];
        fuzz_note("prompt data", sum != sum, "holds NaN or infinities of both signs");
        free(p);
    }
    return 0;
}
