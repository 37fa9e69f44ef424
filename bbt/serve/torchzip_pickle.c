/* torchzip_pickle.c — a bounded pickle interpreter for one torch tensor (see torchzip_pickle.h).
 *
 * Values live in a fixed pool of nodes; tuples keep their items as a run of indices in a fixed item array. Every count
 * is bounded, so a hostile pickle can only make the interpreter fail, never grow or loop.
 */
#include "bbt/serve/torchzip_pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

#define MAX_NODES 512
#define MAX_ITEMS 1024
#define MAX_STACK 256
#define MAX_MEMO 256
#define MAX_STR 64

typedef enum vkind { V_MARK, V_INT, V_BOOL, V_NONE, V_STR, V_GLOBAL, V_TUPLE, V_STORAGE, V_TENSOR, V_DICT } vkind;

typedef struct node {
    vkind kind;
    long long i;           /* V_INT, V_BOOL */
    char s[MAX_STR];       /* V_STR; V_GLOBAL: "module name" */
    int first, n;          /* V_TUPLE: items[first .. first+n) */
} node;

typedef struct vm {
    node nodes[MAX_NODES];
    int n_nodes;
    int items[MAX_ITEMS];
    int n_items;
    int stack[MAX_STACK];
    int sp;
    int memo[MAX_MEMO];
    const unsigned char *p, *end;
    tz_pickled *out;   /* filled as the storage and the tensor are rebuilt */
    char *err;
    size_t errlen;
} vm;

static int fail(vm *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(v->err, v->errlen, "data.pkl: ");
    vsnprintf(v->err + n, v->errlen > (size_t)n ? v->errlen - (size_t)n : 0, fmt, ap);
    va_end(ap);
    return -1;
}

static int new_node(vm *v, vkind kind)
{
    if (v->n_nodes >= MAX_NODES)
        return fail(v, "too many values (more than %d)", MAX_NODES);
    memset(&v->nodes[v->n_nodes], 0, sizeof(node));
    v->nodes[v->n_nodes].kind = kind;
    return v->n_nodes++;
}

static int push(vm *v, int id)
{
    if (id < 0)
        return -1;
    if (v->sp >= MAX_STACK)
        return fail(v, "stack deeper than %d", MAX_STACK);
    v->stack[v->sp++] = id;
    return 0;
}

static int pop(vm *v)
{
    if (v->sp == 0 || v->nodes[v->stack[v->sp - 1]].kind == V_MARK)
        return fail(v, "stack underflow");
    return v->stack[--v->sp];
}

static int need(vm *v, size_t n)
{
    if ((size_t)(v->end - v->p) < n)
        return fail(v, "truncated");
    return 0;
}

static int push_int(vm *v, long long x)
{
    int id = new_node(v, V_INT);
    if (id >= 0)
        v->nodes[id].i = x;
    return push(v, id);
}

static int push_str(vm *v, const unsigned char *s, size_t n, vkind kind)
{
    if (n >= MAX_STR)
        return fail(v, "string of %zu bytes (at most %d expected)", n, MAX_STR - 1);
    int id = new_node(v, kind);
    if (id < 0)
        return -1;
    memcpy(v->nodes[id].s, s, n);
    v->nodes[id].s[n] = '\0';
    return push(v, id);
}

/* A tuple of the top n stack values (n < 0: everything down to the topmost mark, which is removed). */
static int make_tuple(vm *v, int n)
{
    int base = v->sp - n;
    if (n < 0) {
        base = v->sp;
        while (base > 0 && v->nodes[v->stack[base - 1]].kind != V_MARK)
            base--;
        if (base == 0)
            return fail(v, "TUPLE without a MARK");
    } else if (base < 0) {
        return fail(v, "stack underflow");
    }
    int count = v->sp - base;
    if (v->n_items + count > MAX_ITEMS)
        return fail(v, "too many tuple items");
    int id = new_node(v, V_TUPLE);
    if (id < 0)
        return -1;
    v->nodes[id].first = v->n_items;
    v->nodes[id].n = count;
    for (int k = 0; k < count; k++) {
        if (v->nodes[v->stack[base + k]].kind == V_MARK)
            return fail(v, "a MARK inside a tuple");
        v->items[v->n_items++] = v->stack[base + k];
    }
    v->sp = base - (n < 0 ? 1 : 0);
    return push(v, id);
}

