/* gemm.c — oneDNN matmul behind gemm.h: packing once, a small primitive cache, per-thread streams and scratchpads. */
#include "models/gemm.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

enum {
    MAX_SLOTS = 256,      /* products that may run at once (each needs a stream and a scratchpad of its own) */
    CACHE_CAP = 512,      /* primitives kept; the least recently used goes first */
    PROBE_M = 512         /* rows assumed when choosing a packed layout (the layout does not depend on M) */
};

enum { KEY_LEN = 18 };

typedef struct prim {
    int key[KEY_LEN];     /* what it computes: the kind of product and its shapes */
    int users;            /* calls executing it now; never evicted while > 0 */
    dnnl_primitive_t p;
    size_t scratch_bytes;
    struct prim *next;
} prim;

/* What one running product needs for itself. Slots are lent per call rather than tied to OpenMP thread numbers,
 * which repeat across nested parallel regions (two outer threads each inside an inner region are both thread 0). */
typedef struct slot {
    int busy;
    dnnl_stream_t stream;
    void *scratch;
    size_t cap;
} slot;

struct gemm_ctx {
    act_type type;
    dnnl_engine_t engine;
    pthread_mutex_t lock;
    prim *cache;          /* most recently used first */
    int cached;
    slot slots[MAX_SLOTS];
};

static dnnl_data_type_t dnnl_type(act_type t) { return t == ACT_BF16 ? dnnl_bf16 : dnnl_f32; }

/* A failed oneDNN call: "oneDNN: CALL failed (STATUS) while WHAT". Its own out-of-memory status is a memory failure
 * (GEMM_ENOMEM), any other status the backend's (GEMM_EBACKEND). */
static int fail(char *err, size_t errlen, const char *call, const char *what, dnnl_status_t st)
{
    if (err && errlen)
        snprintf(err, errlen, "oneDNN: %s failed (%s) while %s", call, dnnl_status2str(st), what);
    return st == dnnl_out_of_memory ? GEMM_ENOMEM : GEMM_EBACKEND;
}

/* Which oneDNN call a chain of calls failed in: st is set by each step, call names it. */
#define DNNL_TRY(st, call, fn, ...) ((st) == dnnl_success ? ((st) = fn(__VA_ARGS__), (call) = #fn, (st)) : (st))

static dnnl_status_t matmul_pd(gemm_ctx *g, dnnl_primitive_desc_t *pd, int m, int k, int n, int lda, int ldc,
                               const dnnl_memory_desc_t *wmd, int ep, int bias);

int gemm_ctx_create(gemm_ctx **out, act_type t, char *err, size_t errlen)
{
    *out = NULL;
    gemm_ctx *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return GEMM_ENOMEM;
    }
    g->type = t;
    dnnl_status_t st = dnnl_engine_create(&g->engine, dnnl_cpu, 0);
    if (st != dnnl_success) {
        free(g);
        return fail(err, errlen, "dnnl_engine_create", "creating the CPU engine", st);
    }
    pthread_mutex_init(&g->lock, NULL);
    if (t == ACT_BF16) { /* oneDNN has bf16 products only on CPUs with AVX-512 (AMX, AVX512_BF16 or emulation) */
        dnnl_primitive_desc_t pd;
        dnnl_memory_desc_t any;
        dnnl_dims_t dims = {64, 64};
        dnnl_memory_desc_init_by_tag(&any, 2, dims, dnnl_bf16, dnnl_format_tag_any);
        st = matmul_pd(g, &pd, 64, 64, 64, 64, 64, &any, GEMM_STORE, 0);
        if (st != dnnl_success) {
            gemm_ctx_free(g);
            if (err && errlen)
                snprintf(err, errlen, "bf16 matrix products are not available on this CPU (oneDNN: %s; they need "
                         "AVX-512): use the fp32 compute type", dnnl_status2str(st));
            return GEMM_EUNSUPPORTED;
        }
        dnnl_primitive_desc_destroy(pd);
    }
    *out = g;
    return 0;
}

void gemm_ctx_free(gemm_ctx *g)
{
    if (!g)
        return;
    for (prim *p = g->cache, *next; p; p = next) {
        next = p->next;
        dnnl_primitive_destroy(p->p);
        free(p);
    }
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (g->slots[i].stream)
            dnnl_stream_destroy(g->slots[i].stream);
        free(g->slots[i].scratch);
    }
    dnnl_engine_destroy(g->engine);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

act_type gemm_ctx_type(const gemm_ctx *g) { return g->type; }

