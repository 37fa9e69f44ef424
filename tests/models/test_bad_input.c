/* test_bad_input.c — every kind of bad input gets a clear error naming the file/field/value, never a crash. */
#include "tests/models/models_test.h"

/* The message of a failing lm_open must contain each of the given fragments. */
static void expect_open_error(const char *path, int code, const char *frag1, const char *frag2)
{
    char err[1024] = "";
    lm *m = (lm *)1;
    int rc = lm_open(&m, path, NULL, err, sizeof err);
    cr_expect_eq(rc, code, "lm_open(%s) returned %d, want %d (%s)", path, rc, code, err);
    cr_expect_null(m, "a failed lm_open must set the handle to NULL");
    if (frag1)
        cr_expect(strstr(err, frag1), "error '%s' does not mention '%s'", err, frag1);
    if (frag2)
        cr_expect(strstr(err, frag2), "error '%s' does not mention '%s'", err, frag2);
}

/* A safetensors file with the given header (length field = hdr_len unless 0) followed by data_bytes bytes. */
static void write_st(const char *path, const char *json, uint64_t hdr_len, size_t data_bytes)
{
    size_t jn = strlen(json);
    unsigned char *buf = calloc(1, 8 + jn + data_bytes + 1);
    uint64_t n = hdr_len ? hdr_len : jn;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, json, jn);
    write_bytes(path, buf, 8 + jn + data_bytes);
    free(buf);
}

static void expect_parse_error(const char *json, uint64_t hdr_len, size_t data, const char *frag)
{
    char path[] = "/tmp/bbt-bad-st-XXXXXX", err[512] = "";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    write_st(path, json, hdr_len, data);
    st_file f;
    int rc = st_open(&f, path, err, sizeof err);
    cr_expect_neq(rc, 0, "header accepted: %s", json);
    cr_expect(strstr(err, path), "error '%s' does not name the file", err);
    cr_expect(strstr(err, frag), "error '%s' does not mention '%s'", err, frag);
    if (!rc)
        st_close(&f);
    unlink(path);
}

Test(bad_input, safetensors_headers_that_lie)
{
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    expect_parse_error(ok, 1000, 16, "runs past the end");                      /* length beyond the file */
    expect_parse_error(ok, (uint64_t)1 << 40, 16, "runs past the end");         /* huge header length */
    expect_parse_error(ok, 0, 8, "offsets past the end");                       /* data truncated */
    expect_parse_error(ok, 0, 24, "holds 24 bytes");                            /* trailing bytes */
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12, "overlapping");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 0, 16, "hole");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8, "need 12");
    expect_parse_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "unknown dtype");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8, "shape entry 0");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, 8, "begin <= end");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                       "\"data_offsets\":[0,8]}}", 0, 8, "overflows");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 0, 16, "twice");
    expect_parse_error("[1,2,3]", 0, 0, "not a JSON object");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]", 0, 0, "not a JSON object");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\"}}", 0, 0, "lacks");
    expect_parse_error("{\"__metadata__\":[1]}", 0, 0, "__metadata__");
    /* too short for the length field */
    char path[] = "/tmp/bbt-bad-st-XXXXXX", err[512];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "abc", 3), 3);
    close(fd);
    st_file f;
    cr_expect_neq(st_open(&f, path, err, sizeof err), 0);
    cr_expect(strstr(err, "too short"), "%s", err);
    unlink(path);
}

/* A small model directory to break in various ways. */
static char *model_dir(void)
{
    mw_shape s = small_shape();
    mw_model w;
    cr_assert_eq(mw_random(&w, &s, 5), 0);
    char *dir = temp_dir(), err[512];
    cr_assert_eq(mw_write_hf(&w, dir, ST_F32, 1, err, sizeof err), 0, "%s", err);
    mw_free(&w);
    return dir;
}

