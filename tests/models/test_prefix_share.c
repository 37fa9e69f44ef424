/* test_prefix_share.c — shared-prefix reuse in causal-LM scoring (lm_options.share_prefix) changes which rows are
 * computed, never a score: every batch is scored with sharing off and on (LM_SHARE_ALWAYS, so that even one shared row
 * is reused, and the default) and the scores must agree, while the rows computed must drop wherever sequences share a
 * prefix. The batches mix what the planner has to get right: BBT's layout (BOS + a cat-mode prompt, several prompts
 * interleaved), add mode, prompts at other positions or after the read row, sequences that share nothing, duplicates,
 * a sequence that is a prefix of another, padding after the read row, multi-token labels, first-token-only, raw
 * logits, deep prompts, and groups spread over several chunks. */
#include "tests/models/models_test.h"

enum { NS = 30, MAXN = 28, PL = 6, NP = 3 };

/* A mixed batch and the storage it points into. */
typedef struct mixed {
    int ids[NS][MAXN];
    lm_seq seqs[NS];
    float *prompts, *deep;
    int lab[3][3];
    lm_label labels[3];
    lm_batch b;
} mixed;

static unsigned next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static void random_ids(int *ids, int n, int vocab, unsigned *seed)
{
    for (int i = 0; i < n; i++)
        ids[i] = 3 + (int)(next(seed) % (unsigned)(vocab - 3));
}

/* Sequence k of the mixed batch: kind k % 8, prompt k % NP (prompts interleaved in the batch). Sequences of one kind
 * and prompt share BOS (token 1) and the prompt, or a template [1 5 6 7], or nothing. */
static void mixed_seq(mixed *x, int k, int vocab, unsigned *seed)
{
    int *ids = x->ids[k], n = 8 + (int)(next(seed) % (MAXN - 8)), p = k % NP;
    static const int tmpl[4] = {1, 5, 6, 7};
    memcpy(ids, tmpl, sizeof tmpl);
    random_ids(ids + 4, MAXN - 4, vocab, seed);
    lm_seq q = {ids, n, p, LM_PROMPT_CAT, 1, -1, NULL};
    switch (k % 8) {
    case 0: /* BBT: BOS, the prompt, the text */
        break;
    case 1: /* the same with padding after an explicit read row */
        q.read_pos = n - 4;
        break;
    case 2: /* add mode over the template's rows and on */
        q.mode = LM_PROMPT_ADD;
        break;
    case 3: /* cat after the template */
        q.prompt_pos = 4;
        break;
    case 4: /* no prompt at all */
        q.mode = LM_PROMPT_NONE;
        break;
    case 5: /* starts with the prompt, then random text: shares the prompt rows only */
        ids[0] = 3 + (int)(next(seed) % (unsigned)(vocab - 3));
        q.prompt_pos = 0;
        break;
    case 6: /* a prompt after the read row: not part of what is scored */
        q.prompt_pos = n;
        q.read_pos = n - 2;
        break;
    case 7: /* shares nothing: starts with a token no other sequence starts with */
        ids[0] = 2;
        ids[1] = 3 + k;
        q.mode = LM_PROMPT_NONE;
        break;
    }
    x->seqs[k] = q;
}

/* NS sequences: the kinds above, then a duplicate of sequence 0 and a sequence that is a prefix of sequence 8. */
static void mixed_init(mixed *x, const lm_info *in, unsigned seed)
{
    memset(x, 0, sizeof *x);
    int H = in->hidden;
    for (int k = 0; k < NS - 2; k++)
        mixed_seq(x, k, in->vocab, &seed);
    x->seqs[NS - 2] = x->seqs[0];
    x->seqs[NS - 1] = x->seqs[8];
    x->seqs[NS - 1].n = x->seqs[8].n - 3;
    x->prompts = malloc((size_t)NP * PL * H * sizeof(float));
    for (int i = 0; i < NP * PL * H; i++)
        x->prompts[i] = 0.4f * ((float)(next(&seed) % 2001) / 1000.0f - 1.0f);
    for (int j = 0; j < 3; j++) {
        for (int i = 0; i <= j; i++)
            x->lab[j][i] = 3 + (int)(next(&seed) % (unsigned)(in->vocab - 3));
        x->labels[j] = (lm_label){x->lab[j], j + 1};
    }
    x->b = (lm_batch){NP, PL, x->prompts, NULL, NS, x->seqs, 3, x->labels, 0, 0};
}

