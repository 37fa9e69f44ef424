/* pcg.c — PCG64 and PCG32 (O'Neill 2014), uniform and ziggurat-normal variates. See pcg.h. */
#include "optim/pcg.h"

#include <math.h>
#include <string.h>

#include "optim/ziggurat_tables.h"

/* GCC and Clang provide 128-bit integers on 64-bit targets; the public header keeps to uint64_t halves. */
__extension__ typedef unsigned __int128 u128;

/* pcg-c's PCG_DEFAULT_MULTIPLIER_128 and PCG_DEFAULT_MULTIPLIER_64. */
#define MULT128 (((u128)0x2360ED051FC65DA4ULL << 64) | 0x4385DF649FCCF645ULL)
#define MULT64 6364136223846793005ULL

static u128 join(uint64_t hi, uint64_t lo) { return ((u128)hi << 64) | lo; }

static void store_state(pcg_rng *rng, u128 state)
{
    rng->state_hi = (uint64_t)(state >> 64);
    rng->state_lo = (uint64_t)state;
}

static uint64_t rotr64(uint64_t v, unsigned r) { return (v >> r) | (v << ((-r) & 63u)); }
static uint32_t rotr32(uint32_t v, unsigned r) { return (v >> r) | (v << ((-r) & 31u)); }

/* One LCG step of the 128-bit state. */
static u128 step128(const pcg_rng *rng)
{
    return join(rng->state_hi, rng->state_lo) * MULT128 + join(rng->inc_hi, rng->inc_lo);
}

void pcg_seed(pcg_rng *rng, uint64_t seed, uint64_t stream)
{
    u128 inc = ((u128)stream << 1) | 1u;
    rng->inc_hi = (uint64_t)(inc >> 64);
    rng->inc_lo = (uint64_t)inc;
    store_state(rng, 0);
    store_state(rng, step128(rng));
    store_state(rng, join(rng->state_hi, rng->state_lo) + seed);
    store_state(rng, step128(rng));
}

uint64_t pcg_next(pcg_rng *rng)
{
    u128 s = step128(rng);
    store_state(rng, s);
    /* XSL-RR: xor the halves, rotate by the top 6 bits */
    return rotr64((uint64_t)(s >> 64) ^ (uint64_t)s, (unsigned)(s >> 122));
}

uint64_t pcg_bounded(pcg_rng *rng, uint64_t bound)
{
    /* reject the lowest (2^64 mod bound) values so that every residue is equally likely */
    uint64_t threshold = -bound % bound;
    for (;;) {
        uint64_t r = pcg_next(rng);
        if (r >= threshold)
            return r % bound;
    }
}

/* Brown's algorithm: the LCG applied delta times is again an LCG, built by squaring in O(log delta). */
static u128 advance128(u128 state, u128 delta, u128 mult, u128 plus)
{
    u128 acc_mult = 1, acc_plus = 0;
    while (delta > 0) {
        if (delta & 1) {
            acc_mult *= mult;
            acc_plus = acc_plus * mult + plus;
        }
        plus = (mult + 1) * plus;
        mult *= mult;
        delta >>= 1;
    }
    return acc_mult * state + acc_plus;
}

void pcg_advance(pcg_rng *rng, int64_t delta)
{
    u128 d = (u128)(__extension__ (__int128)delta);   /* sign-extend: -k is 2^128 - k, a full period minus k */
    store_state(rng, advance128(join(rng->state_hi, rng->state_lo), d, MULT128, join(rng->inc_hi, rng->inc_lo)));
}

double pcg_uniform(pcg_rng *rng)
{
    return (double)(pcg_next(rng) >> 11) * 0x1.0p-53;
}

/* The rare path of the ziggurat: block `block` rejected the fast test for the point x (|x| beyond the block's inner
 * edge). Returns 1 with *out set when the point (or a tail value) is accepted, 0 to start over with a new draw. */
