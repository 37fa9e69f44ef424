/* lm.c — the public model interface (lm.h): opening and format detection, argument checking, the tokenizer, the
 * thread setting, and generation on top of an engine's operations (lm_impl.h). */
#include "models/lm_impl.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/files.h"
#include "models/hf.h"

/* The OpenMP team size is per calling thread; every call sets the model's and puts the caller's back. */
static int threads_enter(const lm *m)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(m->opts.threads);
    return saved;
}

static void threads_leave(int saved) { omp_set_num_threads(saved); }

/* ---- opening ---- */

typedef int (*hf_opener)(lm *m, hf_model *hf);

/* Hugging Face architectures ("architectures"[0] or "model_type") and the engine that runs each. */
static const struct {
    const char *arch;
    hf_opener open;
} hf_engines[] = {
    {"LlamaForCausalLM", llama_open_hf},   {"llama", llama_open_hf},
    {"MistralForCausalLM", llama_open_hf}, {"mistral", llama_open_hf},
    {"Qwen2ForCausalLM", llama_open_hf},   {"qwen2", llama_open_hf},
    {"GPT2LMHeadModel", gpt2_open_hf},     {"gpt2", gpt2_open_hf},
    {"BertForMaskedLM", bert_open_hf},     {"bert", bert_open_hf},
    {"RobertaForMaskedLM", bert_open_hf},  {"roberta", bert_open_hf},
};

static int is_dir(const char *p)
{
    struct stat sb;
    return !stat(p, &sb) && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return !stat(p, &sb) && S_ISREG(sb.st_mode);
}


static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        return strdup(".");
    if (slash == file)
        return strdup("/");
    return strndup(file, (size_t)(slash - file));
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int open_hf(lm *m, const char *dir)
{
    hf_model hf;
    char err[1024];
    if (hf_open(&hf, dir, err, sizeof err))
        return lm_fail(m, LM_EFORMAT, "%s", err);
    const char *arch = hf_architecture(&hf);
    int rc = -1;
    if (!arch) {
        rc = lm_fail(m, LM_EFORMAT, "%s: neither 'architectures' nor 'model_type' says what model this is",
                     hf.config_path);
    } else {
        for (size_t i = 0; i < sizeof hf_engines / sizeof *hf_engines; i++)
            if (!strcmp(arch, hf_engines[i].arch)) {
                rc = hf_engines[i].open(m, &hf);
                break;
            }
        if (rc == -1)
            rc = lm_fail(m, LM_EUNSUPPORTED, "%s: architecture '%s' is not supported (supported: Llama, Mistral, "
                         "Qwen2 and GPT-2 causal LMs; BERT and RoBERTa masked LMs)", hf.config_path, arch);
    }
    hf_close(&hf);
    return rc;
}

/* A directory without config.json: exactly one llama2.c checkpoint among its *.bin files. */
static int open_llama2c_dir(lm *m, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return lm_fail(m, LM_EIO, "%s: cannot list: %s", dir, strerror(errno));
    char *found = NULL;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".bin"))
            continue;
        char *p = common_path_join(dir, e->d_name);
        if (p && is_file(p) && llama2c_probe(p)) {
            count++;
            free(found);
            found = p;
        } else {
            free(p);
        }
    }
    closedir(d);
    int rc;
    if (count == 1)
        rc = llama_open_llama2c(m, found);
    else if (count == 0)
        rc = lm_fail(m, LM_EFORMAT, "%s: no config.json and no llama2.c checkpoint (*.bin) in this directory", dir);
    else
        rc = lm_fail(m, LM_EINVAL, "%s: %d llama2.c checkpoints in this directory; give the file instead", dir, count);
    free(found);
    return rc;
}

static int open_model(lm *m, const char *path, char **dir)
{
    if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8))
        return remote_open(m, path);
    if (is_dir(path)) {
        *dir = strdup(path);
        char *cfg = common_path_join(path, "config.json");
        int hf = cfg && is_file(cfg);
        free(cfg);
        return hf ? open_hf(m, path) : open_llama2c_dir(m, path);
    }
    if (!is_file(path))
        return lm_fail(m, LM_EIO, "%s: no such file or directory", path);
    *dir = dir_of(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!strcmp(base, "config.json") || ends_with(base, ".safetensors") || ends_with(base, ".index.json"))
        return open_hf(m, *dir);
    /* any other file is read as a llama2.c checkpoint, whose loader says precisely what does not fit */
    return llama_open_llama2c(m, path);
}

