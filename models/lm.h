/* lm.h — the one interface to a forward-only language model.
 *
 * Every model the tuner can use sits behind this header: local engines (Llama family, GPT-2, BERT/RoBERTa) and remote
 * services (HTTP clients). The tuner never sees which one it talks to.
 *
 * Conventions (as in libcurl's easy API and Lua's C API):
 *   - one opaque handle `lm` passed to every call; no globals; nothing printed;
 *   - functions return 0 (LM_OK) on success or a negative lm_status; the handle keeps a message naming the file, field or
 *     value at fault, read with lm_errmsg(); lm_open, which has no handle yet, writes its message into a caller buffer;
 *   - memory a call hands out belongs to the handle and lives until lm_close, unless the comment says otherwise;
 *   - a handle serves one call at a time (it keeps scratch space and a generation cache); open one per thread if
 *     several threads score at once. Each call runs on the process's OpenMP pool with the handle's thread count and
 *     restores the caller's setting.
 */
#ifndef BBT_MODELS_LM_H
#define BBT_MODELS_LM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lm lm;

typedef enum lm_status {
    LM_OK = 0,
    LM_EIO = -1,       /* a file could not be read, or a remote call failed after its retries */
    LM_EFORMAT = -2,   /* a file is malformed: truncated, corrupt, a header that lies, a missing config key */
    LM_EUNSUPPORTED = -3, /* an architecture, dtype or feature this build does not handle */
    LM_EINVAL = -4,    /* a bad argument: token id >= vocab, position out of range, inconsistent batch */
    LM_ENOMEM = -5,    /* memory ran out (ours, or the compute backend's own out-of-memory status) */
    LM_EREMOTE = -6,   /* the remote service answered with an error or an unusable response */
    LM_EBACKEND = -7   /* the compute backend failed: the message names the oneDNN call and its status, e.g.
                          "oneDNN: dnnl_primitive_execute failed (invalid arguments) while running a matrix product" */
} lm_status;

typedef enum lm_kind { LM_CAUSAL = 0, LM_MASKED = 1 } lm_kind;
typedef enum lm_dtype { LM_F32 = 0, LM_BF16 = 1 } lm_dtype;

/* Attention implementations of the local engines (they agree within rounding; tests and benchmarks pick one). */
typedef enum lm_attention {
    LM_ATTN_AUTO = 0,
    LM_ATTN_VECTOR = 1,  /* vector loops over keys with 16 queries per step: exact fp32 softmax, best for small heads */
    LM_ATTN_MATMUL = 2   /* Q·Kᵀ and P·V as batched matrix products in the compute type (AMX for bf16) */
} lm_attention;

/* Shared-prefix reuse in causal-LM scoring. A causal model computes a row from the rows before it only, so sequences
 * of one lm_score batch that begin with the same input rows (the same tokens with the same prompt rows: in BBT every
 * example of a candidate prompt starts with BOS and the prompt) have the same states, keys and values there. With
 * sharing, such a common prefix is computed once and each sequence computes only its rows after it, attending to the
 * prefix's keys and values. The arithmetic per row is the same, so the scores are too (within the rounding of matrix
 * products of other shapes: see README). Masked LMs (every row sees every row) never share. */
typedef enum lm_prefix_share {
    LM_SHARE_AUTO = 0,   /* share common prefixes of 8+ rows (default) */
    LM_SHARE_OFF = 1,    /* compute every sequence whole (for checking and for measuring what sharing gains) */
    LM_SHARE_ALWAYS = 2  /* share common prefixes of any length, even one row (tests exercise sharing with it) */
} lm_prefix_share;

/* The most threads lm_open accepts: each thread gets a forward chunk's workspace, and far more threads than cores only
 * waste memory and time (100,000 of them exhausted the process). */
#define LM_MAX_THREADS 4096

/* The dtype of the embedding tensors a vllm endpoint receives (lm_options.wire). */
typedef enum lm_wire { LM_WIRE_BF16 = 0, LM_WIRE_F32 = 1 } lm_wire;

