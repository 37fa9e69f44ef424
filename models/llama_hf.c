/* llama_hf.c — Llama-family checkpoints in the Hugging Face layout as a Llama weight source.
 *
 * Covers LlamaForCausalLM, MistralForCausalLM (sliding-window attention) and Qwen2ForCausalLM (q/k/v biases).
 * Hugging Face stores q_proj and k_proj with each head's rows permuted for its rotate_half form of rotary embeddings:
 * HF row c·(d/2) + j holds the original row 2j + c. The rows are put back at load so that one rotary kernel (pairs
 * (2j, 2j+1)) serves every format.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/hf.h"
#include "models/llama.h"

typedef struct hf_src {
    hf_model *hf;
    const llama_cfg *c;
} hf_src;

/* HF's per-head rotate_half row order back to interleaved pairs; rows of k floats. */
static void unpermute_heads(float *dst, const float *src, int heads, int head_dim, size_t k)
{
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++)
        for (int c = 0; c < 2; c++)
            for (int j = 0; j < half; j++)
                memcpy(dst + ((size_t)h * head_dim + 2 * j + c) * k, src + ((size_t)h * head_dim + c * half + j) * k,
                       k * sizeof(float));
}

static int hf_src_read(void *ctx, llama_role role, int layer, float *dst, size_t n, char *err, size_t errlen)
{
    const hf_src *s = ctx;
    const llama_cfg *c = s->c;
    int64_t D = c->dim, F = c->ffn, V = c->vocab, QD = (int64_t)c->heads * c->head_dim;
    int64_t KVD = (int64_t)c->kv_heads * c->head_dim;
    char name[160];
    const char *part = NULL;
    int64_t shape[2] = {0, 0};
    int ndim = 2, heads = 0;
    switch (role) {
    case LR_EMBED: snprintf(name, sizeof name, "model.embed_tokens.weight"); shape[0] = V, shape[1] = D; break;
    case LR_FINAL_NORM: snprintf(name, sizeof name, "model.norm.weight"); shape[0] = D, ndim = 1; break;
    case LR_HEAD: snprintf(name, sizeof name, "lm_head.weight"); shape[0] = V, shape[1] = D; break;
    case LR_ATTN_NORM: part = "input_layernorm.weight"; shape[0] = D, ndim = 1; break;
    case LR_FFN_NORM: part = "post_attention_layernorm.weight"; shape[0] = D, ndim = 1; break;
    case LR_WQ: part = "self_attn.q_proj.weight"; shape[0] = QD, shape[1] = D, heads = c->heads; break;
    case LR_WK: part = "self_attn.k_proj.weight"; shape[0] = KVD, shape[1] = D, heads = c->kv_heads; break;
    case LR_WV: part = "self_attn.v_proj.weight"; shape[0] = KVD, shape[1] = D; break;
    case LR_BQ: part = "self_attn.q_proj.bias"; shape[0] = QD, ndim = 1, heads = c->heads; break;
    case LR_BK: part = "self_attn.k_proj.bias"; shape[0] = KVD, ndim = 1, heads = c->kv_heads; break;
    case LR_BV: part = "self_attn.v_proj.bias"; shape[0] = KVD, ndim = 1; break;
    case LR_WO: part = "self_attn.o_proj.weight"; shape[0] = D, shape[1] = QD; break;
    case LR_W1: part = "mlp.gate_proj.weight"; shape[0] = F, shape[1] = D; break;
    case LR_W3: part = "mlp.up_proj.weight"; shape[0] = F, shape[1] = D; break;
    case LR_W2: part = "mlp.down_proj.weight"; shape[0] = D, shape[1] = F; break;
    default: /* GPT-2's parts (gpt2.c) */
        snprintf(err, errlen, "internal: a Llama checkpoint has no weight of role %d", (int)role);
        return -1;
    }
    if (part)
        snprintf(name, sizeof name, "model.layers.%d.%s", layer, part);
    if ((size_t)(shape[0] * (ndim == 2 ? shape[1] : 1)) != n) {
        snprintf(err, errlen, "internal: %s read with a wrong size", name);
        return -1;
    }
    if (!heads)
        return hf_read(s->hf, name, ndim, shape, dst, err, errlen);
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) {
        snprintf(err, errlen, "out of memory reading %s", name);
        return -1;
    }
    int rc = hf_read(s->hf, name, ndim, shape, tmp, err, errlen);
    if (!rc)
        unpermute_heads(dst, tmp, heads, c->head_dim, ndim == 2 ? (size_t)D : 1);
    free(tmp);
    return rc;
}

/* An id from config.json: an integer, or the first of a list (Llama-3.1 lists several EOS ids); -1 if absent. */
static int token_id(const hf_model *hf, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(hf->config, key);
    if (cJSON_IsArray(v))
        v = cJSON_GetArrayItem(v, 0);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 2147483647.0 ? (int)v->valuedouble : -1;
}

