/* safetensors.h — read (memory-mapped) and write the safetensors tensor file format.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ..., "__metadata__": {...}}
 * then the data; offsets are relative to the end of the header. The parser trusts nothing: the header length must fit
 * the file (and 100 MB), every entry must have a known dtype, a shape of at most 8 non-negative dimensions whose byte
 * size equals end − begin, and the entries must tile the data exactly (no overlap, no hole, nothing past the end),
 * as the reference implementation requires. Every failure names the file and the entry.
 */
#ifndef BBT_MODELS_SAFETENSORS_H
#define BBT_MODELS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64,
    ST_F8_E4M3, ST_F8_E5M2, ST_N_DTYPES
} st_dtype;

enum { ST_MAX_DIMS = 8 };
#define ST_MAX_HEADER ((uint64_t)100000000)

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;     /* byte range within the data section */
} st_tensor;

typedef struct st_header {
    st_tensor *tensors;      /* sorted by begin offset */
    int n;
    uint64_t data_start;     /* 8 + N: where the data section starts in the file */
} st_header;

const char *st_dtype_name(st_dtype t);
size_t st_dtype_size(st_dtype t);

/* Parse and validate the header of a file of `size` bytes starting at buf. `name` is used in error messages.
 * Returns 0, or -1 with a message in err. */
int st_parse(st_header *h, const unsigned char *buf, size_t size, const char *name, char *err, size_t errlen);
void st_header_free(st_header *h);
const st_tensor *st_find(const st_header *h, const char *name);
int64_t st_numel(const st_tensor *t);

/* A file mapped read-only with its parsed header. */
typedef struct st_file {
    char *path;
    const unsigned char *map;
    size_t size;
    st_header h;
} st_file;

int st_open(st_file *f, const char *path, char *err, size_t errlen);
void st_close(st_file *f);

/* Copy a tensor into dst as fp32 (F32, F16 and BF16 are converted; other dtypes are an error naming the tensor). */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, char *err, size_t errlen);

/* ---- writing ---- */

typedef struct st_out {
    const char *name;
    st_dtype dtype;          /* F32, F16 or BF16: the fp32 data is converted (round to nearest even) */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} st_out;

/* Write tensors (in the given order) to path atomically (temp file, fsync, rename). Returns 0 or -1 with err. */
int st_write(const char *path, const st_out *t, int n, char *err, size_t errlen);

#endif
