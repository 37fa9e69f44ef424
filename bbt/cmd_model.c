/* cmd_model.c — the model commands of `bbt`: generate (text from a model), bench (forward-pass speed) and info (what
 * a model is). They share the options that open a model: --model, --tokenizer, --threads, --dtype. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bbt/commands.h"
#include "bbt/options.h"
#include "bbt/projection.h"
#include "bbt/util.h"
#include "models/lm.h"


/* ---- shared option handling ---- */

/* The options that open a model (every command), and the engine settings some of them expose. */
typedef struct model_args {
    char *model, *tokenizer, *dtype, *attention;
    int threads, chunk_rows, no_prefix_share;
} model_args;

#define MODEL_OPTS(a)                                                                                                 \
    {"model", OPT_STR, &(a).model, "PATH", "model directory or file (llama2.c checkpoint; Hugging Face\n"            \
                                           "config.json + safetensors) (required)"},                                 \
    {"tokenizer", OPT_STR, &(a).tokenizer, "PATH", "tokenizer to use instead of the one beside the model"},            \
    {"threads", OPT_INT, &(a).threads, "N", "worker threads (default: all cores)"}

static void model_args_free(model_args *a)
{
    free(a->model), free(a->tokenizer), free(a->dtype), free(a->attention);
}

/* An integer option's value within [lo, hi], else a usage error naming it. */
static int in_range(const char *cmd, const char *name, long v, long lo, long hi)
{
    if (v >= lo && v <= hi)
        return 0;
    fprintf(stderr, "bbt %s: --%s must be an integer in %ld..%ld (got %ld)\n", cmd, name, lo, hi, v);
    return -1;
}

/* One of the words of a choice option (NULL = the first), as its index, else a usage error naming them. */
static int choice(const char *cmd, const char *name, const char *v, const char *const *words, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!v || !strcmp(v, words[i])) {
            *out = i;
            return 0;
        }
    fprintf(stderr, "bbt %s: --%s must be %s%s%s%s%s (got '%s')\n", cmd, name, words[0], n > 2 ? ", " : " or ",
            words[1], n > 2 ? " or " : "", n > 2 ? words[2] : "", v);
    return -1;
}