/* Options for lm_open. Zero-initialise, then set what you need: every zero field means "the default". */
typedef struct lm_options {
    int threads;        /* worker threads for the forward pass; 0 = number of online CPUs; at most LM_MAX_THREADS */
    lm_dtype dtype;     /* compute type of the big matrix products; weights are converted once at load.
                           LM_F32 (default) is the exact path for checking, LM_BF16 the fast one (fp32 accumulation) */
    const char *tokenizer_path; /* NULL = the tokenizer that sits beside the model (none found: lm_tokenize fails) */
    int chunk_rows;     /* local engines: rows (sequence × token) per forward chunk; 0 = chosen from the model's size.
                           Whole sequences go into a chunk; larger chunks make bigger matrix products, smaller ones stay
                           in cache. A tuning knob for benchmarks: results never depend on it */
    lm_attention attention; /* local engines: how attention is computed; LM_ATTN_AUTO (default) picks, per sequence,
                           matrix products for bf16 with heads of 32+ dimensions and 384+ rows, else the vector kernel */
    lm_prefix_share share_prefix; /* causal local engines: compute prefixes that sequences share once (default) */
    /* remote endpoints (lm_open on an http:// or https:// URL; see models/remote/README.md) */
    const char *api_key;     /* sent as "Authorization: Bearer KEY"; NULL = none. Copied by lm_open */
    const char *remote_kind; /* "bbt" (bbt serve's native route), "vllm" (/v1/completions with prompt_embeds) or
                                "sglang" (/generate with input_embeds); NULL = ask the server (GET /bbt/v1/info) */
    double timeout_s;        /* each HTTP request's total time limit in seconds (0 = 120); connecting: at most 10 s */
    int retries;             /* further attempts after a connection error, a timeout, 429 or 5xx (0 = 3; -1 = none),
                                with exponential backoff and jitter, honouring Retry-After */
    int max_inflight;        /* requests in flight at once over all endpoints ("URL,URL,…" for several): a
                                generation's requests go out together (libcurl's multi interface); 0 = up to 8 per
                                endpoint. Results never depend on it */
    /* the vllm and sglang kinds embed every sequence on the client (BOS + soft prompt + template tokens) */
    const char *embeddings_dir; /* the served model's directory or file: its tokenizer and input-embedding table
                                   (required by those kinds; read at lm_open) */
    const char *endpoint_model; /* vllm: the requests' "model"; NULL = the first id GET /v1/models lists. Copied */
    lm_wire wire;               /* vllm: prompt_embeds tensors in bf16 (default, half the bytes) or f32 (exact) */
    int request_seqs;           /* vllm, sglang: sequences per request (0 = 1024, vLLM's limit); results never
                                   depend on it */
} lm_options;

/* What a model is. Special token ids are -1 when the model has none. */
typedef struct lm_info {
    const char *arch;   /* "llama", "gpt2", "bert", "roberta", or "remote:<protocol>" */
    const char *path;   /* as given to lm_open */
    lm_kind kind;
    int hidden;         /* H: rows of a soft prompt are H floats */
    int layers;
    int heads, kv_heads, head_dim, ffn;
    int vocab;
    int max_pos;        /* longest sequence (prompt rows included) the model accepts */
    int bos, eos, pad, unk, mask, cls, sep;
    int tied;           /* the output head is the input embedding table */
    int ffn_gated;      /* the feed-forward has a gate (SwiGLU: three hidden × ffn matrices) rather than two */
    int type_vocab;     /* token types (segments) the model embeds: 2 for BERT, 1 for RoBERTa, 0 for none */
    lm_dtype dtype;     /* compute type in use */
    int threads;        /* worker threads in use */
    const char *tokenizer; /* the tokenizer's kind ("llama2c", "spm-bpe", "byte-bpe", "wordpiece"), NULL if none */
} lm_info;

/* Open a model from a directory or a file; the format is detected (llama2.c checkpoint, Hugging Face config.json +
 * safetensors, a remote endpoint URL for the HTTP clients). On failure returns a negative lm_status, sets *out = NULL and
 * writes a message naming the file and the problem into err (if err is not NULL). */
int lm_open(lm **out, const char *path, const lm_options *opts, char *err, size_t errlen);
void lm_close(lm *m);

const lm_info *lm_get_info(const lm *m);
const char *lm_errmsg(const lm *m);   /* the message of the last failed call on m ("" if none) */

/* The input token-embedding table, vocab × hidden floats, row-major, in fp32 whatever the stored dtype.
 * NULL (with a message) for a remote model whose service does not expose it. */
const float *lm_embeddings(lm *m);

/* ---- tokenizer (the model's own) ---- */

enum { LM_TOK_SPECIAL = 1 };  /* add the model's special tokens around the text (BOS; <s> … </s>; [CLS] … [SEP]) */

/* Encode len bytes of UTF-8 text. Writes up to cap ids and returns the number of ids the text needs (call again with a
 * larger buffer if that is > cap), or a negative lm_status. */
int lm_tokenize(lm *m, const char *text, size_t len, int flags, int *ids, int cap);

/* Decode ids into buf (NUL-terminated, truncated to cap). Returns the full length in bytes, or a negative lm_status. */
int lm_detokenize(lm *m, const int *ids, int n, char *buf, size_t cap);

