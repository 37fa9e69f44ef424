/* test_pcg.c — PCG against the reference implementation's published output, and the statistics of its variates.
 *
 * Reference values: pcg-c (https://github.com/imneme/pcg-c), files test-high/expected/check-pcg64.out and
 * check-pcg32.out, the output of test-high/check-pcg64.c / check-pcg32.c (via check-base.c): seed (42, 54), five rounds
 * of six raw values, the same six again after advancing by -6, 65 coin tosses (bounded 2), 33 dice rolls (bounded 6)
 * and a shuffle of 52 cards (bounded i for i = 52..2). The same values are the test vectors of numpy's and Rust's
 * PCG64 with this seeding (rand_pcg: Lcg128Xsl64::new(42, 54)).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optim/pcg.h"

/* The five rounds of check-pcg64.out (the 64bit/Again lines joined, whitespace normalised). */
static const char *const expected64[5] = {
    "64bit: 0x86b1da1d72062b68 0x1304aa46c9853d39 0xa3670e9e0dd50358 0xf9090e529a7dae00 0xc85b9fd837996f2c "
    "0x606121f8e3919196\n"
    "Again: 0x86b1da1d72062b68 0x1304aa46c9853d39 0xa3670e9e0dd50358 0xf9090e529a7dae00 0xc85b9fd837996f2c "
    "0x606121f8e3919196\n"
    "Coins: TTTHHHTTTHHHTTTTHHTTHHTHTHTTHHTHTTTTHHTTTHTHHTHTTTTHHTTTHHHTTTHTT\n"
    "Rolls: 6 4 1 5 1 5 5 3 6 3 4 6 2 3 6 5 5 5 1 5 3 6 2 6 1 4 4 3 5 2 6 3 2\n"
    "Cards: 3d 7d 3h Qd 9d 8c Ts Ad 9s 6c Jh Ac 5s 4c 2c 7s Kh Kd 7h Qh 6d Qc 8d Qs 6s Js 4d Kc 9h 3c 2h Td 5d 5h 9c "
    "4s 5c 7c 3s 4h As Th 6h Jc 2s Jd Tc Ah 2d Ks 8h 8s\n",
    "64bit: 0x1773ba241e7a792a 0xe41aed7117b0bc10 0x36bac8d9432af525 0xe0c78e2f3c850a38 0xe3ad939c1c7ce70d "
    "0xa302fdced8c79e93\n"
    "Again: 0x1773ba241e7a792a 0xe41aed7117b0bc10 0x36bac8d9432af525 0xe0c78e2f3c850a38 0xe3ad939c1c7ce70d "
    "0xa302fdced8c79e93\n"
    "Coins: TTTTHTHTHHTHTHTTTTTHHTTHHHHTHTHHHHHHHTHHHTHHTHTTTHHHHTTHHTTTHTHTH\n"
    "Rolls: 6 1 1 5 4 1 5 6 3 2 4 2 2 4 6 2 1 5 2 6 2 3 1 5 1 1 5 4 4 2 3 6 3\n"
    "Cards: As 2h 4d 7d Ad Qc 9s 7h Kh Jc 7c 3d 8c Th 9c Qd 9h Td 6d 8d Qs 5c 6s 8s Ac Kd 2d 3h Qh Tc Jh Ah 3s 4h 9d "
    "8h Jd 4s 2s Ts 5s Kc 4c 5d 3c 6h 2c 6c 7s Js 5h Ks\n",
    "64bit: 0xc96006593aed3b62 0xf04d5afa3f197bf1 0xce6f729cc913a50f 0x98b5fc4fbb1e4aea 0x802dce1b410fc8c3 "
    "0xe3bac0a14f6e5033\n"
    "Again: 0xc96006593aed3b62 0xf04d5afa3f197bf1 0xce6f729cc913a50f 0x98b5fc4fbb1e4aea 0x802dce1b410fc8c3 "
    "0xe3bac0a14f6e5033\n"
    "Coins: HTTHTHTTTTTHTTTHHTHTHHTHHHHHHHHHTTTHTHTHTHHTTTTTTHHHHTHTTTTHHHHHH\n"
    "Rolls: 5 6 4 3 3 1 4 5 2 3 2 1 1 3 2 3 4 5 4 6 4 3 6 2 2 6 3 2 2 4 5 2 5\n"
    "Cards: 5c 5d 9d 4s Qs Kh 2c 3h Ac 2s 7s 4c 6s 8h 9c 6d 2h 4d 3c 5h 6h Ad 7c Js Jd 6c 2d 3d 4h Kd 9s Th Kc 7h 8s "
    "Tc Qc Qd Jh Ks 8d Ts Ah Jc 5s As Qh 8c 3s Td 7d 9h\n",
    "64bit: 0x68da679de81de48a 0x7ee3c031fa0aa440 0x6eb1663983530403 0xfec4d7a9a7aec823 0xbce221c255ee9467 "
    "0x460a42a962b8a2f9\n"
    "Again: 0x68da679de81de48a 0x7ee3c031fa0aa440 0x6eb1663983530403 0xfec4d7a9a7aec823 0xbce221c255ee9467 "
    "0x460a42a962b8a2f9\n"
    "Coins: HHHTTTTHHHHHTTTTTTTHHHTHHHHTTHTTTHTTTTHTHHHHTHHTTTHHHTHHTTHHHTHTH\n"
    "Rolls: 3 5 6 3 6 4 5 6 5 6 1 1 6 6 5 5 5 1 6 4 6 4 5 1 1 4 4 4 3 5 6 1 6\n"
    "Cards: 7c Kh 2d Qc Jh Js Kc Ks Kd 3d 8d 4s Jc 8c 9d 5c 9c Qh As Qd 3s Ac 3h 3c Ad 9h 6h Th Jd 5s 6s 7h 7d 7s 2c "
    "2h 2s 6d 8h 4d Ts Tc 4h 5h 4c Ah 9s Td 8s 5d 6c Qs\n",
    "64bit: 0x9e0d084cff42fe2f 0x63cd8347aae338ea 0x112aae00540d3fa1 0x53968bc829afd6ec 0x1b9900eb6c5b6d90 "
    "0xe89ed17ea33cb420\n"
    "Again: 0x9e0d084cff42fe2f 0x63cd8347aae338ea 0x112aae00540d3fa1 0x53968bc829afd6ec 0x1b9900eb6c5b6d90 "
    "0xe89ed17ea33cb420\n"
    "Coins: HTTTTTHTHTHHHTHTTTHTHHTHHTHTTTHHTTHHHTTTTHTTHHTHHTHHHTTHHTHTHHHHH\n"
    "Rolls: 6 6 5 1 1 4 5 5 3 1 2 6 5 2 4 6 4 2 6 4 4 3 2 5 3 3 6 5 3 4 5 1 2\n"
    "Cards: Jd Qh 8s 9h Kh 3c Ts Th Kc Kd 4s Ah 5h 4d Jc 7d 9c Ac 8c Ks 6s 2d Td Qc 2s 8h Tc 6c 3d 3h 4h 6h 7s Qs As "
    "5d 3s 5c 6d 4c Js 5s 8d 9d 2c 9s 7h Qd Jh Ad 2h 7c\n",
};

