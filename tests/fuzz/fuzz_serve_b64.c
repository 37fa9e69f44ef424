/* fuzz_serve_b64.c — libFuzzer target for bbt serve's strict base64 decoder: what it accepts re-encodes to the same
 * text (with the padding added when the input had none), what it refuses names a position inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out = malloc(common_b64_decoded_max(size));
    size_t bad = (size_t)-1;
    long n = common_b64_decode((const char *)data, size, out, &bad);
    if (n < 0) {
        if (bad > size)
            abort();
    } else {
        if ((size_t)n > common_b64_decoded_max(size))
            abort();
        char *again = common_b64_encode(out, (size_t)n);
        size_t len = strlen(again);
        if (len < size || memcmp(again, data, size) || (len > size && (size % 4 == 0 || again[size] != '=')))
            abort();
        free(again);
    }
    free(out);
    return 0;
}
