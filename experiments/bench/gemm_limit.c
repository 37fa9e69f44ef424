/* gemm_limit — the time a forward pass spends in its matrix products alone: the floor the engine can approach.
 *
 *   gemm_limit [--dim 768 --ffn 2048 --layers 12 --heads 12 --kv-heads 12 --rows 4096 --dtype bf16|f32
 *               --threads N --reps 5 --gated 1|0]
 *
 * Runs, for every layer, the same four products as the engine (q|k|v, o, gate|up, down) over all rows, through the
 * same oneDNN wrapper, with the same packed weights; nothing else. --gated 0: a feed-forward without a gate (BERT,
 * GPT-2: up is ffn × dim, not 2·ffn × dim). Prints one JSON line with the median time.
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bytes.h"
#include "models/gemm.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int dim = 768, ffn = 2048, layers = 12, heads = 12, kv = 12, rows = 4096, threads = 0, reps = 5, gated = 1;
    const char *dtype = "bf16";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i];
        int v = atoi(argv[i + 1]);
        if (!strcmp(a, "--dim")) dim = v;
        else if (!strcmp(a, "--ffn")) ffn = v;
        else if (!strcmp(a, "--layers")) layers = v;
        else if (!strcmp(a, "--heads")) heads = v;
        else if (!strcmp(a, "--kv-heads")) kv = v;
        else if (!strcmp(a, "--rows")) rows = v;
        else if (!strcmp(a, "--threads")) threads = v;
        else if (!strcmp(a, "--reps")) reps = v;
        else if (!strcmp(a, "--gated")) gated = v;
        else if (!strcmp(a, "--dtype")) dtype = argv[i + 1];
        else {
            fprintf(stderr, "gemm_limit: unknown option %s\n", a);
            return 1;
        }
    }
    if (dim <= 0 || ffn <= 0 || layers <= 0 || heads <= 0 || kv <= 0 || rows <= 0 || reps < 1 || dim % heads) {
        fprintf(stderr, "gemm_limit: bad sizes\n");
        return 1;
    }
    if (threads > 0)
        omp_set_num_threads(threads);
    act_type t = strcmp(dtype, "f32") ? ACT_BF16 : ACT_F32;
    int hd = dim / heads, qd = heads * hd, qkvd = qd + 2 * kv * hd;
    char err[512];
    gemm_ctx *g;
    if (gemm_ctx_create(&g, t, err, sizeof err)) {
        fprintf(stderr, "gemm_limit: %s\n", err);
        return 3;
    }
    /* weights: distinct per layer, as in the model */
    int up = gated ? 2 * ffn : ffn;
    int n_w = 4 * layers, shapes[4][2] = {{qkvd, dim}, {dim, qd}, {up, dim}, {dim, ffn}};
    gemm_weight *w = calloc((size_t)n_w, sizeof *w);
    size_t biggest = (size_t)up * (dim > ffn ? dim : ffn);
    float *src = malloc(biggest * sizeof *src);
    uint64_t rng = 42;
    for (size_t i = 0; src && i < biggest; i++) /* random like trained weights (AMX power depends on the data) */
        src[i] = ((float)(common_splitmix64(&rng) >> 40) / 16777216.0f - 0.5f) * 0.07f;
    for (int i = 0; w && src && i < n_w; i++)
        if (gemm_weight_pack(g, &w[i], src, shapes[i % 4][0], shapes[i % 4][1], (size_t)shapes[i % 4][1], 0, err,
                             sizeof err)) {
            fprintf(stderr, "gemm_limit: %s\n", err);
            return 3;
        }
    int widest = qkvd > up ? qkvd : up;
    void *a = calloc((size_t)rows * widest, act_size(t));
    float *c = calloc((size_t)rows * widest, sizeof *c);
    double *times = malloc((size_t)(reps + 1) * sizeof *times);
    if (!w || !src || !a || !c || !times) {
        fprintf(stderr, "gemm_limit: out of memory\n");
        return 3;
    }
    /* real values everywhere (untouched calloc pages all map to one zero page, which flatters the timing) */
    for (size_t i = 0; i < (size_t)rows * widest; i++) {
        float v = (float)(common_splitmix64(&rng) >> 40) / 8388608.0f - 1.0f;
        c[i] = v;
        act_store((char *)a + i * act_size(t), t, &v, 1);
    }
    double per_shape[4] = {0};
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up (JIT, page faults) */
        double t0 = now();
        for (int i = 0; i < n_w; i++) {
            int n = shapes[i % 4][0], k = shapes[i % 4][1], acc = i % 2;
            double t1 = now();
            if (gemm_run(g, &w[i], rows, a, k, c, n, acc ? GEMM_ADD : GEMM_STORE, NULL, err, sizeof err)) {
                fprintf(stderr, "gemm_limit: %s\n", err);
                return 3;
            }
            if (r >= 0)
                per_shape[i % 4] += (now() - t1) / reps;
        }
        if (r >= 0)
            times[r] = now() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    double med = times[reps / 2];
    double flops = 2.0 * rows * layers * ((double)qkvd * dim + (double)dim * qd + (double)up * dim + (double)dim * ffn);
    printf("{\"gemm_s\":%.6f,\"gemm_min_s\":%.6f,\"gflops\":%.1f,\"rows\":%d,\"dtype\":\"%s\",\"threads\":%d,\"qkv_s\":%.4f,\"o_s\":%.4f,"
           "\"gate_up_s\":%.4f,\"down_s\":%.4f}\n", med, times[0], flops / med * 1e-9, rows, t == ACT_BF16 ? "bf16" : "f32",
           omp_get_max_threads(), per_shape[0], per_shape[1], per_shape[2], per_shape[3]);
    for (int i = 0; i < n_w; i++)
        gemm_weight_free(&w[i]);
    free(w), free(src), free(a), free(c), free(times);
    gemm_ctx_free(g);
    return 0;
}
