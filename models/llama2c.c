/* llama2c.c — Karpathy's llama2.c checkpoints as a Llama weight source.
 *
 * Two layouts exist, both little-endian fp32:
 *   legacy (run.c): 7 int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
 *     means the classifier is stored separately (otherwise it is the token embedding). Then the tensors kind by kind over
 *     all layers: embedding, attention norms, wq, wk, wv, wo, ffn norms, w1, w2, w3, final norm, two unused rotary
 *     tables (seq_len × head_size/2 each), and the classifier if not shared.
 *   version 1 (export.py): uint32 magic "ak42", int32 version 1, the same 7 sizes, uint8 shared_classifier, zero padding
 *     to 256 bytes; then attention norms, ffn norms, final norm, embedding, wq, wk, wv, wo, w1, w2, w3, [classifier].
 * Matrices are [out][in] rows and q/k are in the interleaved rotary order, which is the engine's own convention.
 * The file size must match the header's sizes exactly (a truncated or padded file is reported, not guessed at).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "models/llama.h"

enum { MAGIC_AK42 = 0x616b3432, V1_HEADER = 256, LEGACY_HEADER = 28 };

typedef struct l2c {
    const char *path;
    const unsigned char *map;
    size_t size;
    size_t header;                 /* bytes before the first tensor */
    uint64_t base[LR_HEAD + 1];    /* float offset of each role's first layer; UINT64_MAX = absent */
    uint64_t per_layer[LR_HEAD + 1];
} l2c;

typedef struct l2c_header {
    int version;                   /* 0 = legacy, 1 = ak42 v1, others unsupported */
    int32_t p[7];
    int shared;
} l2c_header;

static int32_t le32(const unsigned char *b) { return (int32_t)(uint32_t)common_get_le(b, 4); }

static void parse_header(const unsigned char *b, size_t n, l2c_header *h)
{
    memset(h, 0, sizeof *h);
    h->version = -1;
    if (n >= 8 && (uint32_t)le32(b) == MAGIC_AK42) {
        h->version = le32(b + 4);
        if (n >= 4 * 9 + 1) {
            for (int i = 0; i < 7; i++)
                h->p[i] = le32(b + 8 + 4 * i);
            h->shared = b[36];
        }
        return;
    }
    if (n < LEGACY_HEADER)
        return;
    h->version = 0;
    for (int i = 0; i < 7; i++)
        h->p[i] = le32(b + 4 * i);
    h->shared = h->p[5] > 0;
    if (h->p[5] < 0 && h->p[5] != INT32_MIN)
        h->p[5] = -h->p[5];
}

static int header_cfg(const l2c_header *h, llama_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->dim = h->p[0];
    c->ffn = h->p[1];
    c->layers = h->p[2];
    c->heads = h->p[3];
    c->kv_heads = h->p[4];
    c->vocab = h->p[5];
    c->max_pos = h->p[6];
    c->head_dim = c->heads > 0 ? c->dim / c->heads : 0;
    c->eps = 1e-5f;          /* run.c's constant */
    c->rope_theta = 10000.0f;
    c->tied = h->shared;
    c->bos = 1;
    c->eos = 2;
    c->pad = -1;
    return 0;
}

/* Offsets of every role, in floats after the header; returns the total number of floats. */
static uint64_t layout(const l2c_header *h, const llama_cfg *c, uint64_t *base, uint64_t *per)
{
    uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->ffn, Lr = (uint64_t)c->layers, V = (uint64_t)c->vocab;
    uint64_t QD = (uint64_t)c->heads * c->head_dim, KVD = (uint64_t)c->kv_heads * c->head_dim;
    for (int r = 0; r <= LR_HEAD; r++)
        base[r] = per[r] = UINT64_MAX;
    per[LR_ATTN_NORM] = per[LR_FFN_NORM] = D;
    per[LR_WQ] = QD * D;
    per[LR_WK] = per[LR_WV] = KVD * D;
    per[LR_WO] = D * QD;
    per[LR_W1] = per[LR_W3] = F * D;
    per[LR_W2] = D * F;
    static const llama_role legacy[] = {LR_EMBED, LR_ATTN_NORM, LR_WQ, LR_WK, LR_WV, LR_WO, LR_FFN_NORM,
                                        LR_W1, LR_W2, LR_W3, LR_FINAL_NORM};
    static const llama_role v1[] = {LR_ATTN_NORM, LR_FFN_NORM, LR_FINAL_NORM, LR_EMBED, LR_WQ, LR_WK, LR_WV,
                                    LR_WO, LR_W1, LR_W2, LR_W3};
    const llama_role *order = h->version == 0 ? legacy : v1;
    uint64_t at = 0;
    for (int i = 0; i < 11; i++) {
        llama_role r = order[i];
        base[r] = at;
        at += r == LR_EMBED ? V * D : r == LR_FINAL_NORM ? D : per[r] * Lr;
    }
    if (h->version == 0)
        at += (uint64_t)c->max_pos * c->head_dim; /* the two unused rotary tables */
    if (!c->tied) {
        base[LR_HEAD] = at;
        at += V * D;
    }
    return at;
}

