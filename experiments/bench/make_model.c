/* make_model — write a random-weight Llama model of a given shape, for benchmarks and tests.
 *
 *   make_model --out PATH [--format hf|llama2c] [--dim 768 --ffn 2048 --layers 12 --heads 12 --kv-heads 12
 *              --vocab 32000 --max-pos 2048] [--untied] [--qkv-bias] [--window W] [--dtype f32|f16|bf16]
 *              [--shards N] [--seed S]
 *
 * hf: PATH is a directory (config.json + safetensors); llama2c: PATH is the checkpoint file. The same seed gives the
 * same numbers in both formats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/bench/model_writer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: make_model --out PATH [--format hf|llama2c] [--dim N --ffn N --layers N --heads N --kv-heads N\n"
               "                  --vocab N --max-pos N] [--untied] [--qkv-bias] [--window W] [--dtype f32|f16|bf16]\n"
               "                  [--shards N] [--seed S]\n"
               "Writes a random-weight Llama model (default: hidden 768, 12 layers, 12 heads, FFN 2048, vocab 32000,\n"
               "tied head, fp32, one file, seed 1). --qkv-bias writes a Qwen2 (q/k/v biases), --window W a Mistral\n"
               "(sliding-window attention); both only in the Hugging Face layout.\n");
}

static int int_arg(const char *opt, const char *v, int lo, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > 1 << 30) {
        fprintf(stderr, "make_model: %s needs an integer >= %d\n", opt, lo);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    mw_shape s = {768, 2048, 12, 12, 12, 32000, 2048, 1, 0, 0};
    const char *out = NULL, *format = "hf", *dtype = "f32";
    int shards = 1, seed = 1, kv = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--untied")) {
            s.tied = 0;
            continue;
        } else if (!strcmp(a, "--qkv-bias")) {
            s.qkv_bias = 1;
            continue;
        } else if (!strcmp(a, "--window")) {
            rc = int_arg(a, v, 1, &s.window);
        } else if (!strcmp(a, "--out")) {
            out = v;
        } else if (!strcmp(a, "--format")) {
            format = v;
        } else if (!strcmp(a, "--dtype")) {
            dtype = v;
        } else if (!strcmp(a, "--dim")) {
            rc = int_arg(a, v, 2, &s.dim);
        } else if (!strcmp(a, "--ffn")) {
            rc = int_arg(a, v, 1, &s.ffn);
        } else if (!strcmp(a, "--layers")) {
            rc = int_arg(a, v, 1, &s.layers);
        } else if (!strcmp(a, "--heads")) {
            rc = int_arg(a, v, 1, &s.heads);
        } else if (!strcmp(a, "--kv-heads")) {
            rc = int_arg(a, v, 1, &kv);
        } else if (!strcmp(a, "--vocab")) {
            rc = int_arg(a, v, 1, &s.vocab);
        } else if (!strcmp(a, "--max-pos")) {
            rc = int_arg(a, v, 1, &s.max_pos);
        } else if (!strcmp(a, "--shards")) {
            rc = int_arg(a, v, 1, &shards);
        } else if (!strcmp(a, "--seed")) {
            rc = int_arg(a, v, 0, &seed);
        } else {
            fprintf(stderr, "make_model: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        }
        if (rc || !v) {
            if (!v)
                fprintf(stderr, "make_model: %s needs a value\n", a);
            return 1;
        }
        i++;
    }
    s.kv_heads = kv > 0 ? kv : s.heads;
    st_dtype dt = !strcmp(dtype, "f32") ? ST_F32 : !strcmp(dtype, "f16") ? ST_F16 : !strcmp(dtype, "bf16") ? ST_BF16
                                                                                                          : ST_N_DTYPES;
    if (!out || dt == ST_N_DTYPES || (strcmp(format, "hf") && strcmp(format, "llama2c")) || s.dim % s.heads ||
        s.heads % s.kv_heads || (s.dim / s.heads) % 2) {
        fprintf(stderr, "make_model: need --out, a format hf|llama2c, a dtype f32|f16|bf16, and dim divisible by heads "
                        "(even head size), heads by kv-heads\n");
        return 1;
    }
    mw_model m;
    if (mw_random(&m, &s, (uint64_t)seed)) {
        fprintf(stderr, "make_model: out of memory\n");
        return 3;
    }
    char err[1024] = "";
    int rc = !strcmp(format, "hf") ? mw_write_hf(&m, out, dt, shards, err, sizeof err)
                                   : mw_write_llama2c(&m, out, err, sizeof err);
    mw_free(&m);
    if (rc) {
        fprintf(stderr, "make_model: %s\n", err);
        return 3;
    }
    return 0;
}
