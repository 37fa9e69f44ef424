/* cmd_model.c — the model commands of `bbt`: generate (text from a model), bench (forward-pass speed) and info (what
 * a model is). They share the options that open a model: --model, --tokenizer, --threads, --dtype. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bbt/commands.h"
#include "models/lm.h"


/* ---- shared option handling ---- */

typedef struct opt {
    const char *name;      /* "--model" */
    int is_flag;           /* takes no value */
    const char *value;     /* set by parse_opts; "1" for a flag given */
} opt;

/* Parse --name VALUE / --name=VALUE / --flag. Returns 0, 1 for --help, or -1 after printing the error. */
static int parse_opts(const char *cmd, int argc, char **argv, opt *opts, int n)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return 1;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        opt *o = NULL;
        for (int k = 0; k < n; k++)
            if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len))
                o = &opts[k];
        if (!o) {
            fprintf(stderr, "bbt %s: unknown option '%s' (see bbt %s --help)\n", cmd, a, cmd);
            return -1;
        }
        if (o->is_flag) {
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "bbt %s: %s needs a value\n", cmd, o->name);
            return -1;
        }
    }
    return 0;
}

static const char *get(const opt *opts, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(opts[k].name, name))
            return opts[k].value;
    return NULL;
}

/* An integer option in [lo, hi]; absent = def. */
static int int_opt(const char *cmd, const char *name, const char *v, long lo, long hi, long def, long *out)
{
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "bbt %s: %s must be an integer in %ld..%ld (got '%s')\n", cmd, name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* The options every model command has; opens the model. Returns an exit code. */
static int open_model(const char *cmd, const opt *opts, int n, lm **m)
{
    const char *path = get(opts, n, "--model"), *dtype = get(opts, n, "--dtype");
    long threads;
    lm_options o = {0};
    if (!path) {
        fprintf(stderr, "bbt %s: --model DIR is required\n", cmd);
        return EXIT_USAGE;
    }
    if (int_opt(cmd, "--threads", get(opts, n, "--threads"), 0, LM_MAX_THREADS, 0, &threads))
        return EXIT_USAGE;
    o.threads = (int)threads;
    if (dtype && strcmp(dtype, "f32") && strcmp(dtype, "bf16")) {
        fprintf(stderr, "bbt %s: --dtype must be f32 or bf16 (got '%s')\n", cmd, dtype);
        return EXIT_USAGE;
    }
    o.dtype = dtype && !strcmp(dtype, "bf16") ? LM_BF16 : LM_F32;
    o.tokenizer_path = get(opts, n, "--tokenizer");
    const char *attn = get(opts, n, "--attention");
    if (attn && strcmp(attn, "auto") && strcmp(attn, "vector") && strcmp(attn, "matmul")) {
        fprintf(stderr, "bbt %s: --attention must be auto, vector or matmul (got '%s')\n", cmd, attn);
        return EXIT_USAGE;
    }
    o.attention = !attn || !strcmp(attn, "auto") ? LM_ATTN_AUTO : !strcmp(attn, "vector") ? LM_ATTN_VECTOR
                                                                                          : LM_ATTN_MATMUL;
    long chunk_rows;
    if (int_opt(cmd, "--chunk-rows", get(opts, n, "--chunk-rows"), 0, 1 << 24, 0, &chunk_rows))
        return EXIT_USAGE;
    o.chunk_rows = (int)chunk_rows;
    o.share_prefix = get(opts, n, "--no-prefix-share") ? LM_SHARE_OFF : LM_SHARE_AUTO;
    char err[1024];
    int rc = lm_open(m, path, &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bbt %s: %s\n", cmd, err);
        return rc == LM_ENOMEM ? EXIT_RUNTIME : EXIT_INPUT;
    }
    return EXIT_OK;
}

#define MODEL_OPTS                                                                                                    \
    {"--model", 0, NULL}, {"--tokenizer", 0, NULL}, {"--threads", 0, NULL}, {"--dtype", 0, NULL}
#define MODEL_HELP                                                                                                    \
    "  --model PATH       model directory or file (llama2.c checkpoint; Hugging Face config.json + safetensors)\n"  \
    "  --tokenizer PATH   tokenizer to use instead of the one beside the model\n"                                    \
    "  --threads N        worker threads (default: all cores)\n"

/* ---- bbt generate ---- */

static void generate_help(FILE *f)
{
    fprintf(f, "usage: bbt generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]\n"
               "Continue TEXT with the model and print the prompt and its continuation. Greedy by default.\n\n"
               MODEL_HELP
               "  --dtype f32|bf16   compute type (default f32)\n"
               "  --prompt TEXT      the text to continue (BOS is added)\n"
               "  --max-tokens N     at most N new tokens (default 256); stops earlier at the end of text\n"
               "  --temperature T    0 = greedy (default); > 0 samples from softmax(logits / T)\n"
               "  --seed S           seed for sampling (default 0)\n");
}

int cmd_generate(int argc, char **argv)
{
    opt opts[] = {MODEL_OPTS, {"--prompt", 0, NULL}, {"--max-tokens", 0, NULL}, {"--temperature", 0, NULL},
                  {"--seed", 0, NULL}};
    int n = sizeof opts / sizeof *opts, rc = parse_opts("generate", argc, argv, opts, n);
    if (rc) {
        generate_help(rc > 0 ? stdout : stderr);
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    const char *prompt = get(opts, n, "--prompt"), *temp = get(opts, n, "--temperature");
    long max_new, seed;
    if (!prompt) {
        fprintf(stderr, "bbt generate: --prompt TEXT is required\n");
        return EXIT_USAGE;
    }
    if (int_opt("generate", "--max-tokens", get(opts, n, "--max-tokens"), 0, 1 << 20, 256, &max_new) ||
        int_opt("generate", "--seed", get(opts, n, "--seed"), 0, INT64_MAX, 0, &seed))
        return EXIT_USAGE;
    char *end = NULL;
    double t = temp ? strtod(temp, &end) : 0.0;
    if (temp && (!*temp || *end || !(t >= 0.0) || !isfinite(t))) {
        fprintf(stderr, "bbt generate: --temperature must be a number >= 0 (got '%s')\n", temp);
        return EXIT_USAGE;
    }
    lm *m;
    if ((rc = open_model("generate", opts, n, &m)))
        return rc;
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
    lm_close(m);
    return rc;
}

/* ---- bbt info ---- */

static void info_help(FILE *f)
{
    fprintf(f, "usage: bbt info --model PATH [--tokenizer PATH]\n"
               "Print what a model is as one JSON object: architecture, sizes, special tokens, tokenizer, and the\n"
               "mean and standard deviation (population) of its input embedding table (BBT scales its random\n"
               "projection by that std).\n\n" MODEL_HELP);
}

static void print_special(const char *name, int id, int *first)
{
    if (id < 0)
        return;
    printf("%s\"%s\":%d", *first ? "" : ",", name, id);
    *first = 0;
}

int cmd_info(int argc, char **argv)
{
    opt opts[] = {MODEL_OPTS};
    int n = sizeof opts / sizeof *opts, rc = parse_opts("info", argc, argv, opts, n);
    if (rc) {
        info_help(rc > 0 ? stdout : stderr);
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    lm *m;
    if ((rc = open_model("info", opts, n, &m)))
        return rc;
    const lm_info *in = lm_get_info(m);
    const float *emb = lm_embeddings(m);
    double sum = 0.0, sq = 0.0, count = (double)in->vocab * in->hidden;
    for (size_t i = 0; emb && i < (size_t)in->vocab * in->hidden; i++) {
        sum += emb[i];
        sq += (double)emb[i] * emb[i];
    }
    double mean = sum / count, std = sqrt(fmax(0.0, sq / count - mean * mean));
    printf("{\"arch\":\"%s\",\"kind\":\"%s\",\"hidden\":%d,\"layers\":%d,\"heads\":%d,\"kv_heads\":%d,"
           "\"head_dim\":%d,\"ffn\":%d,\"vocab\":%d,\"max_pos\":%d,\"tied_head\":%s,\"tokenizer\":",
           in->arch, in->kind == LM_MASKED ? "masked" : "causal", in->hidden, in->layers, in->heads, in->kv_heads,
           in->head_dim, in->ffn, in->vocab, in->max_pos, in->tied ? "true" : "false");
    printf(in->tokenizer ? "\"%s\"" : "null", in->tokenizer);
    printf(",\"special\":{");
    int first = 1;
    print_special("bos", in->bos, &first);
    print_special("eos", in->eos, &first);
    print_special("pad", in->pad, &first);
    print_special("unk", in->unk, &first);
    print_special("mask", in->mask, &first);
    print_special("cls", in->cls, &first);
    print_special("sep", in->sep, &first);
    if (emb)
        printf("},\"embedding_mean\":%.9g,\"embedding_std\":%.9g}\n", mean, std);
    else
        printf("},\"embedding_mean\":null,\"embedding_std\":null}\n");
    lm_close(m);
    return EXIT_OK;
}

/* ---- bbt bench ---- */

static void bench_help(FILE *f)
{
    fprintf(f, "usage: bbt bench --model PATH [--batch B] [--seq T] [--prompt-tokens L] [--prompts P] [--threads N]\n"
               "                 [--dtype f32|bf16] [--reps R] [--tsv FILE]\n"
               "Time lm_score on a batch of P prompts x B sequences: each sequence is BOS, the L rows of its soft\n"
               "prompt (cat mode), then text tokens, T rows in all; two one-token labels are scored after the last\n"
               "token (a masked LM: at a mask token there). Prints one JSON line: s_per_batch (median of R repetitions\n"
               "after a warm-up), rows (the batch's rows) and rows_computed (those the engine ran through the layers:\n"
               "fewer when sequences share a prefix), tokens_per_s (rows per second), gflops (nominal: every row\n"
               "through every layer, attention, the head for the read rows; shared rows count once per sequence),\n"
               "evals_per_s (prompts per second, as BBT counts evaluations).\n\n" MODEL_HELP
               "  --dtype f32|bf16   compute type (default bf16)\n"
               "  --batch B          sequences per prompt (default 32)\n"
               "  --seq T            rows per sequence, prompt rows included (default 128)\n"
               "  --prompt-tokens L  soft-prompt rows (default 50)\n"
               "  --prompts P        prompts, each scored on the B sequences (default 1)\n"
               "  --reps R           timed repetitions (default 5)\n"
               "  --tsv FILE         take the texts of the first B rows (first column, header skipped) of a tab-\n"
               "                     separated file, followed by \" It was\", instead of random tokens (needs a\n"
               "                     tokenizer; --seq is then ignored)\n"
               "  --chunk-rows N     engine tuning: rows per forward chunk (default: chosen by the engine)\n"
               "  --attention KIND   engine tuning: auto (default), vector or matmul (see lm_options.attention)\n"
               "  --no-prefix-share  a causal LM computes every sequence whole instead of computing the rows that\n"
               "                     sequences share (BOS and the prompt) once; same scores, for comparison\n");
}

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

int cmd_bench(int argc, char **argv)
{
    opt opts[] = {MODEL_OPTS, {"--batch", 0, NULL}, {"--seq", 0, NULL}, {"--prompt-tokens", 0, NULL},
                  {"--prompts", 0, NULL}, {"--reps", 0, NULL}, {"--tsv", 0, NULL}, {"--chunk-rows", 0, NULL},
                  {"--attention", 0, NULL}, {"--no-prefix-share", 1, NULL}};
    int n = sizeof opts / sizeof *opts, rc = parse_opts("bench", argc, argv, opts, n);
    if (rc) {
        bench_help(rc > 0 ? stdout : stderr);
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    long B, T, L, P, reps;
    if (int_opt("bench", "--batch", get(opts, n, "--batch"), 1, 1 << 20, 32, &B) ||
        int_opt("bench", "--seq", get(opts, n, "--seq"), 2, 1 << 20, 128, &T) ||
        int_opt("bench", "--prompt-tokens", get(opts, n, "--prompt-tokens"), 0, 1 << 20, 50, &L) ||
        int_opt("bench", "--prompts", get(opts, n, "--prompts"), 1, 1 << 16, 1, &P) ||
        int_opt("bench", "--reps", get(opts, n, "--reps"), 1, 1000, 5, &reps))
        return EXIT_USAGE;
    if (!get(opts, n, "--tsv") && T - L < 1) {
        fprintf(stderr, "bbt bench: --seq must exceed --prompt-tokens (the BOS and text rows)\n");
        return EXIT_USAGE;
    }
    if (!get(opts, n, "--dtype"))
        opts[3].value = "bf16";
    lm *m;
    if ((rc = open_model("bench", opts, n, &m)))
        return rc;
    const lm_info *in = lm_get_info(m);
    if (!get(opts, n, "--tsv") && T > in->max_pos) {
        fprintf(stderr, "bbt bench: --seq %ld exceeds the model's %d positions\n", T, in->max_pos);
        lm_close(m);
        return EXIT_USAGE;
    }
    int **ids = calloc((size_t)B, sizeof *ids), *lens = calloc((size_t)B, sizeof *lens);
    lm_seq *seqs = calloc((size_t)(B * P), sizeof *seqs);
    float *prompts = malloc((size_t)P * (size_t)(L ? L : 1) * in->hidden * sizeof *prompts);
    float *scores = malloc((size_t)(B * P) * 2 * sizeof *scores);
    double *times = malloc((size_t)(reps + 1) * sizeof *times);
    rc = ids && lens && seqs && prompts && scores && times ? EXIT_OK : EXIT_RUNTIME;
    if (!rc)
        rc = bench_tokens(m, get(opts, n, "--tsv"), (int)B, (int)(T - L), ids, lens);
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
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"dtype\":\"%s\",\"threads\":%d,\"batch\":%ld,\"prompts\":%ld,"
               "\"prompt_tokens\":%ld,\"rows\":%.0f,\"rows_computed\":%lld,\"s_per_batch\":%.6f,"
               "\"tokens_per_s\":%.1f,\"gflops\":%.2f,\"evals_per_s\":%.3f,\"s_min\":%.6f,\"s_max\":%.6f}\n",
               in->path, in->arch, in->dtype == LM_BF16 ? "bf16" : "f32", in->threads, B, P, L, rows,
               lm_rows_computed(m), med, rows / med, bench_flops(in, &batch) / med * 1e-9, (double)P / med, times[0],
               times[reps - 1]);
    }
    for (long b = 0; ids && b < B; b++)
        free(ids[b]);
    free(ids), free(lens), free(seqs), free(prompts), free(scores), free(times);
    lm_close(m);
    return rc;
}
