/* test_score_api.c — invariants of lm_score on stories260K (fp32): the same computation asked for in different ways
 * must give the same numbers. */
#include "tests/models/models_test.h"

enum { H = 64, V = 512, L = 5 };

/* Deterministic pseudo-random token ids in [3, V). */
static void fill_ids(int *ids, int n, unsigned seed)
{
    ids[0] = 1;
    for (int i = 1; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[i] = 3 + (int)((seed >> 16) % (V - 3));
    }
}

static void fill_prompt(float *p, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = 0.3f * ((float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f);
    }
}

static const int lab_a[1] = {363}, lab_b[2] = {291, 437}, lab_c[3] = {379, 268, 304};
static const lm_label labels[3] = {{lab_a, 1}, {lab_b, 2}, {lab_c, 3}};

static void score(lm *m, const lm_batch *b, float *out)
{
    cr_assert_eq(lm_score(m, b, out), LM_OK, "%s", lm_errmsg(m));
}

static lm_batch batch_of(const float *prompts, int P, const lm_seq *seqs, int n)
{
    return (lm_batch){P, L, prompts, NULL, n, seqs, 3, labels, 0, 0};
}

/* A prompt inserted in cat mode equals the same rows arriving as token embeddings. */
Test(score_api, cat_prompt_equals_token_embeddings)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    const float *emb = lm_embeddings(m);
    int ids[20], with[25], prompt_tokens[L] = {17, 200, 33, 499, 256};
    fill_ids(ids, 20, 5);
    float prompt[L * H];
    for (int j = 0; j < L; j++)
        memcpy(prompt + j * H, emb + (size_t)prompt_tokens[j] * H, H * sizeof(float));
    for (int pos = 0; pos <= 20; pos += 5) { /* before BOS, inside, at the very end */
        memcpy(with, ids, (size_t)pos * sizeof(int));
        memcpy(with + pos, prompt_tokens, sizeof prompt_tokens);
        memcpy(with + pos + L, ids + pos, (size_t)(20 - pos) * sizeof(int));
        lm_seq a = {ids, 20, 0, LM_PROMPT_CAT, pos, -1, NULL}, b = {with, 25, 0, LM_PROMPT_NONE, 0, -1, NULL};
        if (pos == 20) /* a prompt after the last token: the score reads the row before it */
            b.read_pos = 19;
        lm_batch ba = batch_of(prompt, 1, &a, 1), bb = batch_of(NULL, 0, &b, 1);
        float sa[3], sb[3];
        score(m, &ba, sa);
        score(m, &bb, sb);
        char what[64];
        snprintf(what, sizeof what, "cat prompt at %d", pos);
        expect_close_f(sa, sb, 3, 1e-5, what);
    }
    lm_close(m);
}

/* Add mode with an all-zero prompt is no prompt at all; a non-zero one changes the score. */
Test(score_api, add_zero_prompt_equals_none)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    int ids[30];
    fill_ids(ids, 30, 9);
    float zero[L * H] = {0}, some[L * H];
    fill_prompt(some, L * H, 3);
    lm_seq add = {ids, 30, 0, LM_PROMPT_ADD, 1, -1, NULL}, none = {ids, 30, 0, LM_PROMPT_NONE, 0, -1, NULL};
    lm_batch b0 = batch_of(zero, 1, &add, 1), b1 = batch_of(NULL, 0, &none, 1), b2 = batch_of(some, 1, &add, 1);
    float s0[3], s1[3], s2[3];
    score(m, &b0, s0);
    score(m, &b1, s1);
    score(m, &b2, s2);
    for (int j = 0; j < 3; j++)
        cr_expect_eq(s0[j], s1[j], "label %d: %.9g vs %.9g", j, (double)s0[j], (double)s1[j]);
    cr_expect(fabsf(s2[0] - s1[0]) > 1e-3f, "a non-zero added prompt left the score unchanged");
    lm_close(m);
}