static int l2c_read(void *ctx, llama_role role, int layer, float *dst, size_t n, char *err, size_t errlen)
{
    const l2c *f = ctx;
    if (f->base[role] == UINT64_MAX) {
        snprintf(err, errlen, "%s: llama2.c checkpoints have no tensor of kind %d", f->path, (int)role);
        return -1;
    }
    uint64_t off = f->base[role] + (f->per_layer[role] == UINT64_MAX ? 0 : (uint64_t)layer * f->per_layer[role]);
    memcpy(dst, f->map + f->header + off * 4, n * sizeof(float));
    return 0;
}

static int read_header_bytes(const char *file, unsigned char *buf, size_t cap, size_t *got, size_t *size)
{
    int fd = open(file, O_RDONLY);
    struct stat sb;
    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, cap);
    close(fd);
    if (n < 0)
        return -1;
    *got = (size_t)n;
    *size = (size_t)sb.st_size;
    return 0;
}

int llama2c_probe(const char *file)
{
    unsigned char b[V1_HEADER];
    size_t got, size;
    if (read_header_bytes(file, b, sizeof b, &got, &size))
        return 0;
    l2c_header h;
    parse_header(b, got, &h);
    if (h.version > 0)
        return 1;
    if (h.version < 0)
        return 0;
    llama_cfg c;
    header_cfg(&h, &c);
    char err[8];
    if (llama_cfg_check(&c, "", err, sizeof err) || c.dim % c.heads)
        return 0;
    uint64_t base[LR_HEAD + 1], per[LR_HEAD + 1];
    return LEGACY_HEADER + 4 * layout(&h, &c, base, per) == size;
}

int llama_open_llama2c(lm *m, const char *file)
{
    unsigned char b[V1_HEADER];
    size_t got, size;
    if (read_header_bytes(file, b, sizeof b, &got, &size))
        return lm_fail(m, LM_EIO, "%s: cannot read: %s", file, strerror(errno));
    l2c_header h;
    parse_header(b, got, &h);
    if (h.version < 0)
        return lm_fail(m, LM_EFORMAT, "%s: too short for a llama2.c checkpoint (%zu bytes)", file, size);
    if (h.version > 1)
        return lm_fail(m, LM_EUNSUPPORTED, "%s: llama2.c checkpoint version %d is not supported (only the legacy "
                       "format and fp32 version 1; version 2 is int8-quantised)", file, h.version);
    llama_cfg c;
    header_cfg(&h, &c);
    char err[512];
    if (c.dim > 0 && c.heads > 0 && c.dim % c.heads)
        return lm_fail(m, LM_EFORMAT, "%s: not a llama2.c checkpoint: its header's dim %d is not a multiple of n_heads %d",
                       file, c.dim, c.heads);
    if (llama_cfg_check(&c, "", err, sizeof err))
        return lm_fail(m, LM_EFORMAT, "%s: not a llama2.c checkpoint: its header says%s", file, err + 1);
    l2c f = {.path = file, .header = h.version == 0 ? LEGACY_HEADER : V1_HEADER};
    uint64_t floats = layout(&h, &c, f.base, f.per_layer);
    if (f.header + 4 * floats != size)
        return lm_fail(m, LM_EFORMAT, "%s: the header's sizes (dim %d, hidden %d, layers %d, heads %d, kv heads %d, "
                       "vocab %d%s, seq_len %d) need %llu bytes but the file has %zu (truncated or not a llama2.c "
                       "checkpoint)", file, c.dim, c.ffn, c.layers, c.heads, c.kv_heads, c.vocab,
                       c.tied ? "" : " with a separate classifier", c.max_pos,
                       (unsigned long long)(f.header + 4 * floats), size);
    int fd = open(file, O_RDONLY);
    void *map = fd >= 0 ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (fd >= 0)
        close(fd);
    if (map == MAP_FAILED)
        return lm_fail(m, LM_EIO, "%s: cannot map: %s", file, strerror(errno));
    f.map = map;
    f.size = size;
    llama_source src = {&f, l2c_read};
    int rc = llama_create(m, &c, &src, "llama");
    munmap(map, size);
    return rc;
}