/* ---- scoring label words under soft prompts ---- */

/* Where a prompt goes, per kind of model:
 *   causal LM (Llama, GPT-2): the prompt rows stand in for token embeddings: inserted rows take positions like tokens
 *     (the tokens after them move L positions on; GPT-2 adds their position embeddings), added rows are added onto the
 *     token embeddings;
 *   masked LM (BERT, RoBERTa): the prompt meets the embedding output, after the embedding LayerNorm: added rows are
 *     added to it; inserted rows go in as they are, with no position or token-type embedding, and the tokens keep the
 *     positions they have without the prompt (their embeddings are those of the sequence without it); every row
 *     attends to every row, the inserted ones included. */
typedef enum lm_prompt_mode {
    LM_PROMPT_NONE = 0, /* the sequence uses no prompt */
    LM_PROMPT_CAT = 1,  /* insert the prompt's L rows as extra input rows before token index `prompt_pos` */
    LM_PROMPT_ADD = 2   /* add the prompt's L rows onto the input rows of tokens prompt_pos .. prompt_pos+L-1 */
} lm_prompt_mode;

/* One input sequence. Positions are token indices into ids[], before any insertion. */
typedef struct lm_seq {
    const int *ids;
    int n;
    int prompt;          /* index of the soft prompt this sequence uses, 0 .. n_prompts-1; ignored for LM_PROMPT_NONE */
    lm_prompt_mode mode;
    int prompt_pos;
    int read_pos;        /* the row whose output is scored: the <mask> token of a masked LM; for a causal LM the last
                            token of the prefix (the label is its continuation). -1 = the last token of a causal LM;
                            for a masked LM the position of its mask token (exactly one must be there). A masked LM
                            whose mask id is known (lm_info.mask >= 0) refuses a read_pos that does not hold it. */
    const int *type_ids; /* token types (BERT's segment ids), n of them, each < max(1, lm_info.type_vocab); NULL = all
                            0. Inserted prompt rows have none. */
} lm_seq;

/* A candidate label word: a short token sequence. */
typedef struct lm_label {
    const int *ids;
    int n;
} lm_label;

typedef struct lm_batch {
    int n_prompts;       /* P */
    int prompt_len;      /* L rows per prompt */
    const float *prompts;/* P × L × H floats, row-major; may be NULL when every sequence uses LM_PROMPT_NONE */
    /* Deep (BBTv2) prompts: P × layers × L × H floats added to the input of every layer at the prompt rows.
     * NULL = none. Engines that cannot do this return LM_EUNSUPPORTED. */
    const float *deep_prompts;

    int n_seqs;
    const lm_seq *seqs;

    int n_labels;        /* the same candidate labels for every sequence, in class order */
    const lm_label *labels;
    int first_token_only;/* causal LM: score only the first token of each label (as the reference BBT code does) */
    int raw_logits;      /* causal LM: sum the label tokens' logits instead of their log-probabilities. With one-token
                            labels (or first_token_only) this differs from the log-probability score by a per-sequence
                            constant (the log-softmax normaliser), which cancels in cross-entropy over the labels, in
                            the hinge loss and in the argmax; it is cheaper: only the label rows of the output head are
                            computed. Masked LMs always return logits. */
} lm_batch;

/* Score every (sequence, label) pair into scores[s * n_labels + j]:
 *   masked LM: the logit of the label's first token at read_pos (the MLM head's output before any softmax);
 *   causal LM: the sum of the label tokens' log-probabilities following the prefix ids[0 .. read_pos]
 *   (tokens after read_pos are ignored; a multi-token label is scored as its own continuation of the prefix).
 * Sequences are independent: batching, order and padding never change a score.
 * A cat-mode prompt makes the sequence L rows longer: n + L (+ label tokens - 1) must fit in max_pos.
 * Deep prompts, when given, are added at the same rows as the input prompt (the inserted rows in cat mode, rows
 * prompt_pos .. prompt_pos+L-1 in add mode) at the input of every layer l (l = 0 is the embedding output, so in cat mode
 * with prompts == NULL the inserted rows start from zero). A masked LM's first_token_only and raw_logits are moot. */
int lm_score(lm *m, const lm_batch *batch, float *scores);

/* Rows (sequence × token, prompt and label rows included) the last successful lm_score ran through the layers: with
 * shared prefixes fewer than the batch has (a masked LM runs them all). 0 if the engine does not count them. */
long long lm_rows_computed(const lm *m);

