/* lm_engine.c — the helpers lm.c and every engine share (lm_impl.h): the handle's error message, thread slots, the
 * row a sequence is read at. A leaf: lm.c calls down into the engines (llama*.c, gpt2.c, bert.c) and they call only
 * this file back, never lm.c, so the front file and the engines do not depend on each other in a circle. */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>

#include "models/lm_impl.h"

int lm_fail(lm *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return code;
}

int lm_thread_slots(const lm *m)
{
    return omp_get_max_threads() > m->opts.threads ? omp_get_max_threads() : m->opts.threads;
}

int lm_read_pos(const lm *m, const lm_seq *q)
{
    if (q->read_pos >= 0)
        return q->read_pos;
    if (m->info.kind == LM_MASKED && m->info.mask >= 0)
        for (int i = 0; i < q->n; i++)
            if (q->ids[i] == m->info.mask)
                return i;
    return q->n - 1;
}
