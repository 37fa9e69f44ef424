/* optimizer.h — what the tuner asks of a search method: candidates, their losses, its state in a checkpoint.
 *
 * One generation is ask (count candidates z, count × d doubles) → the tuner scores them → tell (count losses). A method
 * is a small table of functions (optimizer_ops) over a state of its own; optimizer_create picks the table from the run's
 * configuration (OPTIMIZER_SEP and OPTIMIZER_FULL: CMA-ES of optim/; OPTIMIZER_RANDOM: random search). A method with
 * several inner states (BBTv2's one CMA-ES per layer) is one more table: its ask and tell say which block of z a
 * generation moves, its save writes all the states as one blob.
 *
 * Errors: 0 or -1 with a message in err; nothing is printed.
 */
#ifndef BBT_OPTIMIZER_H
#define BBT_OPTIMIZER_H

#include <stddef.h>

#include "bbt/config.h"
#include "bbt/error.h"

/* What the log and the dev rounds read after a generation was told. */
typedef struct optimizer_report {
    const double *mean;     /* the search distribution's mean (d values, the method's memory), NULL when it has none */
    double sigma;           /* its step size; NaN when it has none */
    int noise_handling;     /* 1: the two values below are the uncertainty handling's */
    double noise_level, evals_per_candidate;
    int flat_fitness;       /* 1: the last generation's losses were flat */
    int nonfinite;          /* losses of the last generation that were NaN or ±Inf */
    int finished;           /* 1: the method wants no more generations; stop says why */
    unsigned stop;          /* cmaes_stop bits */
    int deep_layer;         /* BBTv2: 1 + the layer the last generation moved; 0 for a method of one block */
} optimizer_report;

/* A search method. */
typedef struct optimizer_ops {
    const char *name;
    /* A new state for cfg, or (blob != NULL) the state save wrote, checked against cfg. */
    int (*open)(void **state, const tune_config *cfg, const void *blob, size_t len, bbt_error *err);
    /* The generation's candidates: *x (count × d, the method's memory) stays valid until tell. */
    int (*ask)(void *state, const double **x, int *count, bbt_error *err);
    int (*tell)(void *state, const double *losses, bbt_error *err);
    void (*report)(void *state, optimizer_report *r);
    /* The state as bytes (malloc'ed, caller frees). */
    int (*save)(void *state, unsigned char **blob, size_t *len, bbt_error *err);
    void (*close)(void *state);
} optimizer_ops;

typedef struct optimizer {
    const optimizer_ops *ops;
    void *state;
} optimizer;

/* The method cfg->optimizer names, new (blob NULL) or from a saved state. */
int optimizer_open(optimizer *o, const tune_config *cfg, const void *blob, size_t len, bbt_error *err);
int optimizer_ask(optimizer *o, const double **x, int *count, bbt_error *err);
int optimizer_tell(optimizer *o, const double *losses, bbt_error *err);
void optimizer_get_report(optimizer *o, optimizer_report *r);
int optimizer_save(optimizer *o, unsigned char **blob, size_t *len, bbt_error *err);
void optimizer_close(optimizer *o);

/* The methods (optimizer_cmaes.c, optimizer_random.c; optimizer_deep.c: BBTv2's layer by layer rounds of one inner
 * method per layer, chosen when cfg->deep is set). */
const optimizer_ops *optimizer_cmaes_ops(void);
const optimizer_ops *optimizer_random_ops(void);
const optimizer_ops *optimizer_deep_ops(void);

#endif