Test(bad_input, config_problems)
{
    char *dir = model_dir();
    edit_config(dir, "hidden_size", NULL);
    expect_open_error(dir, LM_EFORMAT, "config.json", "'hidden_size'");
    edit_config(dir, "hidden_size", cJSON_CreateString("48"));
    expect_open_error(dir, LM_EFORMAT, "config.json", "'hidden_size' must be an integer");
    edit_config(dir, "hidden_size", cJSON_CreateNumber(64)); /* sizes disagree with the tensors */
    expect_open_error(dir, LM_EFORMAT, "model.embed_tokens.weight", "[97, 48]");
    edit_config(dir, "hidden_size", cJSON_CreateNumber(48));
    edit_config(dir, "num_key_value_heads", cJSON_CreateNumber(4));
    expect_open_error(dir, LM_EFORMAT, "config.json", "multiple of the number of key/value heads");
    edit_config(dir, "num_key_value_heads", cJSON_CreateNumber(2));
    edit_config(dir, "hidden_act", cJSON_CreateString("gelu"));
    expect_open_error(dir, LM_EUNSUPPORTED, "config.json", "gelu");
    edit_config(dir, "hidden_act", cJSON_CreateString("silu"));
    edit_config(dir, "architectures", NULL);
    edit_config(dir, "model_type", cJSON_CreateString("gpt_neox"));
    expect_open_error(dir, LM_EUNSUPPORTED, "config.json", "'gpt_neox'");
    edit_config(dir, "model_type", NULL);
    expect_open_error(dir, LM_EFORMAT, "config.json", "architectures");
    edit_config(dir, "model_type", cJSON_CreateString("llama"));
    {
        cJSON *rs = cJSON_CreateObject();
        cJSON_AddStringToObject(rs, "rope_type", "yarn");
        cJSON_AddNumberToObject(rs, "factor", 4);
        edit_config(dir, "rope_scaling", rs);
        expect_open_error(dir, LM_EUNSUPPORTED, "config.json", "'yarn'");
    }
    edit_config(dir, "rope_scaling", NULL);
    lm *m = open_model(dir, LM_F32, 1); /* repaired: opens again */
    lm_close(m);
    rm_tree(dir);
}