/* Does the directory hold any file a tokenizer could be read from? */
static int has_tokenizer_files(const char *dir)
{
    static const char *names[] = {"tokenizer.json", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe",
                                  "vocab.txt", "tokenizer.bin"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *p = common_path_join(dir, names[i]);
        int found = p && is_file(p);
        free(p);
        if (found)
            return 1;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)))
        found = !strncmp(e->d_name, "tok", 3) && ends_with(e->d_name, ".bin");
    if (d)
        closedir(d);
    return found;
}

static int open_tokenizer(lm *m, const char *model_dir)
{
    const char *from = m->opts.tokenizer_path ? m->opts.tokenizer_path : model_dir;
    if (!m->opts.tokenizer_path && !has_tokenizer_files(model_dir))
        return LM_OK; /* a model without a tokenizer still scores token ids */
    char err[1024];
    int rc = tokenizer_open(&m->tok, from, err, sizeof err);
    if (rc)
        return lm_fail(m, rc == TOK_ERR_NOMEM ? LM_ENOMEM : rc == TOK_ERR_IO ? LM_EIO : LM_EFORMAT, "%s", err);
    int tv = tokenizer_vocab_size(m->tok);
    if (tv > m->info.vocab)
        return lm_fail(m, LM_EFORMAT, "%s: the tokenizer has %d tokens but the model's vocabulary only %d", from, tv,
                       m->info.vocab);
    const tokenizer_specials *sp = tokenizer_get_specials(m->tok);
    int *dst[] = {&m->info.bos, &m->info.eos, &m->info.pad, &m->info.unk, &m->info.mask, &m->info.cls, &m->info.sep};
    const int src[] = {sp->bos, sp->eos, sp->pad, sp->unk, sp->mask, sp->cls, sp->sep};
    for (int i = 0; i < 7; i++)
        if (src[i] >= 0)
            *dst[i] = src[i];
    m->info.tokenizer = tokenizer_kind(m->tok);
    return LM_OK;
}

int lm_open(lm **out, const char *path, const lm_options *opts, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!out || !path) {
        if (err && errlen)
            snprintf(err, errlen, "lm_open: no output handle or no path");
        return LM_EINVAL;
    }
    lm *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return LM_ENOMEM;
    }
    if (opts)
        m->opts = *opts;
    int rc = LM_OK;
    if (m->opts.threads < 0 || m->opts.threads > LM_MAX_THREADS || m->opts.chunk_rows < 0 || (m->opts.dtype != LM_F32 && m->opts.dtype != LM_BF16) ||
        m->opts.attention < LM_ATTN_AUTO || m->opts.attention > LM_ATTN_MATMUL ||
        m->opts.share_prefix < LM_SHARE_AUTO || m->opts.share_prefix > LM_SHARE_ALWAYS)
        rc = lm_fail(m, LM_EINVAL, "lm_open: bad options (threads %d, dtype %d, chunk_rows %d, attention %d, "
                     "share_prefix %d)", m->opts.threads, (int)m->opts.dtype, m->opts.chunk_rows,
                     (int)m->opts.attention, (int)m->opts.share_prefix);
    if (!m->opts.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        m->opts.threads = n > 0 ? (int)n : 1;
    }
    char *dir = NULL;
    if (!rc) {
        int saved = threads_enter(m);
        rc = open_model(m, path, &dir);
        threads_leave(saved);
    }
    if (!rc && (dir || m->opts.tokenizer_path)) /* a remote model without one tokenizes through its service */
        rc = open_tokenizer(m, dir);
    free(dir);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s", m->err);
        lm_close(m);
        return rc;
    }
    m->info.path = m->path;
    m->info.dtype = m->opts.dtype;
    m->info.threads = m->opts.threads;
    m->err[0] = 0;
    *out = m;
    return LM_OK;
}

void lm_close(lm *m)
{
    if (!m)
        return;
    if (m->ops)
        m->ops->close(m->impl);
    tokenizer_free(m->tok);
    free(m->path);
    free(m);
}

const lm_info *lm_get_info(const lm *m) { return &m->info; }
const char *lm_errmsg(const lm *m) { return m ? m->err : "no model"; }