/* The hidden states of sequence `seq` of a batch (its prompt, deep prompts and token types applied; labels ignored),
 * for checking an engine against a reference and for BBTv2's per-layer prompt scale. out receives (layers + 1) ×
 * rows × hidden floats, rows = the sequence's n tokens (all of them, also those after read_pos of a causal LM) plus
 * the L inserted rows in cat mode, in sequence order. Entry l < layers is the input of layer l (its deep prompt
 * added; entry 0 is the embedding output: for BERT/RoBERTa after the embedding LayerNorm and the prompt); entry
 * `layers` is the output of the last layer (before a pre-norm model's final norm, before a masked LM's head). */
int lm_hidden_states(lm *m, const lm_batch *batch, int seq, float *out);

/* ---- plain language-model use (checking, `bbt generate`) ---- */

/* Logits over the whole vocabulary at every position of one sequence (no prompt): out is n × vocab floats (a masked
 * LM: its MLM head at every position). */
int lm_logits(lm *m, const int *ids, int n, float *out);

/* Continue ids[0..n-1] by up to max_new tokens: greedy when temperature == 0, else sampled with the given seed.
 * Stops early at EOS (the EOS id is not written) or at max_pos. Writes the new ids into out (capacity max_new) and
 * returns how many were written, or a negative lm_status (LM_EUNSUPPORTED for a masked LM). */
int lm_generate(lm *m, const int *ids, int n, int max_new, float temperature, uint64_t seed, int *out);

/* ---- remote services: the compressed (projected) route ---- */

/* A remote service that rebuilds the projection A itself (bbt serve's native route) scores candidates from z and A's
 * description: d floats per candidate cross the network instead of L × H per example. The description is that of
 * bbt's projection (p = A·z, A drawn from the seed's own PCG stream; see bbt/projection.h): the service draws the
 * same A with its own model's σ̂. Local engines never see this form: lm_can_project says 0 and the caller projects
 * locally and calls lm_score. */
typedef struct lm_projection {
    uint64_t seed;
    const char *distribution; /* "normal" or "uniform" */
    int dim;                  /* d */
    double alpha, sigma0;
    /* BBTv2 (deep prompts): 0 = BBT's one prompt. N >= 1: each candidate z is N blocks of d values (z_0 … z_{N−1});
     * block 0 is projected as above, block l >= 1 by A_l, drawn from PCG stream PROJECTION_STREAM + l of the seed and
     * scaled by layer_std[l] in place of σ̂, and A_l·z_l is added to layer l's input at the prompt rows. */
    int layers;
    const double *layer_std;  /* N values; [0] unused (A_0 keeps the service's σ̂); NULL when layers <= 1 */
} lm_projection;

/* 1 if m scores projected batches (a remote bbt endpoint), else 0. */
int lm_can_project(const lm *m);

/* Score `count` candidates z (count × dim doubles; count × layers × dim with deep prompts) on the examples of `examples`: its seqs are the n examples (their
 * `prompt` index is ignored), prompts must be NULL, prompt_len, labels, first_token_only and raw_logits as for lm_score.
 * scores[(c·n + i)·n_labels + j] as lm_score would give for prompts A·z[c]. The example set is uploaded once and
 * recognised by its content on later calls (uploaded again if the service lost it). */
int lm_score_projected(lm *m, const lm_batch *examples, const lm_projection *proj, const double *z, int count,
                       float *scores);

/* BBTv2's per-layer scale, measured by the service on its own model: std[l] for l = 1 .. layers−1 (std[0] untouched)
 * is the standard deviation of every entry of layer l's input hidden states (lm_hidden_states) over the sequences of
 * `examples` under its one prompt (examples->prompts: 1 × prompt_len × hidden floats, or NULL for zero), clipped as
 * bbt's deep.h describes — the service runs that same code, so the numbers are a local run's. examples as for
 * lm_score_projected (labels included: the set is uploaded once and scored later under the same handle).
 * LM_EUNSUPPORTED for a model without the route (every local engine: measure with lm_hidden_states). */
int lm_layer_std(lm *m, const lm_batch *examples, int layers, double *std);

/* What remote calls have cost since lm_open (all zero for a local model). */
typedef struct lm_remote_stats {
    long long calls;      /* HTTP requests answered (every attempt) */
    long long retries;    /* attempts repeated after a transient failure */
    long long uploads;    /* example sets uploaded (a lost handle is uploaded again) */
    long long bytes_up, bytes_down; /* request and response bodies */
    long long bytes_up_scoring; /* of which scoring requests (the per-generation upload) */
    long long candidates; /* candidate prompts scored remotely */
    double server_s;      /* compute time the service reported */
    double network_s;     /* wall time of the HTTP requests, server time included */
} lm_remote_stats;
void lm_get_remote_stats(const lm *m, lm_remote_stats *out);

#ifdef __cplusplus
}
#endif
#endif