/* check-pcg32.out, first two rounds. */
static const char *const expected32[2] = {
    "32bit: 0xa15c02b7 0x7b47f409 0xba1d3330 0x83d2f293 0xbfa4784b 0xcbed606e\n"
    "Again: 0xa15c02b7 0x7b47f409 0xba1d3330 0x83d2f293 0xbfa4784b 0xcbed606e\n"
    "Coins: HHTTTHTHHHTHTTTHHHHHTTTHHHTHTHTHTTHTTTHHHHHHTTTTHHTTTTTHTTTTTTTHT\n"
    "Rolls: 3 4 1 1 2 2 3 2 4 3 2 4 3 3 5 2 3 1 3 1 5 1 4 1 5 6 4 6 6 2 6 3 3\n"
    "Cards: Qd Ks 6d 3s 3d 4c 3h Td Kc 5c Jh Kd Jd As 4s 4h Ad Th Ac Jc 7s Qs 2s 7h Kh 2d 6c Ah 4d Qh 9h 6s 5s 2c 9c "
    "Ts 8d 9s 3c 8c Js 5d 2h 6h 7d 8s 9d 5h 8h Qc 7c Tc\n",
    "32bit: 0x74ab93ad 0x1c1da000 0x494ff896 0x34462f2f 0xd308a3e5 0x0fa83bab\n"
    "Again: 0x74ab93ad 0x1c1da000 0x494ff896 0x34462f2f 0xd308a3e5 0x0fa83bab\n"
    "Coins: HHHHHHHHHHTHHHTHTHTHTHTTTTHHTTTHHTHHTHTTHHTTTHHHHHHTHTTHTHTTTTTTT\n"
    "Rolls: 5 1 1 3 3 2 4 5 3 2 2 6 4 3 2 4 2 4 3 2 3 6 3 2 3 4 2 4 1 1 5 4 4\n"
    "Cards: 7d 2s 7h Td 8s 3c 3d Js 2d Tc 4h Qs 5c 9c Th 2c Jc Qd 9d Qc 7s 3s 5s 6h 4d Jh 4c Ac 4s 5h 5d Kc 8h 8d Jd "
    "9s Ad 6s 6c Kd 2h 3h Kh Ts Qh 9h 6d As 7c Ks Ah 8c\n",
};