const float *lm_embeddings(lm *m)
{
    if (!m->embeddings)
        lm_fail(m, LM_EUNSUPPORTED, "%s: this model does not expose its embedding table", m->path);
    return m->embeddings;
}

/* ---- tokenizer ---- */

static int tok_status(int rc)
{
    return rc == TOK_ERR_NOMEM ? LM_ENOMEM : rc == TOK_ERR_IO ? LM_EIO : LM_EINVAL;
}

static int need_tokenizer(lm *m)
{
    if (m->tok)
        return LM_OK;
    return lm_fail(m, LM_EUNSUPPORTED, "%s: no tokenizer was found beside the model (set lm_options.tokenizer_path)",
                   m->path);
}

int lm_tokenize(lm *m, const char *text, size_t len, int flags, int *ids, int cap)
{
    if (!m->tok && m->ops && m->ops->tokenize)
        return m->ops->tokenize(m, text, len, flags, ids, cap);
    int rc = need_tokenizer(m);
    if (rc)
        return rc;
    rc = tokenizer_encode(m->tok, text, len, (flags & LM_TOK_SPECIAL) ? TOK_ADD_SPECIAL : 0, ids, cap);
    if (rc < 0)
        return lm_fail(m, tok_status(rc), "%s", tokenizer_errmsg(m->tok));
    return rc;
}

int lm_detokenize(lm *m, const int *ids, int n, char *buf, size_t cap)
{
    if (!m->tok && m->ops && m->ops->detokenize)
        return m->ops->detokenize(m, ids, n, buf, cap);
    int rc = need_tokenizer(m);
    if (rc)
        return rc;
    rc = tokenizer_decode(m->tok, ids, n, buf, cap);
    if (rc < 0)
        return lm_fail(m, tok_status(rc), "%s", tokenizer_errmsg(m->tok));
    return rc;
}

/* ---- checking arguments ---- */

static int check_ids(lm *m, const int *ids, int n, const char *what, int index)
{
    if (!ids)
        return lm_fail(m, LM_EINVAL, "%s %d: no token ids", what, index);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->info.vocab)
            return lm_fail(m, LM_EINVAL, "%s %d: token id %d at index %d is outside the vocabulary (0..%d)", what,
                           index, ids[i], i, m->info.vocab - 1);
    return LM_OK;
}


/* A masked LM is read at its mask token: exactly one when read_pos is -1, and at read_pos when it is given. */
static int check_mask(lm *m, const lm_seq *q, int s)
{
    int mask = m->info.mask, count = 0;
    if (m->info.kind != LM_MASKED || mask < 0)
        return LM_OK;
    for (int i = 0; i < q->n; i++)
        count += q->ids[i] == mask;
    if (q->read_pos >= 0 && q->ids[q->read_pos] != mask)
        return lm_fail(m, LM_EINVAL, "batch: sequence %d: read_pos %d holds token %d, not the mask token %d (a masked "
                       "LM is read at its mask)", s, q->read_pos, q->ids[q->read_pos], mask);
    if (q->read_pos < 0 && count == 0)
        return lm_fail(m, LM_EINVAL, "batch: sequence %d has no mask token (id %d) to read", s, mask);
    if (q->read_pos < 0 && count > 1)
        return lm_fail(m, LM_EINVAL, "batch: sequence %d has %d mask tokens (id %d); set read_pos to the one to read",
                       s, count, mask);
    return LM_OK;
}

static int check_types(lm *m, const lm_seq *q, int s)
{
    int types = m->info.type_vocab > 1 ? m->info.type_vocab : 1;
    for (int i = 0; q->type_ids && i < q->n; i++)
        if (q->type_ids[i] < 0 || q->type_ids[i] >= types)
            return lm_fail(m, LM_EINVAL, "batch: sequence %d: token type %d at index %d is outside 0..%d (the "
                           "model has %d token type%s)", s, q->type_ids[i], i, types - 1, m->info.type_vocab,
                           m->info.type_vocab == 1 ? "" : "s");
    return LM_OK;
}

