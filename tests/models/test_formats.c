/* test_formats.c — one set of random weights written as a llama2.c checkpoint and in the Hugging Face layout (single
 * file, sharded, F16 and BF16 tensors) must give the same model: same logits and scores within 1e-5. The Hugging Face
 * writer permutes q/k rows the way Hugging Face's conversion does, so this also checks the loader's un-permutation. */
#include "tests/models/models_test.h"

#include <sys/stat.h>

/* Round every weight of m as the dtype would (so a llama2.c file can hold the same numbers as an F16/BF16 one). */
static void round_weights(mw_model *m, st_dtype dt)
{
    const mw_shape *s = &m->s;
    size_t D = s->dim, F = s->ffn, Lr = s->layers, V = s->vocab, hd = D / s->heads;
    size_t QD = s->heads * hd, KVD = s->kv_heads * hd;
    struct {
        float *p;
        size_t n;
    } parts[] = {{m->emb, V * D},         {m->attn_norm, Lr * D},    {m->wq, Lr * QD * D}, {m->wk, Lr * KVD * D},
                 {m->wv, Lr * KVD * D},   {m->wo, Lr * D * QD},      {m->ffn_norm, Lr * D}, {m->w1, Lr * F * D},
                 {m->w2, Lr * D * F},     {m->w3, Lr * F * D},       {m->final_norm, D},    {m->head, s->tied ? 0 : V * D}};
    char path[] = "/tmp/bbt-round-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        if (!parts[i].n)
            continue;
        /* through the real writer and reader, so the rounding is exactly the files' */
        st_out t = {"x", dt, 1, {(int64_t)parts[i].n}, parts[i].p};
        char err[256];
        cr_assert_eq(st_write(path, &t, 1, err, sizeof err), 0, "%s", err);
        st_file f;
        cr_assert_eq(st_open(&f, path, err, sizeof err), 0, "%s", err);
        cr_assert_eq(st_read_f32(&f, &f.h.tensors[0], parts[i].p, err, sizeof err), 0, "%s", err);
        st_close(&f);
    }
    unlink(path);
}

/* Logits of one sequence and scores of a prompted batch. */
static void run(lm *m, float *logits, float *scores)
{
    const lm_info *in = lm_get_info(m);
    int ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = (i * 37 + 5) % in->vocab;
    cr_assert_eq(lm_logits(m, ids, 20, logits), LM_OK, "%s", lm_errmsg(m));
    float prompts[2 * 3 * 64];
    for (int i = 0; i < 2 * 3 * in->hidden; i++)
        prompts[i] = 0.2f * (float)((i * 7919) % 101 - 50) / 50.0f;
    int l0[1] = {3}, l1[2] = {7, 11};
    lm_label labels[2] = {{l0, 1}, {l1, 2}};
    lm_seq seqs[3] = {{ids, 20, 0, LM_PROMPT_CAT, 1, -1, NULL}, {ids, 15, 1, LM_PROMPT_ADD, 2, 12, NULL},
                      {ids + 3, 9, 0, LM_PROMPT_NONE, 0, -1, NULL}};
    lm_batch b = {2, 3, prompts, NULL, 3, seqs, 2, labels, 0, 0};
    cr_assert_eq(lm_score(m, &b, scores), LM_OK, "%s", lm_errmsg(m));
}