/* A batch of mixed sequences scores each as if it were alone, in any order, any chunking, any thread count. */
Test(score_api, batch_equals_one_at_a_time)
{
    enum { S = 7 };
    int ids[S][40];
    int lens[S] = {12, 40, 3, 25, 18, 33, 9};
    lm_seq seqs[S], rev[S];
    float prompts[2 * L * H];
    fill_prompt(prompts, 2 * L * H, 11);
    for (int s = 0; s < S; s++) {
        fill_ids(ids[s], lens[s], 100 + s);
        lm_prompt_mode mode = s % 3 == 0 ? LM_PROMPT_CAT : s % 3 == 1 ? LM_PROMPT_ADD : LM_PROMPT_NONE;
        int pos = mode == LM_PROMPT_ADD ? (lens[s] > L + 1 ? 1 : 0) : s % 2;
        if (mode == LM_PROMPT_ADD && lens[s] < L)
            mode = LM_PROMPT_NONE;
        seqs[s] = (lm_seq){ids[s], lens[s], s % 2, mode, pos, s == 4 ? 10 : -1, NULL};
        rev[S - 1 - s] = seqs[s];
    }
    float alone[S][3], together[S * 3], reversed[S * 3];
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    for (int s = 0; s < S; s++) {
        lm_batch b = batch_of(prompts, 2, &seqs[s], 1);
        score(m, &b, alone[s]);
    }
    lm_batch all = batch_of(prompts, 2, seqs, S), all_rev = batch_of(prompts, 2, rev, S);
    score(m, &all, together);
    score(m, &all_rev, reversed);
    lm_close(m);
    for (int chunk = 0; chunk < 3; chunk++) {
        int threads = chunk == 2 ? 1 : 2;
        lm_options o = {.threads = threads, .chunk_rows = chunk == 0 ? 1 : chunk == 1 ? 64 : 100000};
        char err[256];
        cr_assert_eq(lm_open(&m, STORIES_DIR, &o, err, sizeof err), LM_OK);
        float again[S * 3];
        score(m, &all, again);
        expect_close_f(again, together, S * 3, 1e-5, "chunk sizes / threads");
        lm_close(m);
    }
    for (int s = 0; s < S; s++) {
        char what[64];
        snprintf(what, sizeof what, "sequence %d in a batch", s);
        expect_close_f(together + s * 3, alone[s], 3, 1e-5, what);
        snprintf(what, sizeof what, "sequence %d in a reversed batch", s);
        expect_close_f(reversed + (S - 1 - s) * 3, alone[s], 3, 1e-5, what);
    }
}

/* Tokens after the read position are padding: any number of them, any values, change nothing. */
Test(score_api, padding_never_changes_a_score)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    int ids[60];
    fill_ids(ids, 60, 21);
    float prompt[L * H];
    fill_prompt(prompt, L * H, 4);
    float ref[3];
    lm_seq q = {ids, 20, 0, LM_PROMPT_CAT, 1, -1, NULL};
    lm_batch b = batch_of(prompt, 1, &q, 1);
    score(m, &b, ref);
    for (int pad = 1; pad <= 40; pad += 13) {
        int padded[60];
        memcpy(padded, ids, 20 * sizeof(int));
        for (int i = 20; i < 20 + pad; i++)
            padded[i] = pad % 2 ? 0 : 2; /* <unk> or </s> padding */
        lm_seq p = {padded, 20 + pad, 0, LM_PROMPT_CAT, 1, 19, NULL};
        lm_seq mix[3] = {p, {ids, 60, 0, LM_PROMPT_NONE, 0, -1, NULL}, p};
        lm_batch bp = batch_of(prompt, 1, mix, 3);
        float s[9];
        score(m, &bp, s);
        expect_close_f(s, ref, 3, 1e-5, "padded sequence");
        expect_close_f(s + 6, ref, 3, 1e-5, "padded sequence after a long one");
    }
    lm_close(m);
}

