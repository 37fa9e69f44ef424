/* crc32_ref.h — a plain bitwise CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), written independently of the
 * library's, for tests that build or re-seal checkpoint buffers. */
#ifndef BBT_TESTS_CRC32_REF_H
#define BBT_TESTS_CRC32_REF_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t crc32_ref(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

/* Write the CRC of buf[0 .. len-4) into its last four bytes, little-endian. */
static inline void crc32_reseal(unsigned char *buf, size_t len)
{
    uint32_t c = crc32_ref(buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + i] = (unsigned char)(c >> (8 * i));
}

#endif
