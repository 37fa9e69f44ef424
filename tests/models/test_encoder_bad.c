/* test_encoder_bad.c — BERT, RoBERTa and GPT-2: bad model directories and bad batches get clear errors naming what is
 * wrong, never a crash; and the masked-LM rules of lm.h (read at the mask, token types, no generation). */
#include "tests/models/models_test.h"

/* A small random model of the architecture in a fresh directory, with the test tokenizer files when tok is set. */
static char *xmodel(mw_arch arch, int vocab, int tok)
{
    mw_xshape s = {arch, 32, 64, 2, 4, vocab, 64, arch == MW_BERT ? 2 : 1, 0};
    char *dir = temp_dir(), err[512], cmd[4300];
    cr_assert_eq(mw_write_xformer(&s, 7, dir, ST_F32, err, sizeof err), 0, "%s", err);
    if (tok) {
        snprintf(cmd, sizeof cmd, "cp tests/models/data/%s/* '%s'/",
                 arch == MW_BERT ? "bert" : arch == MW_ROBERTA ? "roberta" : "gpt2", dir);
        cr_assert_eq(system(cmd), 0);
    }
    return dir;
}

static void expect_open(const char *dir, int code, const char *frag1, const char *frag2)
{
    char err[1024] = "";
    lm *m = NULL;
    int rc = lm_open(&m, dir, NULL, err, sizeof err);
    cr_expect_eq(rc, code, "lm_open(%s) returned %d, want %d (%s)", dir, rc, code, err);
    cr_expect_null(m);
    cr_expect(strstr(err, frag1), "error '%s' does not mention '%s'", err, frag1);
    if (frag2)
        cr_expect(strstr(err, frag2), "error '%s' does not mention '%s'", err, frag2);
}