static int check_seq(lm *m, const lm_batch *b, int s, int max_label)
{
    const lm_seq *q = &b->seqs[s];
    if (q->n < 1)
        return lm_fail(m, LM_EINVAL, "batch: sequence %d is empty", s);
    int rc = check_ids(m, q->ids, q->n, "batch: sequence", s);
    if (rc)
        return rc;
    if (q->read_pos < -1 || q->read_pos >= q->n)
        return lm_fail(m, LM_EINVAL, "batch: sequence %d: read_pos %d is outside the sequence (0..%d, or -1)", s,
                       q->read_pos, q->n - 1);
    if ((max_label && (rc = check_mask(m, q, s))) || (rc = check_types(m, q, s)))
        return rc;
    int read = lm_read_pos(m, q), L = b->prompt_len;
    switch (q->mode) {
    case LM_PROMPT_NONE:
        break;
    case LM_PROMPT_CAT:
    case LM_PROMPT_ADD:
        if (q->prompt < 0 || q->prompt >= b->n_prompts)
            return lm_fail(m, LM_EINVAL, "batch: sequence %d uses prompt %d but the batch has %d", s, q->prompt,
                           b->n_prompts);
        if (L < 1 || (!b->prompts && !b->deep_prompts))
            return lm_fail(m, LM_EINVAL, "batch: sequence %d uses a prompt but the batch has none (prompt_len %d)", s,
                           L);
        if (q->mode == LM_PROMPT_CAT && (q->prompt_pos < 0 || q->prompt_pos > q->n))
            return lm_fail(m, LM_EINVAL, "batch: sequence %d: cat prompt_pos %d is outside 0..%d", s, q->prompt_pos,
                           q->n);
        if (q->mode == LM_PROMPT_ADD && (q->prompt_pos < 0 || q->prompt_pos > q->n - L))
            return lm_fail(m, LM_EINVAL, "batch: sequence %d: add mode needs tokens %d..%d for the %d prompt rows "
                           "but the sequence has %d tokens", s, q->prompt_pos, q->prompt_pos + L - 1, L, q->n);
        break;
    default:
        return lm_fail(m, LM_EINVAL, "batch: sequence %d: unknown prompt mode %d", s, (int)q->mode);
    }
    /* max_label 0: lm_hidden_states, which runs every token */
    long long rows = (m->info.kind == LM_CAUSAL && max_label ? read + 1 : q->n) + (q->mode == LM_PROMPT_CAT ? L : 0);
    if (m->info.kind == LM_CAUSAL && max_label)
        rows += max_label - 1;
    if (rows > m->info.max_pos)
        return lm_fail(m, LM_EINVAL, "batch: sequence %d needs %lld positions (prompt rows and label tokens included) "
                       "but the model takes at most %d", s, rows, m->info.max_pos);
    return LM_OK;
}

/* need_labels 0: labels are ignored (lm_hidden_states), and every sequence is checked at its full length */
static int check_batch(lm *m, const lm_batch *b, const float *out, int need_labels)
{
    if (!b || !out)
        return lm_fail(m, LM_EINVAL, "%s: no batch or no output", need_labels ? "lm_score" : "lm_hidden_states");
    if (b->n_seqs < 0 || (b->n_seqs > 0 && !b->seqs) || (need_labels && (b->n_labels < 1 || !b->labels)) ||
        b->n_prompts < 0 || b->prompt_len < 0)
        return lm_fail(m, LM_EINVAL, "batch: bad counts (n_seqs %d, n_labels %d, n_prompts %d, prompt_len %d)",
                       b->n_seqs, b->n_labels, b->n_prompts, b->prompt_len);
    if ((double)b->n_prompts * m->info.layers * b->prompt_len * m->info.hidden >= 2147483647.0)
        return lm_fail(m, LM_EINVAL, "batch: %d prompts of %d rows are too many", b->n_prompts, b->prompt_len);
    int max_label = need_labels ? 1 : 0;
    for (int j = 0; need_labels && j < b->n_labels; j++) {
        if (b->labels[j].n < 1)
            return lm_fail(m, LM_EINVAL, "batch: label %d has no tokens", j);
        int rc = check_ids(m, b->labels[j].ids, b->labels[j].n, "batch: label", j);
        if (rc)
            return rc;
        int n = b->first_token_only ? 1 : b->labels[j].n;
        max_label = n > max_label ? n : max_label;
    }
    for (int s = 0; s < b->n_seqs; s++) {
        int rc = check_seq(m, b, s, max_label);
        if (rc)
            return rc;
    }
    return LM_OK;
}