/* A generator as check-base.c drives it: raw values, advance, bounded draws; `bits` is 64 or 32. */
typedef struct generator {
    void *rng;
    int bits;
    uint64_t (*next)(void *rng);
    void (*advance)(void *rng, int64_t delta);
    uint64_t (*bounded)(void *rng, uint64_t bound);
} generator;

static uint64_t next64(void *rng) { return pcg_next(rng); }
static uint64_t next32(void *rng) { return pcg_next32(rng); }
static void advance64(void *rng, int64_t delta) { pcg_advance(rng, delta); }
static void advance32(void *rng, int64_t delta) { pcg_advance32(rng, delta); }
static uint64_t bounded64(void *rng, uint64_t bound) { return pcg_bounded(rng, bound); }
static uint64_t bounded32(void *rng, uint64_t bound) { return pcg_bounded32(rng, (uint32_t)bound); }

static size_t raw_values(char *out, size_t cap, size_t len, const generator *g)
{
    for (int i = 0; i < 6; i++)
        len += (size_t)snprintf(out + len, cap - len, g->bits == 64 ? " 0x%016" PRIx64 : " 0x%08" PRIx64,
                                g->next(g->rng));
    return len + (size_t)snprintf(out + len, cap - len, "\n");
}

/* One round of check-base.c, in the text of pcg-c's expected output (line wraps normalised). */
static void reference_round(char *out, size_t cap, const generator *g)
{
    size_t len = (size_t)snprintf(out, cap, "%dbit:", g->bits);
    len = raw_values(out, cap, len, g);
    len += (size_t)snprintf(out + len, cap - len, "Again:");
    g->advance(g->rng, -6);
    len = raw_values(out, cap, len, g);
    len += (size_t)snprintf(out + len, cap - len, "Coins: ");
    for (int i = 0; i < 65; i++)
        len += (size_t)snprintf(out + len, cap - len, "%c", g->bounded(g->rng, 2) ? 'H' : 'T');
    len += (size_t)snprintf(out + len, cap - len, "\nRolls:");
    for (int i = 0; i < 33; i++)
        len += (size_t)snprintf(out + len, cap - len, " %d", (int)g->bounded(g->rng, 6) + 1);
    char cards[52];
    for (int i = 0; i < 52; i++)
        cards[i] = (char)i;
    for (int i = 52; i > 1; --i) {
        int chosen = (int)g->bounded(g->rng, (uint64_t)i);
        char card = cards[chosen];
        cards[chosen] = cards[i - 1];
        cards[i - 1] = card;
    }
    static const char number[] = "A23456789TJQK", suit[] = "hcds";
    len += (size_t)snprintf(out + len, cap - len, "\nCards:");
    for (int i = 0; i < 52; i++)
        len += (size_t)snprintf(out + len, cap - len, " %c%c", number[cards[i] / 4], suit[cards[i] % 4]);
    snprintf(out + len, cap - len, "\n");
}

Test(pcg, pcg64_matches_pcg_c_reference_output)
{
    pcg_rng rng;
    pcg_seed(&rng, 42u, 54u);
    generator g = {&rng, 64, next64, advance64, bounded64};
    for (int round = 0; round < 5; round++) {
        char out[2048];
        reference_round(out, sizeof out, &g);
        cr_assert_str_eq(out, expected64[round], "round %d", round + 1);
    }
}

Test(pcg, pcg32_matches_pcg_c_reference_output)
{
    pcg_rng32 rng;
    pcg_seed32(&rng, 42u, 54u);
    generator g = {&rng, 32, next32, advance32, bounded32};
    for (int round = 0; round < 2; round++) {
        char out[2048];
        reference_round(out, sizeof out, &g);
        cr_assert_str_eq(out, expected32[round], "round %d", round + 1);
    }
}

Test(pcg, advance_equals_stepping_and_streams_differ)
{
    pcg_rng a, b, c;
    pcg_seed(&a, 7, 1);
    b = a;
    for (int i = 0; i < 12345; i++)
        pcg_next(&a);
    pcg_advance(&b, 12345);
    cr_assert_eq(pcg_next(&a), pcg_next(&b));
    pcg_seed(&c, 7, 2);   /* same seed, other stream */
    pcg_seed(&a, 7, 1);
    int same = 0;
    for (int i = 0; i < 1000; i++)
        same += pcg_next(&a) == pcg_next(&c);
    cr_assert_eq(same, 0);
    pcg_seed(&a, 0, 0);   /* seed 0 is a seed: deterministic, not degenerate */
    pcg_seed(&b, 0, 0);
    uint64_t x = pcg_next(&a);
    cr_assert_eq(x, pcg_next(&b));
    cr_assert_neq(x, pcg_next(&a));
}