Test(bad_input, weights_problems)
{
    char *dir = model_dir(), path[4200], other[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    /* a tensor missing: the file written without the final norm */
    mw_shape s = small_shape();
    char err[512];
    st_out t = {"model.norm.weight", ST_F32, 1, {s.dim}, (float[48]){0}};
    snprintf(other, sizeof other, "%s/other", dir);
    cr_assert_eq(st_write(other, &t, 1, err, sizeof err), 0);
    cr_assert_eq(rename(other, path), 0);
    expect_open_error(dir, LM_EFORMAT, "model.embed_tokens.weight", "no tensor");
    /* a weight of an integer dtype */
    int64_t emb_shape[2] = {s.vocab, s.dim};
    size_t bytes = (size_t)s.vocab * s.dim * 4;
    char json[256];
    snprintf(json, sizeof json, "{\"model.embed_tokens.weight\":{\"dtype\":\"I32\",\"shape\":[%lld,%lld],"
             "\"data_offsets\":[0,%zu]}}", (long long)emb_shape[0], (long long)emb_shape[1], bytes);
    write_st(path, json, 0, bytes);
    expect_open_error(dir, LM_EFORMAT, "model.embed_tokens.weight", "dtype I32");
    /* no weights at all */
    unlink(path);
    expect_open_error(dir, LM_EFORMAT, dir, "no model.safetensors");
    /* a sharded index naming a file that is not there */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const char *index = "{\"weight_map\":{\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\"}}";
    write_bytes(path, index, strlen(index));
    expect_open_error(dir, LM_EFORMAT, "model-00001-of-00002.safetensors", "cannot open");
    const char *escape = "{\"weight_map\":{\"model.embed_tokens.weight\":\"../../etc/passwd\"}}";
    write_bytes(path, escape, strlen(escape));
    expect_open_error(dir, LM_EFORMAT, "index.json", "not a file name");
    rm_tree(dir);
}

Test(bad_input, llama2c_files)
{
    char *dir = temp_dir(), path[4200];
    FILE *f = fopen(STORIES_BIN, "rb");
    cr_assert(f);
    static unsigned char buf[1056540];
    cr_assert_eq(fread(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    snprintf(path, sizeof path, "%s/truncated.bin", dir);
    write_bytes(path, buf, sizeof buf - 1000);
    expect_open_error(path, LM_EFORMAT, path, "truncated");
    expect_open_error(dir, LM_EFORMAT, dir, "no config.json and no llama2.c checkpoint");
    int32_t bad[7] = {64, 172, 5, 7, 4, 512, 512}; /* dim not a multiple of the heads */
    memcpy(buf, bad, sizeof bad);
    write_bytes(path, buf, sizeof buf);
    expect_open_error(path, LM_EFORMAT, path, "multiple of n_heads");
    int32_t neg[7] = {-64, 172, 5, 8, 4, 512, 512};
    memcpy(buf, neg, sizeof neg);
    write_bytes(path, buf, sizeof buf);
    expect_open_error(path, LM_EFORMAT, path, NULL);
    unsigned char v2[256] = {0x32, 0x34, 0x6b, 0x61, 2, 0, 0, 0};
    write_bytes(path, v2, sizeof v2);
    expect_open_error(path, LM_EUNSUPPORTED, path, "version 2");
    write_bytes(path, "xy", 2);
    expect_open_error(path, LM_EFORMAT, path, NULL);
    expect_open_error("/nonexistent/model", LM_EIO, "/nonexistent/model", "no such file");
    /* a URL is a remote model (models/remote/): nothing listens on port 1, so the retries run out */
    expect_open_error("http://localhost:1/v1", LM_EIO, "http://localhost:1/v1", "failed after");
    rm_tree(dir);
}

Test(bad_input, bad_calls)
{
    lm *m = open_model(STORIES_DIR, LM_F32, 1);
    int ids[6] = {1, 403, 407, 512, 378, 2}, out[4];
    float logits[6 * 512];
    cr_expect_eq(lm_logits(m, ids, 6, logits), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "token id 512 at index 3"), "%s", lm_errmsg(m));
    cr_expect_eq(lm_logits(m, ids, 0, logits), LM_EINVAL);
    cr_expect_eq(lm_generate(m, ids, 6, 4, 0.0f, 0, out), LM_EINVAL);
    cr_expect_eq(lm_generate(m, ids, 3, 4, -1.0f, 0, out), LM_EINVAL);
    ids[3] = 100;
    int lab_ok[1] = {5}, lab_bad[1] = {-1};
    lm_label labels[1] = {{lab_ok, 1}};
    float prompts[2 * 64] = {0}, scores[4];
    struct {
        lm_seq q;
        const char *frag;
    } cases[] = {
        {{ids, 6, 0, LM_PROMPT_ADD, 5, -1, NULL}, "add mode needs tokens 5..6"},
        {{ids, 6, 3, LM_PROMPT_CAT, 1, -1, NULL}, "uses prompt 3 but the batch has 1"},
        {{ids, 6, 0, LM_PROMPT_CAT, 7, -1, NULL}, "cat prompt_pos 7"},
        {{ids, 6, 0, LM_PROMPT_NONE, 0, 6, NULL}, "read_pos 6"},
        {{ids, 0, 0, LM_PROMPT_NONE, 0, -1, NULL}, "is empty"},
        {{ids, 6, 0, (lm_prompt_mode)9, 0, -1, NULL}, "unknown prompt mode 9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lm_batch b = {1, 2, prompts, NULL, 1, &cases[i].q, 1, labels, 0, 0};
        cr_expect_eq(lm_score(m, &b, scores), LM_EINVAL, "case %zu accepted", i);
        cr_expect(strstr(lm_errmsg(m), cases[i].frag), "case %zu: '%s' lacks '%s'", i, lm_errmsg(m), cases[i].frag);
    }
    lm_seq fine = {ids, 6, 0, LM_PROMPT_NONE, 0, -1, NULL};
    lm_label bad_labels[1] = {{lab_bad, 1}}, empty_labels[1] = {{lab_ok, 0}};
    lm_batch b1 = {0, 0, NULL, NULL, 1, &fine, 1, bad_labels, 0, 0};
    cr_expect_eq(lm_score(m, &b1, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "label 0: token id -1"), "%s", lm_errmsg(m));
    lm_batch b2 = {0, 0, NULL, NULL, 1, &fine, 1, empty_labels, 0, 0};
    cr_expect_eq(lm_score(m, &b2, scores), LM_EINVAL);
    lm_batch b3 = {1, 2, NULL, NULL, 1, &(lm_seq){ids, 6, 0, LM_PROMPT_CAT, 1, -1, NULL}, 1, labels, 0, 0};
    cr_expect_eq(lm_score(m, &b3, scores), LM_EINVAL, "a prompt mode without prompts");
    static int longseq[600];
    for (int i = 0; i < 600; i++)
        longseq[i] = 5;
    lm_batch b4 = {1, 2, prompts, NULL, 1, &(lm_seq){longseq, 511, 0, LM_PROMPT_CAT, 1, -1, NULL}, 1, labels, 0, 0};
    cr_expect_eq(lm_score(m, &b4, scores), LM_EINVAL);
    cr_expect(strstr(lm_errmsg(m), "needs 513 positions"), "%s", lm_errmsg(m));
    lm_batch ok = {1, 2, prompts, NULL, 1, &fine, 1, labels, 0, 0};
    cr_expect_eq(lm_score(m, &ok, scores), LM_OK, "%s", lm_errmsg(m));
    cr_expect_eq(lm_score(m, NULL, scores), LM_EINVAL);
    lm_close(m);
    char err[128];
    lm_options bad = {.threads = -1};
    cr_expect_eq(lm_open(&m, STORIES_DIR, &bad, err, sizeof err), LM_EINVAL);
    lm_options too_many = {.threads = LM_MAX_THREADS + 1};
    cr_expect_eq(lm_open(&m, STORIES_DIR, &too_many, err, sizeof err), LM_EINVAL);
    cr_expect(strstr(err, "threads 4097"), "%s", err);
}