int lm_score(lm *m, const lm_batch *batch, float *scores)
{
    int rc = check_batch(m, batch, scores, 1);
    if (rc || batch->n_seqs == 0)
        return rc;
    int saved = threads_enter(m);
    m->rows_computed = 0;
    rc = m->ops->score(m, batch, scores);
    threads_leave(saved);
    return rc;
}

long long lm_rows_computed(const lm *m) { return m->rows_computed; }

int lm_hidden_states(lm *m, const lm_batch *batch, int seq, float *out)
{
    if (!m->ops->hidden)
        return lm_fail(m, LM_EUNSUPPORTED, "%s: this model does not give its hidden states", m->path);
    int rc = check_batch(m, batch, out, 0);
    if (rc)
        return rc;
    if (seq < 0 || seq >= batch->n_seqs)
        return lm_fail(m, LM_EINVAL, "lm_hidden_states: sequence %d is not in the batch (0..%d)", seq,
                       batch->n_seqs - 1);
    int saved = threads_enter(m);
    rc = m->ops->hidden(m, batch, seq, out);
    threads_leave(saved);
    return rc;
}

int lm_logits(lm *m, const int *ids, int n, float *out)
{
    if (n < 1 || n > m->info.max_pos || !out)
        return lm_fail(m, LM_EINVAL, "lm_logits: %d tokens (must be 1..%d)%s", n, m->info.max_pos,
                       out ? "" : ", no output");
    int rc = check_ids(m, ids, n, "lm_logits: sequence", 0);
    if (rc)
        return rc;
    int saved = threads_enter(m);
    rc = m->ops->logits(m, ids, n, out);
    threads_leave(saved);
    return rc;
}

/* ---- generation ---- */

static int pick_token(const float *logits, int V, float temperature, uint64_t *rng)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best])
            best = i;
    if (temperature == 0.0f)
        return best;
    /* splitmix64 is enough for sampling (the tuner's random numbers live in optim/) */
    double sum = 0.0, u = (double)(common_splitmix64(rng) >> 11) * 0x1.0p-53;
    for (int i = 0; i < V; i++)
        sum += exp((double)(logits[i] - logits[best]) / temperature);
    double target = u * sum, acc = 0.0;
    for (int i = 0; i < V; i++) {
        acc += exp((double)(logits[i] - logits[best]) / temperature);
        if (acc > target)
            return i;
    }
    return best;
}

int lm_generate(lm *m, const int *ids, int n, int max_new, float temperature, uint64_t seed, int *out)
{
    if (n < 1 || max_new < 0 || !(temperature >= 0.0f) || isinf(temperature) || (max_new > 0 && !out))
        return lm_fail(m, LM_EINVAL, "lm_generate: bad arguments (%d prompt tokens, max_new %d, temperature %g)", n,
                       max_new, (double)temperature);
    if (n > m->info.max_pos)
        return lm_fail(m, LM_EINVAL, "lm_generate: %d prompt tokens exceed the model's %d positions", n,
                       m->info.max_pos);
    int rc = check_ids(m, ids, n, "lm_generate: sequence", 0);
    if (rc)
        return rc;
    if (!m->ops->next_logits)
        return lm_fail(m, LM_EUNSUPPORTED, "%s: a %s model does not generate text (it is a masked LM)", m->path,
                       m->info.arch);
    int V = m->info.vocab, cap = n + max_new < m->info.max_pos ? n + max_new : m->info.max_pos;
    int *seq = malloc((size_t)cap * sizeof *seq);
    float *logits = malloc((size_t)V * sizeof *logits);
    if (!seq || !logits) {
        free(seq), free(logits);
        return lm_fail(m, LM_ENOMEM, "out of memory");
    }
    memcpy(seq, ids, (size_t)n * sizeof *seq);
    uint64_t rng = seed;
    int len = n, made = 0, saved = threads_enter(m);
    while (len < cap) {
        if ((rc = m->ops->next_logits(m, seq, len, logits)))
            break;
        int next = pick_token(logits, V, temperature, &rng);
        /* EOS ends the text; so does BOS, which llama2.c-trained models emit between stories */
        if (next == m->info.eos || next == m->info.bos)
            break;
        seq[len++] = next;
        out[made++] = next;
    }
    threads_leave(saved);
    free(seq), free(logits);
    return rc ? rc : made;
}
