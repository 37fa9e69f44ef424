/* fuzz_checkpoint.c — libFuzzer target for run checkpoints (checkpoint.bin): ckpt_read_file's framing (magic, version,
 * length, CRC-32) and the typed fields read back the way the tuner resumes (bbt/tuner.c read_checkpoint: d, the
 * counters and best prompts, then the optimizer's blob, which goes to cmaes_deserialize).
 *
 * Input that starts with the checkpoint magic is written as it is (exercising the frame checks). Any other input is
 * taken as a payload and framed correctly, so that the fuzzer reaches the fields behind the CRC; the seeds are payloads
 * of real checkpoints. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bbt/checkpoint.h"
#include "common/bytes.h"
#include "common/crc32.h"
#include "optim/cmaes.h"
#include "tests/fuzz/fuzz_file.h"

static const char MAGIC[8] = {'B', 'B', 'T', 'C', 'K', 'P', 'T', '\n'};


/* The tuner's resume order (tuner.c get_state and read_optimizer), for a d it accepts. */
static void read_like_tuner(ckpt_reader *r)
{
    int64_t dim = ckpt_get_i64(r);
    if (dim < 1 || dim > 100000)
        return;
    double *z = malloc((size_t)dim * sizeof *z);
    for (int i = 0; i < 3; i++)
        ckpt_get_i64(r);             /* evals, generation, next_dev */
    for (int i = 0; i < 3; i++)
        ckpt_get_f64(r);             /* initial loss, untuned dev, best train loss */
    ckpt_get_f64s(r, z, (size_t)dim); /* best train z */
    ckpt_get_f64(r);                 /* best dev */
    ckpt_get_f64s(r, z, (size_t)dim); /* best dev z */
    ckpt_get_i64(r);
    ckpt_get_i64(r);                 /* best dev evals and source */
    for (int i = 0; i < 3; i++)
        ckpt_get_f64(r);             /* last dev, elapsed, forward seconds */
    ckpt_get_i64(r);
    ckpt_get_i64(r);                 /* log bytes, stop bits */
    size_t len;
    const void *blob = ckpt_get_blob(r, &len);
    if (!r->failed) {
        cmaes *es = NULL;
        char msg[CMAES_ERRMSG_MAX];
        int rc = cmaes_deserialize(&es, blob, len, msg, sizeof msg) != CMAES_OK;
        fuzz_note("optimizer state", rc, msg);
        if (!rc)
            cmaes_free(es);
    }
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    if (size >= sizeof MAGIC && memcmp(data, MAGIC, sizeof MAGIC) == 0) {
        path = fuzz_write("checkpoint.bin", data, size);
    } else {
        size_t len = 20 + size + 4;
        unsigned char *buf = malloc(len);
        memcpy(buf, MAGIC, sizeof MAGIC);
        common_put_le(buf + 8, CHECKPOINT_VERSION, 4);
        common_put_le(buf + 12, size, 8);
        if (size)
            memcpy(buf + 20, data, size);
        common_put_le(buf + 20 + size, common_crc32(buf, 20 + size), 4);
        path = fuzz_write("checkpoint.bin", buf, len);
        free(buf);
    }
    ckpt_reader r;
    bbt_error err;
    int rc = ckpt_read_file(&r, path, &err);
    fuzz_note("checkpoint", rc, err.msg);
    if (rc == 0) {
        read_like_tuner(&r);
        ckpt_reader_free(&r);
    }
    return 0;
}