/* Deep prompts: small values at every layer (layer 0 too). */
static void mixed_deep(mixed *x, const lm_info *in, unsigned seed)
{
    size_t n = (size_t)NP * in->layers * PL * in->hidden;
    x->deep = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x->deep[i] = 0.1f * ((float)(next(&seed) % 2001) / 1000.0f - 1.0f);
    x->b.deep_prompts = x->deep;
}

static void mixed_free(mixed *x)
{
    free(x->prompts);
    free(x->deep);
}

static lm *open_with(const char *path, lm_dtype dt, lm_attention attn, int threads, lm_prefix_share share,
                     int chunk_rows)
{
    lm_options o = {.threads = threads, .dtype = dt, .chunk_rows = chunk_rows, .attention = attn,
                    .share_prefix = share};
    char err[1024];
    lm *m = NULL;
    cr_assert_eq(lm_open(&m, path, &o, err, sizeof err), LM_OK, "lm_open(%s): %s", path, err);
    return m;
}

static lm *open_share(const char *path, lm_dtype dt, int threads, lm_prefix_share share, int chunk_rows)
{
    return open_with(path, dt, LM_ATTN_AUTO, threads, share, chunk_rows);
}

/* Rows of the batch when nothing is shared: each sequence's trunk plus its label rows. */
static long long batch_rows(const lm_batch *b)
{
    long long rows = 0;
    for (int s = 0; s < b->n_seqs; s++) {
        const lm_seq *q = &b->seqs[s];
        int read = q->read_pos < 0 ? q->n - 1 : q->read_pos;
        rows += read + 1 + (q->mode == LM_PROMPT_CAT && q->prompt_pos <= read ? b->prompt_len : 0);
        for (int j = 0; j < b->n_labels; j++)
            rows += (b->first_token_only ? 1 : b->labels[j].n) - 1;
    }
    return rows;
}

/* Score b with sharing off and on (each given handle); the scores must agree within tol, and sharing must compute
 * fewer rows (want_fewer) or the same. */
static void compare(lm *off, lm *on, const lm_batch *b, double tol, int want_fewer, const char *what)
{
    float *s0 = malloc((size_t)b->n_seqs * b->n_labels * sizeof(float));
    float *s1 = malloc((size_t)b->n_seqs * b->n_labels * sizeof(float));
    cr_assert_eq(lm_score(off, b, s0), LM_OK, "%s: %s", what, lm_errmsg(off));
    cr_assert_eq(lm_score(on, b, s1), LM_OK, "%s: %s", what, lm_errmsg(on));
    expect_close_f(s1, s0, b->n_seqs * b->n_labels, tol, what);
    long long r0 = lm_rows_computed(off), r1 = lm_rows_computed(on);
    cr_expect_eq(r0, batch_rows(b), "%s: sharing off computed %lld rows, the batch has %lld", what, r0, batch_rows(b));
    if (want_fewer)
        cr_expect_lt(r1, r0, "%s: sharing computed %lld rows, no fewer than %lld", what, r1, r0);
    else
        cr_expect_eq(r1, r0, "%s: sharing computed %lld rows instead of %lld", what, r1, r0);
    free(s0);
    free(s1);
}