static void same_model(const mw_shape *shape, st_dtype dt, int shards)
{
    mw_model w;
    cr_assert_eq(mw_random(&w, shape, 77), 0);
    if (dt != ST_F32)
        round_weights(&w, dt);
    char *dir = temp_dir(), l2c[4200], hf[4200], err[512];
    snprintf(l2c, sizeof l2c, "%s/model.bin", dir);
    snprintf(hf, sizeof hf, "%s/hf", dir);
    cr_assert_eq(mw_write_llama2c(&w, l2c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mw_write_hf(&w, hf, dt, shards, err, sizeof err), 0, "%s", err);
    mw_free(&w);
    lm *a = open_model(l2c, LM_F32, 2), *b = open_model(hf, LM_F32, 2);
    const lm_info *ia = lm_get_info(a), *ib = lm_get_info(b);
    cr_expect_eq(ia->vocab, ib->vocab);
    cr_expect_eq(ia->kv_heads, ib->kv_heads);
    cr_expect_eq(ia->tied, ib->tied);
    cr_expect_str_eq(ib->arch, "llama");
    cr_expect_arr_eq(lm_embeddings(a), lm_embeddings(b), (size_t)ia->vocab * ia->hidden * sizeof(float));
    float *la = malloc(20 * (size_t)ia->vocab * sizeof *la), *lb = malloc(20 * (size_t)ia->vocab * sizeof *lb);
    float sa[6], sb[6];
    run(a, la, sa);
    run(b, lb, sb);
    expect_close_f(lb, la, 20 * ia->vocab, 1e-5, "logits, HF vs llama2.c");
    expect_close_f(sb, sa, 6, 1e-5, "scores, HF vs llama2.c");
    free(la);
    free(lb);
    lm_close(a);
    lm_close(b);
    rm_tree(dir);
}

Test(formats, hf_f32_single_file_equals_llama2c)
{
    mw_shape s = small_shape();
    same_model(&s, ST_F32, 1);
}

Test(formats, hf_sharded_equals_llama2c)
{
    mw_shape s = small_shape();
    same_model(&s, ST_F32, 3);
}

Test(formats, hf_bf16_tensors_equal_llama2c)
{
    mw_shape s = small_shape();
    same_model(&s, ST_BF16, 2);
}

Test(formats, hf_f16_tensors_equal_llama2c)
{
    mw_shape s = small_shape();
    same_model(&s, ST_F16, 1);
}

Test(formats, tied_head_and_full_attention)
{
    mw_shape s = small_shape();
    s.tied = 1;
    s.kv_heads = s.heads;
    same_model(&s, ST_F32, 1);
}

/* A directory's file, the config.json path and a shard path all open the same model. */
Test(formats, open_by_file_or_directory)
{
    mw_shape s = small_shape();
    mw_model w;
    cr_assert_eq(mw_random(&w, &s, 3), 0);
    char *dir = temp_dir(), err[512], p[4200];
    cr_assert_eq(mw_write_hf(&w, dir, ST_F32, 1, err, sizeof err), 0, "%s", err);
    mw_free(&w);
    const char *names[] = {"", "/config.json", "/model.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", dir, names[i]);
        lm *m = open_model(p, LM_F32, 1);
        cr_expect_eq(lm_get_info(m)->layers, s.layers);
        cr_expect_null(lm_get_info(m)->tokenizer, "no tokenizer files, yet one was opened");
        int ids[2] = {1, 2};
        cr_expect_lt(lm_tokenize(m, "a", 1, 0, ids, 2), 0, "tokenize without a tokenizer must fail");
        lm_close(m);
    }
    rm_tree(dir);
}