static void md_2d(dnnl_memory_desc_t *md, int rows, int cols, int ld, dnnl_data_type_t t)
{
    dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
    dnnl_memory_desc_init_by_strides(md, 2, dims, t, strides);
}

/* The weights' logical shape is K × N; N rows of K floats are the "ba" layout of that. */
static void md_weights_plain(dnnl_memory_desc_t *md, int k, int n, dnnl_data_type_t t)
{
    dnnl_dims_t dims = {k, n};
    dnnl_memory_desc_init_by_tag(md, 2, dims, t, dnnl_ba);
}

/* The destination's type: fp32 for the residual stream and raw products, the compute type for activations. */
static dnnl_data_type_t dst_type(const gemm_ctx *g, int ep)
{
    return ep == GEMM_STORE || ep == GEMM_ADD ? dnnl_f32 : dnnl_type(g->type); /* GEMM_STORE_ACT too */
}

/* The bias of an N-output product: one fp32 row, broadcast over the M rows. */
static void md_bias(dnnl_memory_desc_t *md, int n)
{
    dnnl_dims_t dims = {1, n};
    dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, dnnl_ab);
}

/* A matmul primitive descriptor with a user-managed scratchpad, an optional bias and optional post-ops. */
static dnnl_status_t make_pd(gemm_ctx *g, dnnl_primitive_desc_t *pd, const dnnl_memory_desc_t *a,
                             const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *bias, const dnnl_memory_desc_t *c,
                             const_dnnl_post_ops_t po)
{
    dnnl_matmul_desc_t desc;
    dnnl_status_t st = dnnl_matmul_desc_init(&desc, a, w, bias, c);
    if (st != dnnl_success)
        return st;
    dnnl_primitive_attr_t attr;
    if ((st = dnnl_primitive_attr_create(&attr)) != dnnl_success)
        return st;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (po)
        dnnl_primitive_attr_set_post_ops(attr, po);
    st = dnnl_primitive_desc_create(pd, &desc, attr, g->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static dnnl_status_t matmul_pd(gemm_ctx *g, dnnl_primitive_desc_t *pd, int m, int k, int n, int lda, int ldc,
                               const dnnl_memory_desc_t *wmd, int ep, int bias)
{
    dnnl_memory_desc_t a, c, b;
    md_2d(&a, m, k, lda, dnnl_type(g->type));
    md_2d(&c, m, n, ldc, dst_type(g, ep));
    md_bias(&b, n);
    dnnl_post_ops_t po = NULL;
    if (ep != GEMM_STORE && ep != GEMM_STORE_ACT) {
        dnnl_post_ops_create(&po);
        if (ep == GEMM_ADD)
            dnnl_post_ops_append_sum(po, 1.0f);
        else if (ep == GEMM_SILU)
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f);
        else if (ep == GEMM_GELU_ERF)
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f);
        else if (ep == GEMM_GELU_TANH)
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_tanh, 0.0f, 0.0f);
        else if (ep == GEMM_RELU)
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        else if (ep == GEMM_QUICK_GELU) /* oneDNN's swish is x·sigmoid(alpha·x) */
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f);
        else
            dnnl_post_ops_append_binary(po, dnnl_binary_mul, &c);
    }
    dnnl_status_t st = make_pd(g, pd, &a, wmd, bias ? &b : NULL, &c, po);
    if (po)
        dnnl_post_ops_destroy(po);
    return st;
}

