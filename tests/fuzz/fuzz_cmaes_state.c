/* fuzz_cmaes_state.c — libFuzzer target for cmaes_deserialize, the parser of checkpoints (files users load).
 *
 * Input that starts with the state magic goes in as it is (exercising the header and checksum checks). Any other input
 * is taken as a payload and wrapped in a valid header and CRC-32, so that the fuzzer reaches the field-by-field parsing
 * behind the checksum; the seeds are payloads of real states. A state that loads must also run a generation and
 * serialise again without trouble.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optim/cmaes.h"
#include "tests/optim/crc32_ref.h"

static void exercise(cmaes *es)
{
    cmaes_batch b;
    if (cmaes_ask(es, &b) == CMAES_OK && b.count > 0 && b.count <= 100000) {
        double *f = malloc(sizeof(double) * (size_t)b.count);
        for (int i = 0; i < b.count; i++)
            f[i] = b.x[(size_t)i * b.dim] * b.x[(size_t)i * b.dim];
        cmaes_tell(es, f);
        free(f);
    }
    unsigned char *out;
    size_t len;
    if (cmaes_serialize(es, &out, &len) == CMAES_OK)
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cmaes *es = NULL;
    char err[CMAES_ERRMSG_MAX];
    if (size >= 8 && memcmp(data, "BBTCMAES", 8) == 0) {
        if (cmaes_deserialize(&es, data, size, err, sizeof err) == CMAES_OK) {
            exercise(es);
            cmaes_free(es);
        }
        return 0;
    }
    size_t len = 24 + size + 4;
    unsigned char *buf = malloc(len);
    memcpy(buf, "BBTCMAES", 8);
    memset(buf + 8, 0, 16);
    buf[8] = CMAES_STATE_VERSION;
    for (int i = 0; i < 8; i++)
        buf[16 + i] = (unsigned char)((uint64_t)size >> (8 * i));
    if (size)
        memcpy(buf + 24, data, size);
    crc32_reseal(buf, len);
    if (cmaes_deserialize(&es, buf, len, err, sizeof err) == CMAES_OK) {
        exercise(es);
        cmaes_free(es);
    }
    free(buf);
    return 0;
}