/* Scores agree with lm_logits: log-softmax at the read row (one-token label), raw logits, first-token-only. */
Test(score_api, scores_match_logits)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    int ids[16];
    fill_ids(ids, 16, 8);
    float *lg = malloc(16 * V * sizeof *lg);
    cr_assert_eq(lm_logits(m, ids, 16, lg), LM_OK);
    lm_seq q = {ids, 16, 0, LM_PROMPT_NONE, 0, 9, NULL};
    const float *row = lg + 9 * V;
    double mx = row[0], sum = 0.0;
    for (int i = 1; i < V; i++)
        mx = fmax(mx, row[i]);
    for (int i = 0; i < V; i++)
        sum += exp(row[i] - mx);
    double lse = mx + log(sum);
    for (int variant = 0; variant < 3; variant++) {
        lm_batch b = {0, 0, NULL, NULL, 1, &q, 3, labels, variant == 1, variant == 2};
        float s[3];
        score(m, &b, s);
        if (variant == 1) {
            double want[3] = {row[363] - lse, row[291] - lse, row[379] - lse};
            expect_close(s, want, 3, 1e-5, "first token only vs log-softmax of lm_logits");
        } else {
            double want = variant == 2 ? row[363] : row[363] - lse;
            expect_close(s, &want, 1, 1e-5, variant == 2 ? "raw logit vs lm_logits" : "log-prob vs lm_logits");
        }
    }
    /* the second token of a two-token label: the logits after appending the first */
    int ext[11];
    memcpy(ext, ids, 10 * sizeof(int));
    ext[10] = 291;
    float *lg2 = malloc(11 * V * sizeof *lg2);
    cr_assert_eq(lm_logits(m, ext, 11, lg2), LM_OK);
    const float *r2 = lg2 + 10 * V;
    double mx2 = r2[0], sum2 = 0.0;
    for (int i = 1; i < V; i++)
        mx2 = fmax(mx2, r2[i]);
    for (int i = 0; i < V; i++)
        sum2 += exp(r2[i] - mx2);
    lm_batch b = {0, 0, NULL, NULL, 1, &q, 3, labels, 0, 0};
    float s[3];
    score(m, &b, s);
    double want = (row[291] - lse) + (r2[437] - mx2 - log(sum2));
    expect_close(s + 1, &want, 1, 1e-5, "two-token label vs two lm_logits calls");
    free(lg);
    free(lg2);
    lm_close(m);
}

/* Deep prompts: all zeros change nothing; a layer-0-only deep prompt in add mode is the ordinary add prompt. */
Test(score_api, deep_prompts)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    int layers = lm_get_info(m)->layers, ids[24];
    fill_ids(ids, 24, 31);
    float prompt[L * H];
    fill_prompt(prompt, L * H, 6);
    float *deep = calloc((size_t)layers * L * H, sizeof *deep);
    lm_seq q = {ids, 24, 0, LM_PROMPT_ADD, 2, -1, NULL};
    lm_batch shallow = batch_of(prompt, 1, &q, 1), with_zero_deep = shallow;
    with_zero_deep.deep_prompts = deep;
    float s0[3], s1[3], s2[3], s3[3];
    score(m, &shallow, s0);
    score(m, &with_zero_deep, s1);
    expect_close_f(s1, s0, 3, 1e-6, "zero deep prompts");
    memcpy(deep, prompt, sizeof prompt);
    lm_batch only_deep = batch_of(NULL, 1, &q, 1);
    only_deep.deep_prompts = deep;
    score(m, &only_deep, s2);
    expect_close_f(s2, s0, 3, 1e-5, "layer-0 deep prompt vs add prompt");
    deep[2 * L * H + 7] = 0.5f; /* something at layer 2 */
    score(m, &only_deep, s3);
    cr_expect(fabsf(s3[0] - s2[0]) > 1e-4f, "a deep prompt at layer 2 changed nothing");
    free(deep);
    lm_close(m);
}

Test(score_api, generate_is_deterministic_and_stops_at_max_pos)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    int ids[5] = {1, 403, 407, 261, 378}, a[20], b[20], c[20];
    cr_assert_eq(lm_generate(m, ids, 5, 20, 0.8f, 42, a), 20);
    cr_assert_eq(lm_generate(m, ids, 5, 20, 0.8f, 42, b), 20);
    cr_expect_arr_eq(a, b, sizeof a, "same seed, different samples");
    int greedy = lm_generate(m, ids, 5, 20, 0.0f, 0, c);
    cr_assert_eq(greedy, 20);
    int big[600];
    fill_ids(big, 600, 3);
    int out[10];
    cr_expect_eq(lm_generate(m, big, 510, 10, 0.0f, 0, out), 2, "generation must stop at the model's 512 positions");
    lm_close(m);
}

/* Generation reuses cached keys and values; it must pick exactly what full recomputation (lm_logits) picks, also
 * across calls that share a prefix or not. */
Test(score_api, cached_generation_equals_recomputation)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 2);
    int a[6] = {1, 403, 407, 261, 378, 29}, b[4] = {1, 403, 407, 300}, got[40], want[40];
    const int *prompts[3] = {a, b, a};
    int lens[3] = {6, 4, 6};
    for (int k = 0; k < 3; k++) { /* a, then b (shares 3 tokens), then a again */
        int made = lm_generate(m, prompts[k], lens[k], 40, 0.0f, 0, got);
        cr_assert_geq(made, 1, "%s", lm_errmsg(m));
        greedy_by_logits(m, prompts[k], lens[k], made, want, V);
        cr_expect_arr_eq(got, want, (size_t)made * sizeof(int), "prompt %d: cached generation differs", k);
    }
    lm_close(m);
}