static const node *item(const vm *v, const node *t, int k) { return &v->nodes[v->items[t->first + k]]; }

/* GLOBAL "module\nname\n" */
static int op_global(vm *v)
{
    const unsigned char *nl1 = memchr(v->p, '\n', (size_t)(v->end - v->p));
    const unsigned char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(v->end - nl1 - 1)) : NULL;
    if (!nl2)
        return fail(v, "truncated GLOBAL");
    size_t n = (size_t)(nl2 - v->p);
    if (n >= MAX_STR)
        return fail(v, "GLOBAL name too long");
    unsigned char tmp[MAX_STR];
    memcpy(tmp, v->p, n);
    tmp[nl1 - v->p] = ' ';
    v->p = nl2 + 1;
    static const char *const allowed[] = {"torch._utils _rebuild_tensor_v2", "collections OrderedDict",
                                          "torch FloatStorage", "torch BFloat16Storage", "torch HalfStorage",
                                          "torch DoubleStorage", "torch LongStorage", "torch IntStorage",
                                          "torch ShortStorage", "torch CharStorage", "torch ByteStorage",
                                          "torch BoolStorage", NULL};
    for (int k = 0; allowed[k]; k++)
        if (strlen(allowed[k]) == n && !memcmp(allowed[k], tmp, n))
            return push_str(v, tmp, n, V_GLOBAL);
    tmp[n] = '\0';
    return fail(v, "GLOBAL \"%s\" is not allowed (only a tensor's rebuild function and storage types)", (char *)tmp);
}

/* BINPERSID: ("storage", storage type, key, location, numel) */
static int op_persid(vm *v)
{
    int t = pop(v);
    if (t < 0)
        return -1;
    const node *tu = &v->nodes[t];
    if (tu->kind != V_TUPLE || tu->n != 5 || item(v, tu, 0)->kind != V_STR || strcmp(item(v, tu, 0)->s, "storage") ||
        item(v, tu, 1)->kind != V_GLOBAL || item(v, tu, 2)->kind != V_STR || item(v, tu, 4)->kind != V_INT)
        return fail(v, "persistent id is not (\"storage\", type, key, location, numel)");
    int id = new_node(v, V_STORAGE);
    if (id < 0)
        return -1;
    node *s = &v->nodes[id];
    snprintf(s->s, sizeof s->s, "%s", item(v, tu, 1)->s + strlen("torch "));
    snprintf(v->out->key, sizeof v->out->key, "%s", item(v, tu, 2)->s);
    s->i = item(v, tu, 4)->i;
    return push(v, id);
}

static int int_tuple(vm *v, const node *t, long long *out, const char *what)
{
    if (t->kind != V_TUPLE || t->n > TZ_MAX_DIMS)
        return fail(v, "tensor %s is not a tuple of at most %d integers", what, TZ_MAX_DIMS);
    for (int k = 0; k < t->n; k++) {
        if (item(v, t, k)->kind != V_INT)
            return fail(v, "tensor %s holds a non-integer", what);
        out[k] = item(v, t, k)->i;
    }
    return 0;
}

static int rebuild_tensor(vm *v, const node *args)
{
    if (args->kind != V_TUPLE || args->n < 6 || item(v, args, 0)->kind != V_STORAGE || item(v, args, 1)->kind != V_INT)
        return fail(v, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, hooks)");
    tz_pickled *o = v->out;
    snprintf(o->storage_type, sizeof o->storage_type, "%s", item(v, args, 0)->s);
    o->storage_numel = item(v, args, 0)->i;
    o->offset = item(v, args, 1)->i;
    const node *size = item(v, args, 2), *stride = item(v, args, 3);
    if (int_tuple(v, size, o->size, "size") || int_tuple(v, stride, o->stride, "stride"))
        return -1;
    if (size->n != stride->n)
        return fail(v, "tensor size has %d dimensions but stride %d", size->n, stride->n);
    o->ndim = size->n;
    return push(v, new_node(v, V_TENSOR));
}