Test(pcg, uniform_is_in_range_with_uniform_moments)
{
    enum { N = 1000000 };
    pcg_rng rng;
    pcg_seed(&rng, 1, 2);
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    int bins[10] = {0};
    for (int i = 0; i < N; i++) {
        double u = pcg_uniform(&rng);
        sum += u;
        sum2 += u * u;
        lo = fmin(lo, u);
        hi = fmax(hi, u);
        bins[(int)(u * 10)]++;
    }
    cr_assert(lo >= 0 && hi < 1);
    double mean = sum / N, var = sum2 / N - mean * mean;
    cr_assert(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / N), "mean %g", mean);
    cr_assert(fabs(var - 1.0 / 12) < 0.002, "var %g", var);
    double chi2 = 0;
    for (int b = 0; b < 10; b++)
        chi2 += (bins[b] - N / 10.0) * (bins[b] - N / 10.0) / (N / 10.0);
    cr_assert(chi2 < 27.9, "chi2 %g (9 dof, p = 0.001)", chi2);   /* 9 degrees of freedom */
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

Test(pcg, normal_has_normal_moments_histogram_and_tails)
{
    enum { N = 2000000, BINS = 40 };
    static double v[N];
    pcg_rng rng;
    pcg_seed(&rng, 3, 4);
    pcg_fill_normal(&rng, v, N);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    int hist[BINS + 2] = {0};
    long tail = 0;
    for (int i = 0; i < N; i++) {
        double x = v[i];
        m1 += x;
        m2 += x * x;
        m3 += x * x * x;
        m4 += x * x * x * x;
        int b = x < -4 ? 0 : x >= 4 ? BINS + 1 : 1 + (int)((x + 4) / 8 * BINS);
        hist[b]++;
        tail += fabs(x) > 3.6541528853610088;
    }
    m1 /= N, m2 /= N, m3 /= N, m4 /= N;
    cr_assert(fabs(m1) < 5 / sqrt(N), "mean %g", m1);
    cr_assert(fabs(m2 - 1) < 5 * sqrt(2.0 / N), "variance %g", m2);
    cr_assert(fabs(m3) < 5 * sqrt(15.0 / N), "third moment %g", m3);
    cr_assert(fabs(m4 - 3) < 5 * sqrt(96.0 / N), "fourth moment %g", m4);
    /* chi-square against the normal distribution: 40 bins on [-4, 4] plus the two tails */
    double chi2 = 0;
    for (int b = 0; b < BINS + 2; b++) {
        double lo = b == 0 ? -INFINITY : -4 + 8.0 * (b - 1) / BINS;
        double hi = b == BINS + 1 ? INFINITY : -4 + 8.0 * b / BINS;
        double expect = N * (normal_cdf(hi) - normal_cdf(lo));
        chi2 += (hist[b] - expect) * (hist[b] - expect) / expect;
    }
    cr_assert(chi2 < 80.1, "chi2 %g (41 dof, p = 0.0003)", chi2);
    /* the ziggurat's tail beyond r = 3.654 is sampled separately: its mass must be right */
    double expect = N * erfc(3.6541528853610088 / sqrt(2.0));
    cr_assert(fabs(tail - expect) < 5 * sqrt(expect), "tail %ld expected %g", tail, expect);
}

Test(pcg, fill_matches_single_draws)
{
    pcg_rng a, b;
    pcg_seed(&a, 11, 12);
    b = a;
    double buf[4096];
    pcg_fill_normal(&a, buf, 4096);
    for (int i = 0; i < 4096; i++)
        cr_assert_eq(buf[i], pcg_normal(&b), "normal %d", i);
    pcg_fill_uniform(&a, buf, 100);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(buf[i], pcg_uniform(&b), "uniform %d", i);
    cr_assert_eq(pcg_next(&a), pcg_next(&b));
}

Test(pcg, bounded_is_unbiased)
{
    enum { N = 600000, K = 6 };
    pcg_rng rng;
    pcg_seed(&rng, 5, 6);
    int count[K] = {0};
    for (int i = 0; i < N; i++)
        count[pcg_bounded(&rng, K)]++;
    double chi2 = 0;
    for (int k = 0; k < K; k++)
        chi2 += (count[k] - N / (double)K) * (count[k] - N / (double)K) / (N / (double)K);
    cr_assert(chi2 < 20.5, "chi2 %g (5 dof, p = 0.001)", chi2);
    cr_assert_eq(pcg_bounded(&rng, 1), 0);
}