static int rope_config(lm *m, const hf_model *hf, llama_cfg *c)
{
    const cJSON *rs = hf_object(hf, "rope_scaling");
    if (!rs)
        return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(type))
        type = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    const cJSON *factor = cJSON_GetObjectItemCaseSensitive(rs, "factor");
    if (!strcmp(t, "default"))
        return 0;
    if (strcmp(t, "linear") && strcmp(t, "llama3"))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: rope_scaling type '%s' is not supported (linear and llama3 are)",
                       hf->config_path, t);
    if (!cJSON_IsNumber(factor) || !(factor->valuedouble > 0))
        return lm_fail(m, LM_EFORMAT, "%s: rope_scaling needs a positive 'factor'", hf->config_path);
    c->scale_factor = (float)factor->valuedouble;
    c->scaling = ROPE_LINEAR;
    if (!strcmp(t, "llama3")) {
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(rs, "low_freq_factor");
        const cJSON *hi = cJSON_GetObjectItemCaseSensitive(rs, "high_freq_factor");
        const cJSON *om = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
        if (!cJSON_IsNumber(lo) || !cJSON_IsNumber(hi) || !cJSON_IsNumber(om) ||
            !(hi->valuedouble > lo->valuedouble) || !(om->valuedouble > 0))
            return lm_fail(m, LM_EFORMAT, "%s: llama3 rope_scaling needs low_freq_factor < high_freq_factor and "
                           "original_max_position_embeddings", hf->config_path);
        c->scaling = ROPE_LLAMA3;
        c->low_freq_factor = (float)lo->valuedouble;
        c->high_freq_factor = (float)hi->valuedouble;
        c->orig_max_pos = (int)om->valuedouble;
    }
    return 0;
}

int llama_open_hf(lm *m, hf_model *hf)
{
    const char *arch = hf_architecture(hf);
    const char *name = !strcmp(arch, "MistralForCausalLM") || !strcmp(arch, "mistral") ? "mistral"
                     : !strcmp(arch, "Qwen2ForCausalLM") || !strcmp(arch, "qwen2")   ? "qwen2"
                                                                                      : "llama";
    int qwen2 = !strcmp(name, "qwen2");
    llama_cfg c = {0};
    char err[512];
    double eps, theta;
    int mlp_bias, window = 0, use_window = !strcmp(name, "mistral");
    if (hf_int(hf, "hidden_size", &c.dim, err, sizeof err) ||
        hf_int(hf, "intermediate_size", &c.ffn, err, sizeof err) ||
        hf_int(hf, "num_hidden_layers", &c.layers, err, sizeof err) ||
        hf_int(hf, "num_attention_heads", &c.heads, err, sizeof err) ||
        hf_int(hf, "vocab_size", &c.vocab, err, sizeof err) ||
        hf_int_or(hf, "num_key_value_heads", c.heads, &c.kv_heads, err, sizeof err) ||
        hf_int_or(hf, "head_dim", c.heads > 0 ? c.dim / c.heads : 0, &c.head_dim, err, sizeof err) ||
        hf_int_or(hf, "max_position_embeddings", 2048, &c.max_pos, err, sizeof err) ||
        hf_float_or(hf, "rms_norm_eps", 1e-6, &eps, err, sizeof err) ||
        hf_float_or(hf, "rope_theta", 10000.0, &theta, err, sizeof err) ||
        hf_bool_or(hf, "tie_word_embeddings", 0, &c.tied, err, sizeof err) ||
        hf_bool_or(hf, "attention_bias", qwen2, &c.qkv_bias, err, sizeof err) ||
        hf_bool_or(hf, "mlp_bias", 0, &mlp_bias, err, sizeof err) ||
        (qwen2 && hf_bool_or(hf, "use_sliding_window", 0, &use_window, err, sizeof err)) ||
        (use_window && hf_int_or(hf, "sliding_window", 0, &window, err, sizeof err)))
        return lm_fail(m, LM_EFORMAT, "%s", err);
    const char *act = hf_string_or(hf, "hidden_act", "silu");
    if (strcmp(act, "silu"))
        return lm_fail(m, LM_EUNSUPPORTED, "%s: hidden_act '%s' is not supported (Llama-family models use silu)",
                       hf->config_path, act);
    if (mlp_bias)
        return lm_fail(m, LM_EUNSUPPORTED, "%s: mlp_bias is not supported", hf->config_path);
    if (qwen2)
        c.qkv_bias = 1; /* Qwen2's attention always has q/k/v biases */
    c.eps = (float)eps;
    c.rope_theta = (float)theta;
    c.window = window > 0 ? window : 0;
    c.bos = token_id(hf, "bos_token_id");
    c.eos = token_id(hf, "eos_token_id");
    c.pad = token_id(hf, "pad_token_id");
    int rc = rope_config(m, hf, &c);
    if (rc)
        return rc;
    if (llama_cfg_check(&c, hf->config_path, err, sizeof err))
        return lm_fail(m, LM_EFORMAT, "%s", err);
    hf_src s = {hf, &c};
    llama_source src = {&s, hf_src_read};
    return llama_create(m, &c, &src, name);
}