int gemm_weight_pack(gemm_ctx *g, gemm_weight *w, const float *rows, int n, int k, size_t ld, int plain, char *err,
                     size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->k = k;
    w->type = g->type;
    w->plain = plain;
    size_t es = act_size(g->type), bytes = (size_t)n * k * es;
    void *buf = malloc(bytes);
    w->md = malloc(sizeof(dnnl_memory_desc_t));
    if (!buf || !w->md) {
        free(buf);
        free(w->md);
        w->md = NULL;
        snprintf(err, errlen, "out of memory packing a %d × %d weight", n, k);
        return -1;
    }
    for (int i = 0; i < n; i++)
        act_store((char *)buf + (size_t)i * k * es, g->type, rows + (size_t)i * ld, k);
    dnnl_memory_desc_t *wmd = w->md;
    md_weights_plain(wmd, k, n, dnnl_type(g->type));
    if (plain) {
        w->data = buf;
        w->bytes = bytes;
        return 0;
    }
    /* let oneDNN choose the layout for a typical M, then reorder into it once */
    dnnl_memory_desc_t any;
    dnnl_dims_t dims = {k, n};
    dnnl_memory_desc_init_by_tag(&any, 2, dims, dnnl_type(g->type), dnnl_format_tag_any);
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t st = matmul_pd(g, &pd, PROBE_M, k, n, k, n, &any, 0, 0);
    const char *call = "dnnl_primitive_desc_create";
    if (st == dnnl_success) {
        dnnl_memory_desc_t plain_md = *wmd;
        *wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        w->bytes = dnnl_memory_desc_get_size(wmd);
        w->data = aligned_alloc(64, (w->bytes + 63) / 64 * 64);
        if (!w->data)
            st = dnnl_out_of_memory, call = "aligned_alloc";
        DNNL_TRY(st, call, dnnl_reorder_primitive_desc_create, &rpd, &plain_md, g->engine, wmd, g->engine, NULL);
        DNNL_TRY(st, call, dnnl_primitive_create, &reorder, rpd);
        DNNL_TRY(st, call, dnnl_memory_create, &src, &plain_md, g->engine, buf);
        DNNL_TRY(st, call, dnnl_memory_create, &dst, wmd, g->engine, w->data);
        DNNL_TRY(st, call, dnnl_stream_create, &stream, g->engine, dnnl_stream_default_flags);
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        DNNL_TRY(st, call, dnnl_primitive_execute, reorder, stream, 2, args);
        DNNL_TRY(st, call, dnnl_stream_wait, stream);
    }
    if (stream)
        dnnl_stream_destroy(stream);
    if (src)
        dnnl_memory_destroy(src);
    if (dst)
        dnnl_memory_destroy(dst);
    if (reorder)
        dnnl_primitive_destroy(reorder);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    free(buf);
    if (st != dnnl_success) {
        gemm_weight_free(w);
        return fail(err, errlen, call, "packing a weight matrix", st);
    }
    return 0;
}

int gemm_weight_set_bias(gemm_weight *w, const float *bias)
{
    float *b = malloc((size_t)w->n * sizeof *b);
    if (!b)
        return -1;
    memcpy(b, bias, (size_t)w->n * sizeof *b);
    free(w->bias);
    w->bias = b;
    return 0;
}

void gemm_weight_free(gemm_weight *w)
{
    free(w->data);
    free(w->md);
    free(w->bias);
    w->data = NULL;
    w->md = NULL;
    w->bias = NULL;
}

void gemm_weight_row(const gemm_weight *w, int i, float *dst)
{
    if (w->type == ACT_F32) {
        memcpy(dst, (const float *)w->data + (size_t)i * w->k, (size_t)w->k * 4);
        return;
    }
    const uint16_t *row = (const uint16_t *)w->data + (size_t)i * w->k;
    for (int j = 0; j < w->k; j++)
        dst[j] = bf16_to_f32(row[j]);
}

/* Drop least recently used primitives nobody is executing until the cache is within its capacity. */
static void evict(gemm_ctx *g)
{
    while (g->cached > CACHE_CAP) {
        prim **victim = NULL;
        for (prim **pp = &g->cache; *pp; pp = &(*pp)->next)
            if ((*pp)->users == 0)
                victim = pp;
        if (!victim)
            return;
        prim *old = *victim;
        *victim = old->next;
        dnnl_primitive_destroy(old->p);
        free(old);
        g->cached--;
    }
}

typedef dnnl_status_t (*pd_builder)(gemm_ctx *g, const void *arg, dnnl_primitive_desc_t *pd);

/* Find or create the primitive for this key, move it to the front and mark it in use. Called under the lock. */
static prim *acquire(gemm_ctx *g, const int *key, pd_builder build, const void *arg, dnnl_status_t *st,
                     const char **call)
{
    for (prim **pp = &g->cache; *pp; pp = &(*pp)->next) {
        prim *p = *pp;
        if (!memcmp(p->key, key, sizeof p->key)) {
            *pp = p->next;
            p->next = g->cache;
            g->cache = p;
            p->users++;
            return p;
        }
    }
    dnnl_primitive_desc_t pd;
    *call = "dnnl_primitive_desc_create";
    if ((*st = build(g, arg, &pd)) != dnnl_success)
        return NULL;
    prim *p = calloc(1, sizeof *p);
    if (!p) {
        dnnl_primitive_desc_destroy(pd);
        *st = dnnl_out_of_memory;
        *call = "calloc";
        return NULL;
    }
    memcpy(p->key, key, sizeof p->key);
    p->users = 1;
    p->next = g->cache;
    p->scratch_bytes = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
    *st = dnnl_primitive_create(&p->p, pd);
    *call = "dnnl_primitive_create";
    dnnl_primitive_desc_destroy(pd);
    if (*st != dnnl_success) {
        free(p);
        return NULL;
    }
    g->cache = p;
    g->cached++;
    evict(g);
    return p;
}