static int ziggurat_slow(pcg_rng *rng, unsigned block, double x, int negative, double *out)
{
    if (block == 0) {
        /* tail beyond r (Marsaglia 1964): r + a with a ~ Exp(r) accepted with probability exp(-a^2/2) */
        for (;;) {
            double a = -log1p(-pcg_uniform(rng)) / ZIG_R;
            double b = -log1p(-pcg_uniform(rng));
            if (b + b > a * a) {
                *out = negative ? -(ZIG_R + a) : ZIG_R + a;
                return 1;
            }
        }
    }
    double y = zig_f_low[block] + pcg_uniform(rng) * (zig_f_high[block] - zig_f_low[block]);
    if (y < exp(-0.5 * x * x)) {
        *out = negative ? -x : x;
        return 1;
    }
    return 0;
}

/* x with its sign flipped when bit 8 of r is set, without a branch: the sign is a coin flip no predictor can learn. */
static double apply_sign(double x, uint64_t r)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits ^= (r & 0x100u) << 55;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* One ziggurat attempt from the 64 random bits r: 8 bits pick the block, 1 bit the sign, 52 bits the position. Returns 1
 * with *out set on the fast path (~99% of the draws); 0 when the slow path must decide. */
static int ziggurat_fast(uint64_t r, double *out, unsigned *block, double *x)
{
    *block = (unsigned)(r & 0xff);
    uint64_t j = r >> 12;
    *x = (double)(int64_t)j * zig_w[*block];   /* j < 2^52: the signed conversion is one instruction */
    if (j < zig_k[*block]) {
        *out = apply_sign(*x, r);
        return 1;
    }
    return 0;
}

double pcg_normal(pcg_rng *rng)
{
    for (;;) {
        uint64_t r = pcg_next(rng);
        unsigned block;
        double x, out;
        if (ziggurat_fast(r, &out, &block, &x) || ziggurat_slow(rng, block, x, (int)((r >> 8) & 1), &out))
            return out;
    }
}

void pcg_fill_uniform(pcg_rng *rng, double *out, size_t count)
{
    for (size_t i = 0; i < count; i++)
        out[i] = pcg_uniform(rng);
}

void pcg_fill_normal(pcg_rng *rng, double *out, size_t count)
{
    /* pcg_normal with the 128-bit state kept in registers; it goes back to memory only for the rare slow path */
    u128 s = join(rng->state_hi, rng->state_lo), inc = join(rng->inc_hi, rng->inc_lo);
    for (size_t i = 0; i < count; i++) {
        for (;;) {
            s = s * MULT128 + inc;
            uint64_t r = rotr64((uint64_t)(s >> 64) ^ (uint64_t)s, (unsigned)(s >> 122));
            unsigned block;
            double x;
            if (ziggurat_fast(r, &out[i], &block, &x))
                break;
            store_state(rng, s);
            int done = ziggurat_slow(rng, block, x, (int)((r >> 8) & 1), &out[i]);
            s = join(rng->state_hi, rng->state_lo);
            if (done)
                break;
        }
    }
    store_state(rng, s);
}

/* ---- PCG32 ---- */

void pcg_seed32(pcg_rng32 *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1) | 1u;
    rng->state = rng->state * MULT64 + rng->inc;
    rng->state += seed;
    rng->state = rng->state * MULT64 + rng->inc;
}

uint32_t pcg_next32(pcg_rng32 *rng)
{
    uint64_t old = rng->state;
    rng->state = old * MULT64 + rng->inc;
    /* XSH-RR on the old state: xorshift high bits down, rotate by the top 5 bits */
    return rotr32((uint32_t)(((old >> 18) ^ old) >> 27), (unsigned)(old >> 59));
}

uint32_t pcg_bounded32(pcg_rng32 *rng, uint32_t bound)
{
    uint32_t threshold = -bound % bound;
    for (;;) {
        uint32_t r = pcg_next32(rng);
        if (r >= threshold)
            return r % bound;
    }
}

void pcg_advance32(pcg_rng32 *rng, int64_t delta)
{
    uint64_t d = (uint64_t)delta, mult = MULT64, plus = rng->inc, acc_mult = 1, acc_plus = 0;
    while (d > 0) {
        if (d & 1) {
            acc_mult *= mult;
            acc_plus = acc_plus * mult + plus;
        }
        plus = (mult + 1) * plus;
        mult *= mult;
        d >>= 1;
    }
    rng->state = acc_mult * rng->state + acc_plus;
}
