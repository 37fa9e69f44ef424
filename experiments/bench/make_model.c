/* make_model — write a random-weight model of a given shape, for benchmarks and tests.
 *
 *   make_model --out PATH [--arch llama|bert|roberta|gpt2] [--format hf|llama2c] [--dim 768 --ffn N --layers 12
 *              --heads 12 --kv-heads 12 --vocab N --max-pos N --types N] [--untied] [--qkv-bias] [--window W]
 *              [--dtype f32|f16|bf16] [--shards N] [--seed S]
 *
 * hf: PATH is a directory (config.json + safetensors); llama2c: PATH is the checkpoint file (Llama only). The same seed
 * gives the same numbers in both formats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/model_writer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: make_model --out PATH [--arch llama|bert|roberta|gpt2] [--format hf|llama2c] [--dim N --ffn N\n"
               "                  --layers N --heads N --kv-heads N --vocab N --max-pos N --types N] [--untied]\n"
               "                  [--qkv-bias] [--window W] [--dtype f32|f16|bf16] [--shards N] [--seed S]\n"
               "Writes a random-weight model (default: a Llama of hidden 768, 12 layers, 12 heads, FFN 2048, vocab\n"
               "32000, tied head, fp32, one file, seed 1). --qkv-bias writes a Qwen2 (q/k/v biases), --window W a\n"
               "Mistral (sliding-window attention); both only in the Hugging Face layout.\n"
               "--arch bert|roberta|gpt2 writes a BertForMaskedLM, RobertaForMaskedLM or GPT2LMHeadModel in the\n"
               "Hugging Face layout (defaults: FFN 3072, vocab 30522 | 50265 | 50257, max positions 512 | 512 | 1024,\n"
               "token types 2 | 1); --untied writes the output matrix (MLM decoder, lm_head) of its own.\n");
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

/* BERT, RoBERTa or GPT-2: sizes not given take the architecture's defaults (base models). */
static int write_other(const char *arch, const mw_shape *l, int ffn, int vocab, int max_pos, int types,
                       const char *out, const char *format, st_dtype dt, int shards, int kv, uint64_t seed)
{
    mw_xshape x = {MW_BERT, l->dim, ffn > 0 ? ffn : 3072, l->layers, l->heads, 30522, 512, 2, !l->tied};
    if (!strcmp(arch, "roberta"))
        x.arch = MW_ROBERTA, x.vocab = 50265, x.types = 1;
    else if (!strcmp(arch, "gpt2"))
        x.arch = MW_GPT2, x.vocab = 50257, x.max_pos = 1024, x.types = 1;
    else if (strcmp(arch, "bert")) {
        fprintf(stderr, "make_model: --arch must be llama, bert, roberta or gpt2 (got '%s')\n", arch);
        return 1;
    }
    x.vocab = vocab > 0 ? vocab : x.vocab;
    x.max_pos = max_pos > 0 ? max_pos : x.max_pos;
    x.types = types > 0 ? types : x.types;
    if (!out || dt == ST_N_DTYPES || strcmp(format, "hf") || shards != 1 || (kv > 0 && kv != x.heads) ||
        l->qkv_bias || l->window || x.dim % x.heads) {
        fprintf(stderr, "make_model: --arch %s needs --out, the hf format, a dtype f32|f16|bf16, dim divisible by "
                        "heads, and none of --shards, --kv-heads, --qkv-bias, --window\n", arch);
        return 1;
    }
    char err[1024] = "";
    if (mw_write_xformer(&x, seed, out, dt, err, sizeof err)) {
        fprintf(stderr, "make_model: %s\n", err);
        return 3;
    }
    return 0;
}

int main(int argc, char **argv)
{
    mw_shape s = {768, 2048, 12, 12, 12, 32000, 2048, 1, 0, 0};
    const char *out = NULL, *format = "hf", *dtype = "f32", *arch = "llama";
    int shards = 1, seed = 1, kv = -1, ffn = -1, vocab = -1, max_pos = -1, types = -1;
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
        } else if (!strcmp(a, "--arch")) {
            arch = v;
        } else if (!strcmp(a, "--types")) {
            rc = int_arg(a, v, 1, &types);
        } else if (!strcmp(a, "--format")) {
            format = v;
        } else if (!strcmp(a, "--dtype")) {
            dtype = v;
        } else if (!strcmp(a, "--dim")) {
            rc = int_arg(a, v, 2, &s.dim);
        } else if (!strcmp(a, "--ffn")) {
            rc = int_arg(a, v, 1, &ffn);
        } else if (!strcmp(a, "--layers")) {
            rc = int_arg(a, v, 1, &s.layers);
        } else if (!strcmp(a, "--heads")) {
            rc = int_arg(a, v, 1, &s.heads);
        } else if (!strcmp(a, "--kv-heads")) {
            rc = int_arg(a, v, 1, &kv);
        } else if (!strcmp(a, "--vocab")) {
            rc = int_arg(a, v, 1, &vocab);
        } else if (!strcmp(a, "--max-pos")) {
            rc = int_arg(a, v, 1, &max_pos);
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
    st_dtype dt0 = !strcmp(dtype, "f32") ? ST_F32 : !strcmp(dtype, "f16") ? ST_F16 : !strcmp(dtype, "bf16") ? ST_BF16
                                                                                                           : ST_N_DTYPES;
    if (arch && strcmp(arch, "llama"))
        return write_other(arch, &s, ffn, vocab, max_pos, types, out, format, dt0, shards, kv, (uint64_t)seed);
    s.ffn = ffn > 0 ? ffn : s.ffn;
    s.vocab = vocab > 0 ? vocab : s.vocab;
    s.max_pos = max_pos > 0 ? max_pos : s.max_pos;
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