static void release(gemm_ctx *g, prim *p)
{
    pthread_mutex_lock(&g->lock);
    p->users--;
    evict(g);
    pthread_mutex_unlock(&g->lock);
}

/* Lend a free slot with room for scratch_bytes (NULL when all are busy or on failure). */
static slot *take_slot(gemm_ctx *g, size_t scratch_bytes, dnnl_status_t *st, const char **call)
{
    slot *s = NULL;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < MAX_SLOTS && !s; i++)
        if (!g->slots[i].busy) {
            s = &g->slots[i];
            s->busy = 1;
        }
    pthread_mutex_unlock(&g->lock);
    if (!s) {
        *st = dnnl_out_of_memory;
        *call = "a stream slot (all busy)";
        return NULL;
    }
    *call = "dnnl_stream_create";
    if (!s->stream && (*st = dnnl_stream_create(&s->stream, g->engine, dnnl_stream_default_flags)) != dnnl_success)
        s->stream = NULL;
    else if (scratch_bytes > s->cap) {
        free(s->scratch);
        s->scratch = aligned_alloc(64, (scratch_bytes + 63) / 64 * 64);
        s->cap = s->scratch ? scratch_bytes : 0;
        if (!s->scratch)
            *st = dnnl_out_of_memory, *call = "aligned_alloc";
    }
    if (*st != dnnl_success) {
        pthread_mutex_lock(&g->lock);
        s->busy = 0;
        pthread_mutex_unlock(&g->lock);
        return NULL;
    }
    return s;
}

static void give_slot(gemm_ctx *g, slot *s)
{
    pthread_mutex_lock(&g->lock);
    s->busy = 0;
    pthread_mutex_unlock(&g->lock);
}

/* One memory argument of an execution. */
typedef struct exec_mem {
    int arg;
    const dnnl_memory_desc_t *md;
    const void *data;
} exec_mem;

/* Execute p on the calling thread's stream with the given memories (and its scratchpad). */
static dnnl_status_t execute(gemm_ctx *g, const prim *p, const exec_mem *mem, int n, const char **call)
{
    dnnl_status_t st = dnnl_success;
    slot *s = take_slot(g, p->scratch_bytes, &st, call);
    if (!s)
        return st;
    dnnl_memory_t m[6] = {NULL};
    dnnl_exec_arg_t args[6];
    int k = 0;
    for (int i = 0; i < n && st == dnnl_success; i++, k++) {
        DNNL_TRY(st, *call, dnnl_memory_create, &m[k], mem[i].md, g->engine, (void *)mem[i].data);
        args[k] = (dnnl_exec_arg_t){mem[i].arg, m[k]};
    }
    if (st == dnnl_success && p->scratch_bytes) {
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = {(dnnl_dim_t)p->scratch_bytes};
        dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a);
        DNNL_TRY(st, *call, dnnl_memory_create, &m[k], &smd, g->engine, s->scratch);
        args[k] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m[k]};
        k++;
    }
    DNNL_TRY(st, *call, dnnl_primitive_execute, p->p, s->stream, k, args);
    DNNL_TRY(st, *call, dnnl_stream_wait, s->stream);
    for (int i = 0; i < k; i++)
        dnnl_memory_destroy(m[i]);
    give_slot(g, s);
    return st;
}

typedef struct run_args {
    int m, k, n, lda, ldc, ep, bias;
    const dnnl_memory_desc_t *wmd;
} run_args;

static dnnl_status_t build_run(gemm_ctx *g, const void *arg, dnnl_primitive_desc_t *pd)
{
    const run_args *r = arg;
    return matmul_pd(g, pd, r->m, r->k, r->n, r->lda, r->ldc, r->wmd, r->ep, r->bias);
}

