/* pcg.h — PCG random number generators (M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
 * Algorithms for Random Number Generation", 2014), with uniform and normal variates.
 *
 * Two generators, both bit-compatible with the reference implementation pcg-c (pcg-random.org):
 *   pcg_rng    PCG64 = pcg-c's pcg64_random_t (128-bit LCG state, XSL-RR output, 64-bit results), period 2^128;
 *   pcg_rng32  PCG32 = pcg-c's pcg32_random_t (64-bit LCG state, XSH-RR output, 32-bit results), period 2^64.
 * A generator is seeded with (seed, stream): generators with different streams produce different, non-overlapping
 * sequences, so independent parts of a program (the optimizer, a projection matrix, data shuffling) each take a stream of
 * the same run seed. Seed 0 is an ordinary seed.
 *
 * The state is a plain struct: copy it to fork a generator, store its four words to checkpoint it. Nothing here
 * allocates, prints or keeps global state; every function is reentrant on distinct generators.
 */
#ifndef BBT_PCG_H
#define BBT_PCG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* PCG64 state: the 128-bit LCG state and increment, as high and low 64-bit halves. */
typedef struct pcg_rng {
    uint64_t state_hi, state_lo;
    uint64_t inc_hi, inc_lo;   /* always odd; selects the stream */
} pcg_rng;

/* PCG32 state. */
typedef struct pcg_rng32 {
    uint64_t state;
    uint64_t inc;              /* always odd; selects the stream */
} pcg_rng32;

/* Seed exactly as pcg-c's pcg64_srandom_r(rng, seed, stream) with both values zero-extended to 128 bits. */
void pcg_seed(pcg_rng *rng, uint64_t seed, uint64_t stream);

/* Next 64 random bits (pcg-c's pcg64_random_r). */
uint64_t pcg_next(pcg_rng *rng);

/* Uniform integer in [0, bound), without modulo bias (pcg-c's pcg64_boundedrand_r); bound must be > 0. */
uint64_t pcg_bounded(pcg_rng *rng, uint64_t bound);

/* Jump the generator by delta steps in O(log delta): positive skips ahead, negative goes back (pcg-c's pcg64_advance_r
 * with delta sign-extended to 128 bits). Advancing by -k and drawing k values repeats the last k values. */
void pcg_advance(pcg_rng *rng, int64_t delta);

/* Uniform double in [0, 1) with 53 random bits. */
double pcg_uniform(pcg_rng *rng);

/* Standard normal N(0, 1) by a 256-block ziggurat (Marsaglia & Tsang 2000); one 64-bit draw for ~99% of the values. */
double pcg_normal(pcg_rng *rng);

/* Fill out[0..count) with uniform doubles in [0, 1) / standard normals: the same values as calling pcg_uniform /
 * pcg_normal count times, generated in a tight loop (for large matrices of random numbers). */
void pcg_fill_uniform(pcg_rng *rng, double *out, size_t count);
void pcg_fill_normal(pcg_rng *rng, double *out, size_t count);

/* PCG32: seed as pcg-c's pcg32_srandom_r, next 32 bits, unbiased bounded integer, jump by delta steps. */
void pcg_seed32(pcg_rng32 *rng, uint64_t seed, uint64_t stream);
uint32_t pcg_next32(pcg_rng32 *rng);
uint32_t pcg_bounded32(pcg_rng32 *rng, uint32_t bound);
void pcg_advance32(pcg_rng32 *rng, int64_t delta);

#ifdef __cplusplus
}
#endif

#endif
