/* optimizer.c — the search method of a run, behind one table of functions (see optimizer.h). */
#include <string.h>

#include "bbt/optimizer.h"

int optimizer_open(optimizer *o, const tune_config *cfg, const void *blob, size_t len, bbt_error *err)
{
    memset(o, 0, sizeof *o);
    const optimizer_ops *ops = cfg->deep                          ? optimizer_deep_ops()
                               : cfg->optimizer == OPTIMIZER_RANDOM ? optimizer_random_ops()
                                                                    : optimizer_cmaes_ops();
    if (ops->open(&o->state, cfg, blob, len, err))
        return -1;
    o->ops = ops;
    return 0;
}

int optimizer_ask(optimizer *o, const double **x, int *count, bbt_error *err)
{
    return o->ops->ask(o->state, x, count, err);
}

int optimizer_tell(optimizer *o, const double *losses, bbt_error *err)
{
    return o->ops->tell(o->state, losses, err);
}

void optimizer_get_report(optimizer *o, optimizer_report *r)
{
    o->ops->report(o->state, r);
}

int optimizer_save(optimizer *o, unsigned char **blob, size_t *len, bbt_error *err)
{
    return o->ops->save(o->state, blob, len, err);
}

void optimizer_close(optimizer *o)
{
    if (o->ops)
        o->ops->close(o->state);
    memset(o, 0, sizeof *o);
}