/* The mixed batch in its variants (labels summed, first token only, raw logits, deep prompts) on one model. */
static void all_variants(const char *path, lm_dtype dt, lm_attention attn, double tol)
{
    lm *off = open_with(path, dt, attn, 2, LM_SHARE_OFF, 0), *on = open_with(path, dt, attn, 2, LM_SHARE_ALWAYS, 0);
    const lm_info *in = lm_get_info(off);
    mixed x;
    mixed_init(&x, in, 17);
    compare(off, on, &x.b, tol, 1, "mixed batch");
    x.b.first_token_only = 1;
    compare(off, on, &x.b, tol, 1, "first token only");
    x.b.first_token_only = 0;
    x.b.raw_logits = 1;
    compare(off, on, &x.b, tol, 1, "raw logits");
    x.b.raw_logits = 0;
    mixed_deep(&x, in, 5);
    compare(off, on, &x.b, tol, 1, "deep prompts");
    x.b.prompts = NULL; /* deep prompts alone: cat-mode rows start from zero */
    compare(off, on, &x.b, tol, 1, "deep prompts, no input prompt");
    mixed_free(&x);
    lm_close(off);
    lm_close(on);
}

static char *small_llama(mw_shape s, uint64_t seed)
{
    mw_model w;
    cr_assert_eq(mw_random(&w, &s, seed), 0);
    char *dir = temp_dir(), err[256];
    cr_assert_eq(mw_write_hf(&w, dir, ST_F32, 1, err, sizeof err), 0, "%s", err);
    mw_free(&w);
    return dir;
}

/* The same arithmetic on the same rows: on this machine (oneDNN's AVX-512/AMX kernels) the scores agree to the last
 * bit, fp32 and bf16. oneDNN's AVX2 kernels (DNNL_MAX_CPU_ISA=AVX2, or under valgrind) round a row differently in
 * products of another row count, as they do when the batch around a sequence changes (score_api's batch test): there
 * sharing moved fp32 scores by up to 2.6e-6 (bf16 needs AVX-512). Hence 1e-5, and 1e-3 for bf16, whose products
 * round to 8-bit mantissas between layers. */
Test(prefix_share, stories260K_f32) { all_variants(STORIES_DIR, LM_F32, LM_ATTN_AUTO, 1e-5); }
Test(prefix_share, stories260K_bf16) { all_variants(STORIES_DIR, LM_BF16, LM_ATTN_AUTO, 1e-3); }

/* Attention as matrix products: the shared prefix's own attention runs over fewer keys than it does inside each
 * whole sequence, so its products have other shapes and may round differently (not seen here). */
Test(prefix_share, stories260K_matmul_attention)
{
    all_variants(STORIES_DIR, LM_F32, LM_ATTN_MATMUL, 1e-5);
    all_variants(STORIES_DIR, LM_BF16, LM_ATTN_MATMUL, 1e-3);
}

Test(prefix_share, random_llama_gqa_untied)
{
    char *dir = small_llama(small_shape(), 3);
    all_variants(dir, LM_F32, LM_ATTN_AUTO, 1e-5);
    rm_tree(dir);
}

/* With a sliding window the vector kernel sums a query block's softmax over the keys every query of the block sees
 * first; the blocks of a sequence that starts after a shared prefix hold other rows, so the sums go in another order
 * (seen: 1e-6 absolute on raw logits of 0.1, also with AVX-512). */
Test(prefix_share, random_sliding_window_and_qkv_bias)
{
    mw_shape s = small_shape();
    s.window = 7;
    s.qkv_bias = 1;
    char *dir = small_llama(s, 4);
    all_variants(dir, LM_F32, LM_ATTN_AUTO, 1e-5);
    rm_tree(dir);
}

Test(prefix_share, random_gpt2)
{
    mw_xshape s = {MW_GPT2, 32, 64, 2, 4, 61, 48, 0, 0};
    char *dir = temp_dir(), err[256];
    cr_assert_eq(mw_write_xformer(&s, 9, dir, ST_F32, err, sizeof err), 0, "%s", err);
    all_variants(dir, LM_F32, LM_ATTN_AUTO, 1e-5);
    rm_tree(dir);
}

