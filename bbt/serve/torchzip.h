/* torchzip.h — one 2-D tensor in PyTorch's torch.save format (a ZIP archive holding a pickle and the raw elements), the
 * payload of vLLM's `prompt_embeds`.
 *
 * The reader takes what real PyTorch writes (torch 1.13 … 2.x: BINPUT/BINGET memo, the 'FB' alignment extra field,
 * byteorder and serialization_id records) and refuses everything else with a message: compressed or encrypted entries,
 * zip64, a bad CRC-32, a pickle that calls anything but torch._utils._rebuild_tensor_v2 and collections.OrderedDict,
 * a storage of another dtype, non-contiguous strides, a data record of the wrong size. A 3-D tensor [1, rows, cols] is
 * read as [rows, cols] (vLLM squeezes dim 0). Nothing here reads outside the buffer it is given.
 */
#ifndef BBT_SERVE_TORCHZIP_H
#define BBT_SERVE_TORCHZIP_H

#include <stddef.h>

#include "common/torchsave.h"

/* The dtypes, the writer and the element conversions are common/torchsave.h's (the vLLM client writes too). */
typedef common_tensor_dtype tz_dtype;
#define TZ_F32 COMMON_T_F32
#define TZ_BF16 COMMON_T_BF16
#define TZ_F16 COMMON_T_F16

typedef struct tz_tensor {
    int rows, cols;
    tz_dtype dtype;  /* as stored; data is converted to float */
    float *data;     /* rows × cols, malloc'ed (tz_tensor_free) */
} tz_tensor;

/* Read a torch.save'd 2-D tensor from len bytes. Returns 0, or -1 with a message in err. */
int tz_read(const unsigned char *buf, size_t len, tz_tensor *out, char *err, size_t errlen);
void tz_tensor_free(tz_tensor *t);

/* Write rows × cols floats as torch.save would (common_torchsave). Returns 0, or -1 when out of memory. */
static inline int tz_write(const float *data, int rows, int cols, tz_dtype dtype, unsigned char **out, size_t *len)
{
    return common_torchsave(data, rows, cols, dtype, out, len);
}

/* Element conversions (for the tests and the dense-prompt route). */
static inline float tz_bf16_to_float(unsigned short h) { return common_bf16_to_float(h); }
static inline float tz_f16_to_float(unsigned short h) { return common_f16_to_float(h); }
static inline unsigned short tz_float_to_bf16(float f) { return common_float_to_bf16(f); }
static inline unsigned short tz_float_to_f16(float f) { return common_float_to_f16(f); }

#endif