/* safetensors round trip of the conversions: bf16 and f16 rounding, f16 subnormals and overflow. */
Test(formats, safetensors_dtype_round_trip)
{
    float v[] = {0.0f, -0.0f, 1.0f, -2.5f, 3.14159265f, 65504.0f, 70000.0f, 1e-5f, 6.0e-8f, 2.9e-8f, 1e-30f,
                 INFINITY, 1.00390625f, 1.01171875f};
    int n = sizeof v / sizeof *v;
    /* expected after f16: 70000 overflows, 1e-5 is a subnormal, 6e-8 rounds to the smallest subnormal 2^-24,
     * 2.9e-8 (below half of it) to 0 */
    float f16[] = {0.0f, -0.0f, 1.0f, -2.5f, 3.140625f, 65504.0f, INFINITY, 1.001358032e-05f, 5.960464478e-08f, 0.0f,
                   0.0f, INFINITY, 1.00390625f, 1.01171875f};
    /* bf16 keeps 8 bits: 1.00390625 is a tie that rounds to even (1.0); 1.01171875 is a tie rounding up */
    float bf16[] = {0.0f, -0.0f, 1.0f, -2.5f, 3.140625f, 65536.0f, 70144.0f, 1.001358032e-05f, 5.98e-08f, 2.9e-8f,
                    1e-30f, INFINITY, 1.0f, 1.015625f};
    char path[] = "/tmp/bbt-st-XXXXXX", err[256];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    st_out t[3] = {{"a", ST_F32, 1, {n}, v}, {"b", ST_F16, 1, {n}, v}, {"c", ST_BF16, 1, {n}, v}};
    cr_assert_eq(st_write(path, t, 3, err, sizeof err), 0, "%s", err);
    st_file f;
    cr_assert_eq(st_open(&f, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(f.h.n, 3);
    cr_expect_eq(f.h.data_start % 8, 0, "data not 8-byte aligned");
    float out[32];
    cr_assert_eq(st_read_f32(&f, st_find(&f.h, "a"), out, err, sizeof err), 0);
    cr_expect_arr_eq(out, v, sizeof v);
    cr_assert_eq(st_read_f32(&f, st_find(&f.h, "b"), out, err, sizeof err), 0);
    for (int i = 0; i < n; i++)
        cr_expect(out[i] == f16[i] || fabsf(out[i] - f16[i]) <= 1e-9f * fabsf(f16[i]), "f16 %d: %.10g, want %.10g",
                  i, (double)out[i], (double)f16[i]);
    cr_assert_eq(st_read_f32(&f, st_find(&f.h, "c"), out, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        int tiny = i >= 8 && i <= 10; /* no hand-computed value: within bf16's half-ulp of the input */
        cr_expect(tiny ? fabsf(out[i] - v[i]) <= 0x1p-9f * fabsf(v[i]) : out[i] == bf16[i],
                  "bf16 %d: %.10g, want %.10g", i, (double)out[i], (double)(tiny ? v[i] : bf16[i]));
    }
    cr_expect_eq(out[12], 1.0f, "bf16 tie must round to even");
    cr_expect_eq(out[13], 1.015625f, "bf16 tie must round to even (up)");
    st_close(&f);
    unlink(path);
}

/* Auto attention sends long sequences (bf16, heads of 32+) to the matrix products and short ones to the vector kernel,
 * within one batch: each sequence must get what its path gives it alone. */
Test(formats, auto_attention_splits_by_length)
{
    mw_shape s = {64, 96, 2, 2, 1, 50, 512, 1, 0, 0}; /* head size 32 */
    mw_model w;
    cr_assert_eq(mw_random(&w, &s, 9), 0);
    char *dir = temp_dir(), err[512];
    cr_assert_eq(mw_write_hf(&w, dir, ST_F32, 1, err, sizeof err), 0, "%s", err);
    mw_free(&w);
    static int ids[450];
    for (int i = 0; i < 450; i++)
        ids[i] = (i * 7 + 3) % 50;
    int l0[1] = {5}, l1[2] = {6, 7};
    lm_label labels[2] = {{l0, 1}, {l1, 2}};
    lm_seq seqs[2] = {{ids, 420, 0, LM_PROMPT_NONE, 0, -1, NULL}, {ids + 5, 40, 0, LM_PROMPT_NONE, 0, -1, NULL}};
    float mixed[4], alone[4];
    lm_attention modes[3] = {LM_ATTN_AUTO, LM_ATTN_MATMUL, LM_ATTN_VECTOR};
    for (int k = 0; k < 3; k++) {
        lm_options o = {.threads = 2, .dtype = LM_BF16, .attention = modes[k]};
        lm *m;
        cr_assert_eq(lm_open(&m, dir, &o, err, sizeof err), LM_OK, "%s", err);
        if (k == 0) {
            lm_batch b = {0, 0, NULL, NULL, 2, seqs, 2, labels, 0, 0};
            cr_assert_eq(lm_score(m, &b, mixed), LM_OK, "%s", lm_errmsg(m));
        } else {
            lm_batch b = {0, 0, NULL, NULL, 1, &seqs[k - 1], 2, labels, 0, 0}; /* long by matmul, short by vector */
            cr_assert_eq(lm_score(m, &b, alone + 2 * (k - 1)), LM_OK, "%s", lm_errmsg(m));
        }
        lm_close(m);
    }
    expect_close_f(mixed, alone, 4, 1e-5, "auto attention vs each path alone");
    rm_tree(dir);
}

/* A tokenizer given by path: used when it fits the model's vocabulary, refused with a clear message when larger. */
Test(formats, tokenizer_path_option)
{
    const char *tok = STORIES_DIR "/tok512.bin";
    char err[512];
    for (int vocab = 97; vocab <= 512; vocab += 415) {
        mw_shape s = small_shape();
        s.vocab = vocab;
        mw_model w;
        cr_assert_eq(mw_random(&w, &s, 4), 0);
        char *dir = temp_dir();
        cr_assert_eq(mw_write_hf(&w, dir, ST_F32, 1, err, sizeof err), 0, "%s", err);
        mw_free(&w);
        lm_options o = {.threads = 1, .tokenizer_path = tok};
        lm *m = NULL;
        int rc = lm_open(&m, dir, &o, err, sizeof err);
        if (vocab < 512) {
            cr_expect_eq(rc, LM_EFORMAT);
            cr_expect(strstr(err, "512 tokens") && strstr(err, "only 97"), "%s", err);
        } else {
            cr_assert_eq(rc, LM_OK, "%s", err);
            int ids[16];
            cr_expect_eq(lm_tokenize(m, "Once upon a time", 16, LM_TOK_SPECIAL, ids, 16), 5);
            cr_expect_eq(ids[1], 403);
            cr_expect_str_eq(lm_get_info(m)->tokenizer, "llama2c");
            lm_close(m);
        }
        rm_tree(dir);
    }
}