/* Opens the model the options name. Returns an exit code. */
static int open_model(const char *cmd, const model_args *a, lm **m)
{
    static const char *const dtypes[] = {"f32", "bf16"}, *const attentions[] = {"auto", "vector", "matmul"};
    lm_options o = {.threads = a->threads, .tokenizer_path = a->tokenizer, .chunk_rows = a->chunk_rows,
                    .share_prefix = a->no_prefix_share ? LM_SHARE_OFF : LM_SHARE_AUTO};
    int dtype, attention;
    if (!a->model) {
        fprintf(stderr, "bbt %s: --model PATH is required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    if (in_range(cmd, "threads", a->threads, 0, LM_MAX_THREADS) ||
        in_range(cmd, "chunk-rows", a->chunk_rows, 0, 1 << 24) || choice(cmd, "dtype", a->dtype, dtypes, 2, &dtype) ||
        choice(cmd, "attention", a->attention, attentions, 3, &attention))
        return EXIT_USAGE;
    o.dtype = dtype ? LM_BF16 : LM_F32;
    o.attention = attention == 0 ? LM_ATTN_AUTO : attention == 1 ? LM_ATTN_VECTOR : LM_ATTN_MATMUL;
    char err[1024];
    int rc = lm_open(m, a->model, &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bbt %s: %s\n", cmd, err);
        /* memory or the matrix-product backend failing is the machine's fault, not the model file's */
        return rc == LM_ENOMEM || rc == LM_EBACKEND ? EXIT_RUNTIME : EXIT_INPUT;
    }
    return EXIT_OK;
}

/* Parses argv into the table; returns -1 to go on, else the exit code (--help printed: 0; a usage error: 1). */
static int parse(const opt_spec *spec, int argc, char **argv)
{
    int n_pos, rc = opt_parse(spec, argc, argv, NULL, &n_pos);
    return rc == 0 ? -1 : rc > 0 ? EXIT_OK : EXIT_USAGE;
}

/* ---- bbt generate ---- */

int cmd_generate(int argc, char **argv)
{
    model_args ma = {0};
    char *prompt = NULL;
    long max_new = 256, seed = 0;
    double t = 0.0;
    const opt opts[] = {
        MODEL_OPTS(ma),
        {"dtype", OPT_STR, &ma.dtype, "f32|bf16", "compute type (default f32)"},
        {"prompt", OPT_STR, &prompt, "TEXT", "the text to continue (BOS is added) (required)"},
        {"max-tokens", OPT_LONG, &max_new, "N", "at most N new tokens (default 256); stops earlier at the end of text"},
        {"temperature", OPT_DBL, &t, "T", "0 = greedy (default); > 0 samples from softmax(logits / T)"},
        {"seed", OPT_LONG, &seed, "S", "seed for sampling (default 0)"},
    };
    const opt_spec spec = {"bbt generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]",
                           "Continue TEXT with the model and print the prompt and its continuation. Greedy by default.",
                           opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = parse(&spec, argc, argv);
    if (rc < 0 && !prompt) {
        fprintf(stderr, "bbt generate: --prompt TEXT is required (see --help)\n");
        rc = EXIT_USAGE;
    }
    if (rc < 0 &&
        (in_range("generate", "max-tokens", max_new, 0, 1 << 20) || in_range("generate", "seed", seed, 0, LONG_MAX)))
        rc = EXIT_USAGE;
    if (rc < 0 && !(t >= 0.0)) {
        fprintf(stderr, "bbt generate: --temperature must be a number >= 0 (got %g)\n", t);
        rc = EXIT_USAGE;
    }
    lm *m = NULL;
    if (rc < 0)
        rc = open_model("generate", &ma, &m);
    model_args_free(&ma);
    if (!m) { /* --help, a usage error, or a model that did not open */
        free(prompt);
        return rc;
    }
    int cap = lm_get_info(m)->max_pos, *ids = malloc((size_t)(cap + max_new + 1) * sizeof *ids);
    int k = ids ? lm_tokenize(m, prompt, strlen(prompt), LM_TOK_SPECIAL, ids, cap) : LM_ENOMEM;
    if (k > cap)
        fprintf(stderr, "bbt generate: the prompt is %d tokens; the model takes %d\n", k, cap);
    else if (k < 0)
        fprintf(stderr, "bbt generate: %s\n", lm_errmsg(m));
    rc = k < 0 || k > cap ? EXIT_INPUT : EXIT_OK;
    int made = rc ? 0 : lm_generate(m, ids, k, (int)max_new, (float)t, (uint64_t)seed, ids + k);
    if (!rc && made < 0) {
        fprintf(stderr, "bbt generate: %s\n", lm_errmsg(m));
        rc = EXIT_RUNTIME;
    }
    if (!rc) {
        size_t cap_text = 4096;
        char *text = malloc(cap_text);
        int len = text ? lm_detokenize(m, ids, k + made, text, cap_text) : -1;
        if (len >= 0 && (size_t)len >= cap_text) { /* truncated: now we know the length */
            free(text);
            cap_text = (size_t)len + 1;
            text = malloc(cap_text);
            len = text ? lm_detokenize(m, ids, k + made, text, cap_text) : -1;
        }
        if (len >= 0) {
            printf("%s\n", text);
        } else {
            fprintf(stderr, "bbt generate: %s\n", lm_errmsg(m));
            rc = EXIT_RUNTIME;
        }
        free(text);
    }
    free(ids);
    free(prompt);
    lm_close(m);
    return rc;
}

/* ---- bbt info ---- */

/* A special token's id, when the model has that token. */
static void add_special(cJSON *o, const char *name, int id)
{
    if (id >= 0)
        cJSON_AddNumberToObject(o, name, id);
}

/* What `bbt info` prints, built by cJSON so that every string (the tokenizer's name, …) is escaped. */
static cJSON *info_json(lm *m)
{
    const lm_info *in = lm_get_info(m);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "arch", in->arch);
    cJSON_AddStringToObject(o, "kind", in->kind == LM_MASKED ? "masked" : "causal");
    const char *ints[] = {"hidden", "layers", "heads", "kv_heads", "head_dim", "ffn", "vocab", "max_pos"};
    const int vals[] = {in->hidden, in->layers, in->heads, in->kv_heads, in->head_dim, in->ffn, in->vocab, in->max_pos};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        cJSON_AddNumberToObject(o, ints[i], vals[i]);
    cJSON_AddBoolToObject(o, "tied_head", in->tied);
    cJSON_AddItemToObject(o, "tokenizer", in->tokenizer ? cJSON_CreateString(in->tokenizer) : cJSON_CreateNull());
    cJSON *special = cJSON_AddObjectToObject(o, "special");
    add_special(special, "bos", in->bos);
    add_special(special, "eos", in->eos);
    add_special(special, "pad", in->pad);
    add_special(special, "unk", in->unk);
    add_special(special, "mask", in->mask);
    add_special(special, "cls", in->cls);
    add_special(special, "sep", in->sep);
    const float *emb = lm_embeddings(m);
    double mean = NAN, std = NAN;
    if (emb) /* σ̂ as the tuner computes it (table_stats), so that this is the number a run is scaled by */
        table_stats(emb, (long)in->vocab * in->hidden, &mean, &std);
    cJSON_AddItemToObject(o, "embedding_mean", emb ? cJSON_CreateNumber(mean) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "embedding_std", emb ? cJSON_CreateNumber(std) : cJSON_CreateNull());
    return o;
}

int cmd_info(int argc, char **argv)
{
    model_args ma = {0};
    const opt opts[] = {MODEL_OPTS(ma)};
    const opt_spec spec = {"bbt info --model PATH [--tokenizer PATH]",
                           "Print what a model is as one JSON object: architecture, sizes, special tokens, tokenizer, "
                           "and the\nmean and standard deviation (population) of its input embedding table (BBT "
                           "scales its random\nprojection by that std).",
                           opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = parse(&spec, argc, argv);
    lm *m = NULL;
    if (rc < 0)
        rc = open_model("info", &ma, &m);
    model_args_free(&ma);
    if (!m)
        return rc;
    cJSON *info = info_json(m);
    char *text = cJSON_PrintUnformatted(info);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(info);
    lm_close(m);
    return EXIT_OK;
}

/* ---- bbt bench ---- */

static double now_s(void)
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

/* Text tokens of B sequences: from a TSV file's first column, else random ids. Each gets BOS first. */
static int bench_tokens(lm *m, const char *tsv, int B, int text_len, int **ids, int *lens)
{
    const lm_info *in = lm_get_info(m);
    uint64_t s = 12345;
    FILE *fp = tsv ? fopen(tsv, "r") : NULL;
    if (tsv && !fp) {
        fprintf(stderr, "bbt bench: cannot open %s\n", tsv);
        return EXIT_INPUT;
    }
    char line[65536];
    if (fp && !fgets(line, sizeof line, fp)) /* header */
        line[0] = 0;
    for (int b = 0; b < B; b++) {
        int cap = in->max_pos > text_len ? in->max_pos : text_len;
        ids[b] = malloc((size_t)cap * sizeof(int));
        if (!ids[b])
            return EXIT_RUNTIME;
        if (!fp) {
            ids[b][0] = in->bos >= 0 ? in->bos : 0;
            for (int i = 1; i < text_len; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                ids[b][i] = (int)((s >> 33) % (uint64_t)in->vocab);
            }
            lens[b] = text_len;
            continue;
        }
        if (!fgets(line, sizeof line, fp)) {
            fprintf(stderr, "bbt bench: %s has fewer than %d rows\n", tsv, B);
            return EXIT_INPUT;
        }
        line[strcspn(line, "\t\r\n")] = 0;
        strncat(line, " It was", sizeof line - strlen(line) - 1);
        int k = lm_tokenize(m, line, strlen(line), LM_TOK_SPECIAL, ids[b], cap);
        if (k < 0 || k > cap) {
            fprintf(stderr, "bbt bench: %s row %d: %s\n", tsv, b + 1, k < 0 ? lm_errmsg(m) : "too long");
            return EXIT_INPUT;
        }
        lens[b] = k;
    }
    if (fp)
        fclose(fp);
    if (in->kind == LM_MASKED && in->mask >= 0) /* a masked LM is read at its mask: put one at the end */
        for (int b = 0; b < B; b++)
            ids[b][lens[b] - 1] = in->mask;
    return EXIT_OK;
}

/* Nominal floating-point work of one batch (see bench_help). */
static double bench_flops(const lm_info *in, const lm_batch *b)
{
    double qd = (double)in->heads * in->head_dim, kvd = (double)in->kv_heads * in->head_dim, H = in->hidden;
    double per_row = 2.0 * in->layers * (H * (qd + 2 * kvd) + qd * H + (in->ffn_gated ? 3.0 : 2.0) * H * in->ffn);
    double total = 0.0;
    for (int s = 0; s < b->n_seqs; s++) {
        double n = b->seqs[s].n + (b->seqs[s].mode == LM_PROMPT_CAT ? b->prompt_len : 0);
        total += n * per_row + 2.0 * in->layers * qd * n * (n + 1) + 2.0 * H * in->vocab;
    }
    return total;
}

/* Times the batch on an open model and prints the JSON line. Returns an exit code. */
/* v rounded to `decimals` places, as the figure is worth printing (cJSON then writes the short form). */
static double rounded(double v, int decimals)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return strtod(buf, NULL);
}

/* The one JSON line of `bbt bench`, through cJSON (the model path is escaped). */
static void print_bench(const lm_info *in, const lm_batch *batch, long B, long P, long L, double rows,
                        long long rows_computed, double med, double s_min, double s_max)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", in->path);
    cJSON_AddStringToObject(o, "arch", in->arch);
    cJSON_AddStringToObject(o, "dtype", in->dtype == LM_BF16 ? "bf16" : "f32");
    cJSON_AddNumberToObject(o, "threads", in->threads);
    cJSON_AddNumberToObject(o, "batch", (double)B);
    cJSON_AddNumberToObject(o, "prompts", (double)P);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)L);
    cJSON_AddNumberToObject(o, "rows", rows);
    cJSON_AddNumberToObject(o, "rows_computed", (double)rows_computed);
    cJSON_AddNumberToObject(o, "s_per_batch", rounded(med, 6));
    cJSON_AddNumberToObject(o, "tokens_per_s", rounded(rows / med, 1));
    cJSON_AddNumberToObject(o, "gflops", rounded(bench_flops(in, batch) / med * 1e-9, 2));
    cJSON_AddNumberToObject(o, "evals_per_s", rounded((double)P / med, 3));
    cJSON_AddNumberToObject(o, "s_min", rounded(s_min, 6));
    cJSON_AddNumberToObject(o, "s_max", rounded(s_max, 6));
    char *text = cJSON_PrintUnformatted(o);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static int bench_run(lm *m, const char *tsv, long B, long T, long L, long P, long reps)
{
    int rc;
    const lm_info *in = lm_get_info(m);
    if (!tsv && T > in->max_pos) {
        fprintf(stderr, "bbt bench: --seq %ld exceeds the model's %d positions\n", T, in->max_pos);
        return EXIT_USAGE;
    }
    int **ids = calloc((size_t)B, sizeof *ids), *lens = calloc((size_t)B, sizeof *lens);
    lm_seq *seqs = calloc((size_t)(B * P), sizeof *seqs);
    float *prompts = malloc((size_t)P * (size_t)(L ? L : 1) * in->hidden * sizeof *prompts);
    float *scores = malloc((size_t)(B * P) * 2 * sizeof *scores);
    double *times = malloc((size_t)(reps + 1) * sizeof *times);
    rc = ids && lens && seqs && prompts && scores && times ? EXIT_OK : EXIT_RUNTIME;
    if (!rc)
        rc = bench_tokens(m, tsv, (int)B, (int)(T - L), ids, lens);
    const float *emb = lm_embeddings(m);
    for (long i = 0; !rc && i < P * L * in->hidden; i++) /* prompts: embedding rows, shuffled per prompt */
        prompts[i] = emb ? emb[((size_t)i * 7919u) % ((size_t)in->vocab * in->hidden)] : 0.01f * (float)(i % 7);
    int lab_ids[2] = {in->vocab > 3 ? 3 : 0, in->vocab > 4 ? 4 : 0};
    lm_label labels[2] = {{&lab_ids[0], 1}, {&lab_ids[1], 1}};
    for (long p = 0; !rc && p < P; p++)
        for (long b = 0; b < B; b++)
            seqs[p * B + b] = (lm_seq){ids[b], lens[b], (int)p, L ? LM_PROMPT_CAT : LM_PROMPT_NONE, 1, -1, NULL};
    lm_batch batch = {(int)P, (int)L, prompts, NULL, (int)(B * P), seqs, 2, labels, 0, 0};
    for (long r = -1; !rc && r < reps; r++) {
        double t0 = now_s();
        if (lm_score(m, &batch, scores)) {
            fprintf(stderr, "bbt bench: %s\n", lm_errmsg(m));
            rc = EXIT_RUNTIME;
        }
        if (r >= 0)
            times[r] = now_s() - t0;
    }
    if (!rc) {
        qsort(times, (size_t)reps, sizeof *times, cmp_double);
        double med = times[reps / 2], rows = 0;
        for (long s = 0; s < B * P; s++)
            rows += seqs[s].n + L;
        print_bench(in, &batch, B, P, L, rows, lm_rows_computed(m), med, times[0], times[reps - 1]);
    }
    for (long b = 0; ids && b < B; b++)
        free(ids[b]);
    free(ids), free(lens), free(seqs), free(prompts), free(scores), free(times);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    model_args ma = {0};
    char *tsv = NULL;
    long B = 32, T = 128, L = 50, P = 1, reps = 5;
    const opt opts[] = {
        MODEL_OPTS(ma),
        {"dtype", OPT_STR, &ma.dtype, "f32|bf16", "compute type (default bf16)"},
        {"batch", OPT_LONG, &B, "B", "sequences per prompt (default 32)"},
        {"seq", OPT_LONG, &T, "T", "rows per sequence, prompt rows included (default 128)"},
        {"prompt-tokens", OPT_LONG, &L, "L", "soft-prompt rows (default 50)"},
        {"prompts", OPT_LONG, &P, "P", "prompts, each scored on the B sequences (default 1)"},
        {"reps", OPT_LONG, &reps, "R", "timed repetitions (default 5)"},
        {"tsv", OPT_STR, &tsv, "FILE", "take the texts of the first B rows (first column, header skipped) of a\n"
                                       "tab-separated file, followed by \" It was\", instead of random tokens\n"
                                       "(needs a tokenizer; --seq is then ignored)"},
        {"chunk-rows", OPT_INT, &ma.chunk_rows, "N", "engine tuning: rows per forward chunk (default: the engine's)"},
        {"attention", OPT_STR, &ma.attention, "KIND", "engine tuning: auto (default), vector or matmul\n"
                                                      "(see lm_options.attention)"},
        {"no-prefix-share", OPT_FLAG, &ma.no_prefix_share, NULL,
         "a causal LM computes every sequence whole instead of computing the\nrows that sequences share (BOS and "
         "the prompt) once; same scores, for comparison"},
    };
    const opt_spec spec = {
        "bbt bench --model PATH [--batch B] [--seq T] [--prompt-tokens L] [--prompts P] [--threads N]\n"
        "                 [--dtype f32|bf16] [--reps R] [--tsv FILE]",
        "Time lm_score on a batch of P prompts x B sequences: each sequence is BOS, the L rows of its soft\n"
        "prompt (cat mode), then text tokens, T rows in all; two one-token labels are scored after the last\n"
        "token (a masked LM: at a mask token there). Prints one JSON line: s_per_batch (median of R repetitions\n"
        "after a warm-up), rows (the batch's rows) and rows_computed (those the engine ran through the layers:\n"
        "fewer when sequences share a prefix), tokens_per_s (rows per second), gflops (nominal: every row\n"
        "through every layer, attention, the head for the read rows; shared rows count once per sequence),\n"
        "evals_per_s (prompts per second, as BBT counts evaluations).",
        opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = parse(&spec, argc, argv);
    if (rc < 0 && (in_range("bench", "batch", B, 1, 1 << 20) || in_range("bench", "seq", T, 2, 1 << 20) ||
                   in_range("bench", "prompt-tokens", L, 0, 1 << 20) || in_range("bench", "prompts", P, 1, 1 << 16) ||
                   in_range("bench", "reps", reps, 1, 1000)))
        rc = EXIT_USAGE;
    if (rc < 0 && !tsv && T - L < 1) {
        fprintf(stderr, "bbt bench: --seq must exceed --prompt-tokens (the BOS and text rows)\n");
        rc = EXIT_USAGE;
    }
    if (rc < 0 && !ma.dtype)
        ma.dtype = xstrdup("bf16");
    lm *m = NULL;
    if (rc < 0)
        rc = open_model("bench", &ma, &m);
    model_args_free(&ma);
    if (!m) {
        free(tsv);
        return rc;
    }
    rc = bench_run(m, tsv, B, T, L, P, reps);
    free(tsv);
    lm_close(m);
    return rc;
}
