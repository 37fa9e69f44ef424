/* crc32.h — CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of zlib, ZIP and PNG.
 * Used by every file format bbt frames itself (CMA-ES states, checkpoints) and by the ZIP archives torch.save writes. */
#ifndef COMMON_CRC32_H
#define COMMON_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of n bytes, as zlib's crc32(0, data, n). */
uint32_t common_crc32(const void *data, size_t n);

/* Continue a CRC over more bytes: common_crc32_update(common_crc32(a, n), b, m) == CRC of a followed by b.
 * Start from crc = 0. */
uint32_t common_crc32_update(uint32_t crc, const void *data, size_t n);

#endif