/* Rewrite dir/model.safetensors without the tensor `drop`. */
static void drop_tensor(const char *dir, const char *drop)
{
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    cr_assert_eq(st_open(&f, path, err, sizeof err), 0, "%s", err);
    st_out *out = calloc((size_t)f.h.n, sizeof *out);
    float **data = calloc((size_t)f.h.n, sizeof *data);
    int n = 0;
    for (int i = 0; i < f.h.n; i++) {
        const st_tensor *t = &f.h.tensors[i];
        if (!strcmp(t->name, drop))
            continue;
        data[n] = malloc((size_t)st_numel(t) * sizeof(float));
        cr_assert_eq(st_read_f32(&f, t, data[n], err, sizeof err), 0, "%s", err);
        out[n] = (st_out){t->name, ST_F32, t->ndim, {0}, data[n]};
        memcpy(out[n].shape, t->shape, sizeof t->shape);
        n++;
    }
    cr_assert_eq(n, f.h.n - 1, "no tensor %s to drop", drop);
    cr_assert_eq(st_write(path, out, n, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++)
        free(data[i]);
    free(data), free(out);
    st_close(&f);
}

Test(encoder_bad, config_problems)
{
    char *dir = xmodel(MW_BERT, 61, 0);
    edit_config(dir, "hidden_size", cJSON_CreateNumber(48)); /* sizes disagree with the tensors */
    expect_open(dir, LM_EFORMAT, "bert.embeddings.word_embeddings.weight", "[61, 48]");
    edit_config(dir, "hidden_size", cJSON_CreateNumber(32));
    edit_config(dir, "intermediate_size", cJSON_CreateNumber(65));
    expect_open(dir, LM_EFORMAT, "intermediate.dense.weight", "[65, 32]");
    edit_config(dir, "intermediate_size", cJSON_CreateNumber(64));
    edit_config(dir, "type_vocab_size", cJSON_CreateNumber(3));
    expect_open(dir, LM_EFORMAT, "token_type_embeddings", "[3, 32]");
    edit_config(dir, "type_vocab_size", cJSON_CreateNumber(2));
    edit_config(dir, "num_attention_heads", cJSON_CreateNumber(5));
    expect_open(dir, LM_EFORMAT, "config.json", "multiple of num_attention_heads");
    edit_config(dir, "num_attention_heads", cJSON_CreateNumber(4));
    edit_config(dir, "hidden_act", cJSON_CreateString("relu"));
    expect_open(dir, LM_EUNSUPPORTED, "config.json", "hidden_act 'relu'");
    edit_config(dir, "hidden_act", cJSON_CreateString("gelu"));
    edit_config(dir, "position_embedding_type", cJSON_CreateString("relative_key"));
    expect_open(dir, LM_EUNSUPPORTED, "config.json", "'relative_key'");
    edit_config(dir, "position_embedding_type", NULL);
    edit_config(dir, "layer_norm_eps", cJSON_CreateNumber(0));
    expect_open(dir, LM_EFORMAT, "config.json", "layer_norm_eps must be positive");
    edit_config(dir, "layer_norm_eps", NULL);
    edit_config(dir, "vocab_size", NULL);
    expect_open(dir, LM_EFORMAT, "config.json", "'vocab_size'");
    edit_config(dir, "vocab_size", cJSON_CreateNumber(61));
    lm *m = open_model(dir, LM_F32, 1); /* repaired: opens again */
    lm_close(m);
    rm_tree(dir);

    dir = xmodel(MW_ROBERTA, 61, 0);
    edit_config(dir, "max_position_embeddings", cJSON_CreateNumber(1));
    expect_open(dir, LM_EFORMAT, "config.json", "pad_token_id + 1");
    rm_tree(dir);

    dir = xmodel(MW_GPT2, 61, 0);
    edit_config(dir, "n_head", cJSON_CreateNumber(5));
    expect_open(dir, LM_EFORMAT, "config.json", "n_embd 32 is not a multiple of n_head 5");
    edit_config(dir, "n_head", cJSON_CreateNumber(4));
    edit_config(dir, "n_positions", cJSON_CreateNumber(80));
    expect_open(dir, LM_EFORMAT, "transformer.wpe.weight", "[80, 32]");
    edit_config(dir, "n_positions", cJSON_CreateNumber(64));
    edit_config(dir, "activation_function", cJSON_CreateString("mish")); /* swish is accepted (= silu) */
    expect_open(dir, LM_EUNSUPPORTED, "config.json", "'mish'");
    edit_config(dir, "activation_function", NULL);
    edit_config(dir, "scale_attn_by_inverse_layer_idx", cJSON_CreateTrue());
    expect_open(dir, LM_EUNSUPPORTED, "config.json", "scale_attn_by_inverse_layer_idx");
    rm_tree(dir);
}

Test(encoder_bad, missing_tensors)
{
    char *dir = xmodel(MW_ROBERTA, 61, 0);
    drop_tensor(dir, "lm_head.dense.weight");
    expect_open(dir, LM_EFORMAT, "lm_head.dense.weight", "no masked-LM head");
    rm_tree(dir);
    dir = xmodel(MW_BERT, 61, 0);
    drop_tensor(dir, "bert.encoder.layer.1.output.LayerNorm.bias");
    expect_open(dir, LM_EFORMAT, "bert.encoder.layer.1.output.LayerNorm.bias", "no tensor");
    rm_tree(dir);
    dir = xmodel(MW_BERT, 61, 0);
    drop_tensor(dir, "bert.embeddings.word_embeddings.weight");
    expect_open(dir, LM_EFORMAT, "bert.embeddings.word_embeddings.weight", "not a BERT masked LM");
    rm_tree(dir);
    dir = xmodel(MW_GPT2, 61, 0);
    drop_tensor(dir, "transformer.h.1.attn.c_attn.bias");
    expect_open(dir, LM_EFORMAT, "transformer.h.1.attn.c_attn.bias", "no tensor");
    rm_tree(dir);
    dir = xmodel(MW_GPT2, 61, 0);
    edit_config(dir, "tie_word_embeddings", cJSON_CreateFalse());
    expect_open(dir, LM_EFORMAT, "lm_head.weight", "tie_word_embeddings is false");
    rm_tree(dir);
}

Test(encoder_bad, tokenizer_files)
{
    char *dir = xmodel(MW_ROBERTA, 420, 1), path[4200];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    unlink(path);
    expect_open(dir, LM_EIO, "merges.txt", NULL);
    write_bytes(path, "#version: 0.2\nq zz\n", 19);
    expect_open(dir, LM_EFORMAT, "merges.txt: line 2", "\"zz\" is not in the vocabulary");
    rm_tree(dir);
    dir = xmodel(MW_ROBERTA, 300, 1); /* 411 tokens for a vocabulary of 300 */
    expect_open(dir, LM_EFORMAT, "the tokenizer has 411 tokens", "vocabulary only 300");
    rm_tree(dir);
}

/* The masked-LM rules of lm_score: read at the mask, token types in range, no generation; bad hidden-state calls. */
Test(encoder_bad, masked_batches)
{
    char *dir = xmodel(MW_ROBERTA, 420, 1);
    lm *m = open_model(dir, LM_F32, 2);
    const lm_info *in = lm_get_info(m);
    cr_assert_eq(in->mask, 410);
    cr_assert_eq(in->kind, LM_MASKED);
    cr_assert_eq(in->type_vocab, 1);
    int ids[8] = {0, 40, 41, 42, 410, 43, 2, 0}, two[8] = {0, 410, 41, 42, 410, 43, 2, 0}, lab[1] = {50};
    lm_label labels[1] = {{lab, 1}};
    float prompts[2 * 32] = {0}, scores[2], a[1], b[1];
    lm_seq q = {ids, 7, 0, LM_PROMPT_NONE, 0, -1, NULL};
    lm_batch batch = {1, 2, prompts, NULL, 1, &q, 1, labels, 0, 0};
    cr_assert_eq(lm_score(m, &batch, a), LM_OK, "%s", lm_errmsg(m));
    q.read_pos = 4; /* the same mask named explicitly */
    cr_assert_eq(lm_score(m, &batch, b), LM_OK, "%s", lm_errmsg(m));
    cr_expect_eq(a[0], b[0]);
    q.read_pos = 3;
    cr_expect_eq(lm_score(m, &batch, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "read_pos 3 holds token 42, not the mask token 410"), "%s", lm_errmsg(m));
    ids[4] = 44;
    q.read_pos = -1;
    cr_expect_eq(lm_score(m, &batch, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "sequence 0 has no mask token (id 410)"), "%s", lm_errmsg(m));
    q.ids = two;
    cr_expect_eq(lm_score(m, &batch, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "has 2 mask tokens"), "%s", lm_errmsg(m));
    q.read_pos = 1;
    cr_expect_eq(lm_score(m, &batch, scores), LM_OK, "%s", lm_errmsg(m));
    int types[7] = {0, 0, 0, 1, 0, 0, 0};
    q.type_ids = types;
    cr_expect_eq(lm_score(m, &batch, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "token type 1 at index 3 is outside 0..0"), "%s", lm_errmsg(m));
    q.type_ids = NULL;
    q.mode = LM_PROMPT_CAT;
    q.prompt_pos = 1;
    static int longseq[64];
    for (int i = 0; i < 64; i++)
        longseq[i] = i == 30 ? 410 : 7;
    q.ids = longseq, q.n = 63, q.read_pos = -1;
    cr_expect_eq(lm_score(m, &batch, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "needs 65 positions"), "%s", lm_errmsg(m));
    q.n = 62;
    cr_expect_eq(lm_score(m, &batch, scores), LM_OK, "%s", lm_errmsg(m));
    /* hidden states: the sequence must be in the batch; they need no mask */
    float *hs = malloc((size_t)3 * 64 * 32 * sizeof *hs);
    cr_expect_eq(lm_hidden_states(m, &batch, 1, hs), LM_EINVAL);
    q.ids = ids, q.n = 7, q.mode = LM_PROMPT_NONE;
    cr_expect_eq(lm_hidden_states(m, &batch, 0, hs), LM_OK, "%s", lm_errmsg(m));
    free(hs);
    /* a masked LM does not generate */
    int out[4];
    cr_expect_eq(lm_generate(m, ids, 3, 4, 0.0f, 0, out), LM_EUNSUPPORTED);
    cr_expect(strstr(lm_errmsg(m), "masked LM"), "%s", lm_errmsg(m));
    lm_close(m);
    rm_tree(dir);

    dir = xmodel(MW_BERT, 61, 0); /* BERT has two token types; no tokenizer, so no mask id: read where told */
    m = open_model(dir, LM_F32, 1);
    cr_assert_eq(lm_get_info(m)->mask, -1);
    int bids[5] = {2, 9, 10, 11, 3}, btypes[5] = {0, 0, 1, 2, 1};
    lm_seq bq = {bids, 5, 0, LM_PROMPT_NONE, 0, 2, btypes};
    lm_batch bb = {0, 0, NULL, NULL, 1, &bq, 1, labels, 0, 0};
    lab[0] = 5;
    cr_expect_eq(lm_score(m, &bb, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "token type 2 at index 3 is outside 0..1"), "%s", lm_errmsg(m));
    btypes[3] = 1;
    cr_expect_eq(lm_score(m, &bb, scores), LM_OK, "%s", lm_errmsg(m));
    lm_close(m);
    rm_tree(dir);
}