int gemm_run(gemm_ctx *g, const gemm_weight *w, int m, const void *a, int lda, void *c, int ldc, gemm_epilogue ep,
             const void *mul, char *err, size_t errlen)
{
    if (m <= 0)
        return 0;
    dnnl_status_t st = dnnl_success;
    int bias = w->bias != NULL;
    int key[KEY_LEN] = {0, m, w->k, w->n, lda, ldc, ep, w->plain, bias};
    run_args ra = {m, w->k, w->n, lda, ldc, ep, bias, w->md};
    pthread_mutex_lock(&g->lock);
    const char *call = "";
    prim *p = acquire(g, key, build_run, &ra, &st, &call);
    pthread_mutex_unlock(&g->lock);
    if (!p)
        return fail(err, errlen, call, "creating a matrix product", st);
    dnnl_memory_desc_t amd, cmd, bmd;
    md_2d(&amd, m, w->k, lda, dnnl_type(g->type));
    md_2d(&cmd, m, w->n, ldc, dst_type(g, ep));
    md_bias(&bmd, w->n);
    exec_mem mem[5] = {{DNNL_ARG_SRC, &amd, a}, {DNNL_ARG_WEIGHTS, w->md, w->data}, {DNNL_ARG_DST, &cmd, c}};
    int n_mem = 3;
    if (ep == GEMM_MUL)
        mem[n_mem++] = (exec_mem){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, &cmd, mul};
    if (bias)
        mem[n_mem++] = (exec_mem){DNNL_ARG_BIAS, &bmd, w->bias};
    st = execute(g, p, mem, n_mem, &call);
    release(g, p);
    return st == dnnl_success ? 0 : fail(err, errlen, call, "running a matrix product", st);
}

/* ---- batched products (attention) ---- */

typedef struct batched_args {
    dnnl_memory_desc_t a, b, c;
} batched_args;

static void view_md(dnnl_memory_desc_t *md, int d0, int d1, int rows, int cols, const gemm_view *v, dnnl_data_type_t t)
{
    dnnl_dims_t dims = {d0, d1, rows, cols}, strides = {v->s0, v->s1, v->rs, v->cs};
    dnnl_memory_desc_init_by_strides(md, 4, dims, t, strides);
}

static dnnl_status_t build_batched(gemm_ctx *g, const void *arg, dnnl_primitive_desc_t *pd)
{
    const batched_args *x = arg;
    return make_pd(g, pd, &x->a, &x->b, NULL, &x->c, NULL);
}

int gemm_batched_view(gemm_ctx *g, int b0, int b1, int m, int k, int n, const gemm_view *a, const gemm_view *b,
                      const gemm_view *c, int c_act, char *err, size_t errlen)
{
    if (b0 <= 0 || b1 <= 0 || m <= 0 || n <= 0)
        return 0;
    dnnl_status_t st = dnnl_success;
    int key[KEY_LEN] = {1, b0, b1, m, k, n, c_act, (int)a->s0, (int)a->s1, (int)a->rs, (int)a->cs, (int)b->s0,
                        (int)b->rs, (int)b->cs, (int)c->s0, (int)c->s1, (int)c->rs, (int)c->cs};
    batched_args x;
    view_md(&x.a, b0, b1, m, k, a, dnnl_type(g->type));
    view_md(&x.b, b0, 1, k, n, b, dnnl_type(g->type));
    view_md(&x.c, b0, b1, m, n, c, c_act ? dnnl_type(g->type) : dnnl_f32);
    pthread_mutex_lock(&g->lock);
    const char *call = "";
    prim *p = acquire(g, key, build_batched, &x, &st, &call);
    pthread_mutex_unlock(&g->lock);
    if (!p)
        return fail(err, errlen, call, "creating a batched matrix product", st);
    exec_mem mem[3] = {{DNNL_ARG_SRC, &x.a, a->p}, {DNNL_ARG_WEIGHTS, &x.b, b->p}, {DNNL_ARG_DST, &x.c, c->p}};
    st = execute(g, p, mem, 3, &call);
    release(g, p);
    return st == dnnl_success ? 0 : fail(err, errlen, call, "running a batched matrix product", st);
}

int gemm_batched(gemm_ctx *g, int b0, int b1, int m, int k, int n, const void *a, const void *b, int b_trans,
                 int ldb, long b_stride, float *c, char *err, size_t errlen)
{
    gemm_view va = {a, (long)b1 * m * k, (long)m * k, k, 1};
    gemm_view vb = {b, b_stride, b_stride, b_trans ? 1 : ldb, b_trans ? ldb : 1};
    gemm_view vc = {c, (long)b1 * m * n, (long)m * n, n, 1};
    return gemm_batched_view(g, b0, b1, m, k, n, &va, &vb, &vc, 0, err, errlen);
}
