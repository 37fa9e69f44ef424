/* bytes.h — little-endian integers in byte buffers, and splitmix64, as inline functions (no object code, so any
 * library or program can include them without a link dependency). */
#ifndef COMMON_BYTES_H
#define COMMON_BYTES_H

#include <stdint.h>

/* The nbytes (1..8) little-endian bytes at b as an unsigned integer. */
static inline uint64_t common_get_le(const unsigned char *b, int nbytes)
{
    uint64_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

/* Store the low nbytes (1..8) of v at b, little-endian. */
static inline void common_put_le(unsigned char *b, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* splitmix64 (Steele, Lea and Flood 2014; Vigna's constants): advances *state and returns a well-mixed 64-bit value.
 * Used to expand one seed into several, and for sampling where PCG's streams are not needed. */
static inline uint64_t common_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
