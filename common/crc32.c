/* crc32.c — CRC-32, byte at a time with a 256-entry table. The table is built on the stack per call (1 KiB, ~2k
 * operations) rather than kept in a global, so the libraries stay free of global state; the formats checksummed here
 * are at most a few megabytes, where that cost disappears. */
#include "common/crc32.h"

uint32_t common_crc32_update(uint32_t crc, const void *data, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t common_crc32(const void *data, size_t n)
{
    return common_crc32_update(0, data, n);
}