static int op_reduce(vm *v)
{
    int args = pop(v), fn = args < 0 ? -1 : pop(v);
    if (fn < 0)
        return -1;
    const node *f = &v->nodes[fn];
    if (f->kind == V_GLOBAL && !strcmp(f->s, "collections OrderedDict"))
        return push(v, new_node(v, V_DICT));
    if (f->kind == V_GLOBAL && !strcmp(f->s, "torch._utils _rebuild_tensor_v2"))
        return rebuild_tensor(v, &v->nodes[args]);
    return fail(v, "REDUCE of something other than a tensor or an OrderedDict");
}

static int op_memo(vm *v, unsigned char op)
{
    int wide = op == 'r' || op == 'j';
    if (need(v, wide ? 4 : 1))
        return -1;
    unsigned long long k = common_get_le(v->p, wide ? 4 : 1);
    v->p += wide ? 4 : 1;
    if (k >= MAX_MEMO)
        return fail(v, "memo index %llu (at most %d)", k, MAX_MEMO - 1);
    if (op == 'q' || op == 'r') { /* BINPUT, LONG_BINPUT */
        if (v->sp == 0)
            return fail(v, "BINPUT on an empty stack");
        v->memo[k] = v->stack[v->sp - 1];
        return 0;
    }
    if (v->memo[k] < 0)
        return fail(v, "BINGET of unset memo %llu", k);
    return push(v, v->memo[k]);
}

static int op_int(vm *v, int nbytes)
{
    if (need(v, (size_t)nbytes))
        return -1;
    long long x = (long long)common_get_le(v->p, nbytes);
    if (nbytes == 4)
        x = (int32_t)x;
    v->p += nbytes;
    return push_int(v, x);
}

static int op_unicode(vm *v, int lenbytes)
{
    if (need(v, (size_t)lenbytes))
        return -1;
    size_t n = common_get_le(v->p, lenbytes);
    v->p += lenbytes;
    if (need(v, n))
        return -1;
    const unsigned char *s = v->p;
    v->p += n;
    return push_str(v, s, n, V_STR);
}

/* One opcode; returns 1 at STOP. */
static int step(vm *v)
{
    if (need(v, 1))
        return -1;
    unsigned char op = *v->p++;
    switch (op) {
    case 0x80: /* PROTO */
        if (need(v, 1))
            return -1;
        v->p++;
        return 0;
    case 'c': return op_global(v);
    case 'Q': return op_persid(v);
    case 'R': return op_reduce(v);
    case 'q': case 'r': case 'h': case 'j': return op_memo(v, op);
    case 'K': return op_int(v, 1);
    case 'M': return op_int(v, 2);
    case 'J': return op_int(v, 4);
    case 'X': return op_unicode(v, 4);
    case 0x8c: return op_unicode(v, 1); /* SHORT_BINUNICODE */
    case '(': return push(v, new_node(v, V_MARK));
    case 't': return make_tuple(v, -1);
    case ')': return make_tuple(v, 0);
    case 0x85: return make_tuple(v, 1);
    case 0x86: return make_tuple(v, 2);
    case 0x87: return make_tuple(v, 3);
    case 0x88: case 0x89: { /* NEWTRUE, NEWFALSE */
        int id = new_node(v, V_BOOL);
        if (id >= 0)
            v->nodes[id].i = op == 0x88;
        return push(v, id);
    }
    case 'N': return push(v, new_node(v, V_NONE));
    case '}': return push(v, new_node(v, V_DICT));
    case '.': return 1;
    default:
        return fail(v, "opcode 0x%02x is not one torch.save uses for a tensor", op);
    }
}

int tz_unpickle(const unsigned char *buf, size_t len, tz_pickled *out, char *err, size_t errlen)
{
    vm *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "data.pkl: out of memory");
        return -1;
    }
    memset(out, 0, sizeof *out);
    for (int k = 0; k < MAX_MEMO; k++)
        v->memo[k] = -1;
    v->p = buf;
    v->end = buf + len;
    v->out = out;
    v->err = err;
    v->errlen = errlen;
    int rc;
    long steps = 0;
    while ((rc = step(v)) == 0)
        if (++steps > 100000) {
            rc = fail(v, "too many opcodes");
            break;
        }
    if (rc == 1) {
        rc = v->sp == 1 && v->nodes[v->stack[0]].kind == V_TENSOR ? 0 : fail(v, "the pickle does not hold one tensor");
    }
    free(v);
    return rc < 0 ? -1 : 0;
}
