/* checkpoint.h — the file format of a run's checkpoint: a magic, a version, a payload of typed fields, a CRC-32.
 *
 * The tuner decides what goes in (its counters, its best prompts, the optimizer's serialised state); this module only
 * makes sure that what comes back is exactly what went in, or a clear error: a truncated, damaged or foreign file is
 * refused, never half-read. Files are written atomically.
 */
#ifndef BBT_CHECKPOINT_H
#define BBT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "bbt/error.h"

#define CHECKPOINT_VERSION 1

/* A payload being written. */
typedef struct ckpt_writer {
    unsigned char *data;
    size_t len, cap;
} ckpt_writer;

void ckpt_put_i64(ckpt_writer *w, int64_t v);
void ckpt_put_f64(ckpt_writer *w, double v);
void ckpt_put_f64s(ckpt_writer *w, const double *v, size_t n);
void ckpt_put_blob(ckpt_writer *w, const void *p, size_t n);

/* Frame the payload (magic, version, length, CRC-32) and write it atomically; frees the writer's buffer. */
int ckpt_write_file(ckpt_writer *w, const char *path, bbt_error *err);

/* A payload being read. Reading past the end sets `failed` and returns zeros; check it once at the end. */
typedef struct ckpt_reader {
    unsigned char *data;
    size_t len, at;
    int failed;
} ckpt_reader;

/* Read and verify a checkpoint file. Errors name the file and say whether it is missing, truncated, corrupt (CRC) or
 * of another version. */
int ckpt_read_file(ckpt_reader *r, const char *path, bbt_error *err);
void ckpt_reader_free(ckpt_reader *r);

int64_t ckpt_get_i64(ckpt_reader *r);
double ckpt_get_f64(ckpt_reader *r);
void ckpt_get_f64s(ckpt_reader *r, double *v, size_t n);
/* A pointer into the reader's buffer and its length. */
const void *ckpt_get_blob(ckpt_reader *r, size_t *n);

#endif
