/* torchsave.h — writing a 2-D float tensor as torch.save does, and the element conversions of its 16-bit dtypes.
 *
 * The writer reproduces PyTorch 1.13's torch.save byte for byte (tests/common/ holds goldens written by real PyTorch):
 * a ZIP archive of stored entries archive/data.pkl, archive/data/0 (the elements, little-endian, row-major) and
 * archive/version, each entry's data aligned to 64 bytes by an 'FB' extra field, sizes and CRC-32 in data descriptors,
 * a zip64 end record; data.pkl is a protocol-2 pickle of torch._utils._rebuild_tensor_v2 with only the opcodes
 * torch.load(weights_only=True) allows. Users: the vLLM client (prompt_embeds) and bbt serve's tests; bbt serve's
 * reader (bbt/serve/torchzip.h) reads these files and the ones newer PyTorch versions write.
 */
#ifndef COMMON_TORCHSAVE_H
#define COMMON_TORCHSAVE_H

#include <stddef.h>
#include <stdint.h>

typedef enum common_tensor_dtype { COMMON_T_F32 = 0, COMMON_T_BF16 = 1, COMMON_T_F16 = 2 } common_tensor_dtype;

/* Write rows × cols floats (rows, cols >= 1, rows·cols < 2^31) as torch.save would, in the given dtype (bf16: round
 * to nearest even; f16: with subnormals, overflow to infinity; NaN stays NaN). *out is malloc'ed, *len its size.
 * Returns 0, or -1 when out of memory or the shape is out of range (nothing is allocated then). */
int common_torchsave(const float *data, int rows, int cols, common_tensor_dtype dtype, unsigned char **out,
                     size_t *len);

/* Element conversions, as PyTorch converts. */
float common_bf16_to_float(uint16_t h);
float common_f16_to_float(uint16_t h);
uint16_t common_float_to_bf16(float f);
uint16_t common_float_to_f16(float f);

#endif