/* BBT's batch: 4 prompts × 12 examples, each BOS + 6 prompt rows + text, prompts interleaved; groups bigger than a
 * chunk are split (each part computes the prefix again), at every chunk size and thread count. The default setting
 * (LM_SHARE_AUTO: prefixes of 8+ rows) shares here too. */
Test(prefix_share, bbt_batch_any_chunking)
{
    enum { P = 4, N = 12 };
    lm *off = open_share(STORIES_DIR, LM_F32, 2, LM_SHARE_OFF, 0);
    const lm_info *in = lm_get_info(off);
    int ids[N][40];
    lm_seq seqs[P * N];
    unsigned seed = 77;
    float *prompts = malloc((size_t)P * 10 * in->hidden * sizeof(float));
    for (int i = 0; i < P * 10 * in->hidden; i++)
        prompts[i] = 0.3f * ((float)(next(&seed) % 2001) / 1000.0f - 1.0f);
    for (int e = 0; e < N; e++) {
        ids[e][0] = 1;
        random_ids(ids[e] + 1, 39, in->vocab, &seed);
    }
    for (int s = 0; s < P * N; s++)
        seqs[s] = (lm_seq){ids[s / P], 12 + (s / P) * 2, s % P, LM_PROMPT_CAT, 1, -1, NULL};
    int l0[1] = {363}, l1[1] = {291};
    lm_label labels[2] = {{l0, 1}, {l1, 1}};
    lm_batch b = {P, 10, prompts, NULL, P * N, seqs, 2, labels, 0, 0};
    lm *on = open_share(STORIES_DIR, LM_F32, 2, LM_SHARE_AUTO, 0);
    compare(off, on, &b, 1e-5, 1, "BBT batch, default sharing");
    cr_expect_eq(lm_rows_computed(on), batch_rows(&b) - (long long)P * (N - 1) * 11,
                 "one prefix (BOS + 10 prompt rows) per prompt");
    lm_close(on);
    const int chunks[4] = {1, 40, 128, 100000};
    for (int c = 0; c < 4; c++)
        for (int threads = 1; threads <= 2; threads++) {
            on = open_share(STORIES_DIR, LM_F32, threads, LM_SHARE_ALWAYS, chunks[c]);
            char what[80];
            snprintf(what, sizeof what, "BBT batch, chunks of %d rows, %d threads", chunks[c], threads);
            compare(off, on, &b, 1e-5, 1, what);
            lm_close(on);
        }
    free(prompts);
    lm_close(off);
}

/* Sequences that share nothing (different first tokens), and one sequence alone: nothing is shared, same rows. */
Test(prefix_share, nothing_shared)
{
    lm *off = open_share(STORIES_DIR, LM_F32, 2, LM_SHARE_OFF, 0), *on = open_share(STORIES_DIR, LM_F32, 2,
                                                                                          LM_SHARE_ALWAYS, 0);
    int ids[5][10];
    unsigned seed = 3;
    lm_seq seqs[5];
    for (int s = 0; s < 5; s++) {
        random_ids(ids[s], 10, 512, &seed);
        ids[s][0] = 10 + s;
        seqs[s] = (lm_seq){ids[s], 10, 0, LM_PROMPT_NONE, 0, -1, NULL};
    }
    int l0[2] = {5, 6};
    lm_label lab = {l0, 2};
    lm_batch b = {0, 0, NULL, NULL, 5, seqs, 1, &lab, 0, 0};
    compare(off, on, &b, 1e-5, 0, "distinct first tokens");
    b.n_seqs = 1;
    compare(off, on, &b, 1e-5, 0, "one sequence");
    lm_close(off);
    lm_close(on);
}

Test(prefix_share, bad_option_is_refused)
{
    lm_options o = {.share_prefix = (lm_prefix_share)7};
    char err[256] = "";
    lm *m = NULL;
    cr_expect_eq(lm_open(&m, STORIES_DIR, &o, err, sizeof err), LM_EINVAL);
    cr_expect_null(m);
    cr_expect(strstr(err, "share_prefix"), "message: %s", err);
}
