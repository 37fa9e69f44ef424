/* cmaes.h — CMA-ES with an ask/tell interface.
 *
 * The Covariance Matrix Adaptation Evolution Strategy minimises f: R^n -> R using only f values. Each generation the
 * optimizer proposes λ candidates drawn from N(m, σ² C); the caller evaluates them (in any order, in parallel if it likes)
 * and hands back the f values; the optimizer moves m, σ and C towards the better candidates. Written from the published
 * algorithm: Hansen, "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772), with pycma's default parameters;
 * active covariance update (Jastrebski & Arnold 2006); separable CMA (Ros & Hansen 2008); IPOP (Auger & Hansen 2005) and
 * BIPOP (Hansen 2009) restarts; uncertainty handling UH-CMA (Hansen, Niederberger, Guzzella & Koumoutsakos 2009).
 *
 * Use:
 *     cmaes_options o;
 *     cmaes_options_init(&o);
 *     o.dim = 10; o.x0 = x0; o.sigma0 = 0.5; o.seed = 1;
 *     cmaes *es;
 *     char err[CMAES_ERRMSG_MAX];
 *     if (cmaes_create(&es, &o, err, sizeof err) != CMAES_OK) { fprintf(stderr, "%s\n", err); ... }
 *     cmaes_batch b;
 *     while (cmaes_ask(es, &b) == CMAES_OK) {
 *         for (int i = 0; i < b.count; i++) f[i] = objective(b.x + (size_t)i * b.dim);   // f holds b.count values
 *         cmaes_tell(es, f);
 *     }
 *     cmaes_status st; cmaes_get_status(es, &st);   // st.best_f, st.best_x, st.stop ...
 *     cmaes_free(es);
 *
 * Conventions: no global state, nothing printed, nothing exits. Every function returning int returns CMAES_OK (0) or a
 * negative cmaes_error code; cmaes_strerror(code) names the code and cmaes_errmsg(es) gives the detail of the last error
 * on that object (the option or value at fault). All vectors are arrays of double in the caller's coordinates.
 * A run is determined by its options (seed included) on a given build and BLAS: the same options give the same
 * candidates, bit for bit. The library never changes BLAS threading; the full-covariance variant calls OpenBLAS/LAPACKE
 * from the calling thread, the separable variant calls no BLAS at all. With OpenBLAS the full variant's bits also depend
 * on whether OpenBLAS is single-threaded: OPENBLAS_NUM_THREADS=1 gives other bits than the threaded default (its
 * single-thread kernels round differently, from the first generations on, even at n = 8), while 2, 3, 4, 8 and 16
 * threads give the same bits (OpenBLAS 0.3.21, n = 8 to 500; tests/optim/test_python.py checks 1 = 1 and 2 = 4 for the
 * full variant, 1 = 3 for sep). To reproduce a full-variant run elsewhere, fix OPENBLAS_NUM_THREADS=1, or keep it > 1
 * on both sides. The separable variant's bits do not depend on it. One cmaes object must not be used from two threads
 * at once; distinct objects are independent.
 */
#ifndef BBT_CMAES_H
#define BBT_CMAES_H

#include <stddef.h>
#include <stdint.h>

#include "pcg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CMAES_ERRMSG_MAX 256          /* size of a buffer that holds any error message */
#define CMAES_STATE_VERSION 1         /* version of the serialised state format written by this library */
#define CMAES_RNG_STREAM 0x636d6165735f7267ULL /* PCG stream the optimizer draws from; use others for other purposes */

typedef struct cmaes cmaes;           /* opaque optimizer */

typedef enum cmaes_error {
    CMAES_OK = 0,
    CMAES_ERR_OPTION = -1,            /* an option is out of range (message names it and its value) */
    CMAES_ERR_NOMEM = -2,             /* out of memory */
    CMAES_ERR_STATE = -3,             /* call out of order (tell without ask, ...) */
    CMAES_ERR_FINISHED = -4,          /* the run has ended: no more generations (see cmaes_status.stop) */
    CMAES_ERR_ARG = -5,               /* bad argument (NULL pointer, wrong length, non-finite x, full queue) */
    CMAES_ERR_IO = -6,                /* reading or writing a file failed (message has the path and errno text) */
    CMAES_ERR_FORMAT = -7,            /* not a cmaes state, or a version this library does not read */
    CMAES_ERR_CORRUPT = -8,           /* a state whose checksum or contents do not check out */
    CMAES_ERR_NUMERIC = -9            /* the eigendecomposition failed beyond repair */
} cmaes_error;

typedef enum cmaes_variant {
    CMAES_FULL = 0,                   /* full covariance matrix, active update: O(n^2) per candidate */
    CMAES_SEP = 1                     /* diagonal covariance (sep-CMA), larger learning rates: O(n) per candidate */
} cmaes_variant;

typedef enum cmaes_restart_mode {
    CMAES_RESTART_NONE = 0,
    CMAES_RESTART_IPOP = 1,           /* restart with λ multiplied by incpopsize each time */
    CMAES_RESTART_BIPOP = 2           /* alternate IPOP runs and runs with small λ and σ, by evaluation budget */
} cmaes_restart_mode;

typedef enum cmaes_step_rule {
    CMAES_STEP_AUTO = 0,              /* CSA, except TPA for the separable variant with n > 299 (as pycma) */
    CMAES_STEP_CSA = 1,               /* cumulative step-size adaptation (path length control) */
    CMAES_STEP_TPA = 2                /* two-point adaptation: two candidates along the last mean shift */
} cmaes_step_rule;

typedef enum cmaes_sampling {
    CMAES_SAMPLING_AUTO = 0,          /* full: orthogonal, in mirrored pairs when λ > n; sep: mirrored pairs */
    CMAES_SAMPLING_IID = 1,           /* independent N(0, I) vectors, as the textbook algorithm */
    CMAES_SAMPLING_ORTHOGONAL = 2,    /* orthogonal directions (in blocks of n), each with its chi-distributed length */
    CMAES_SAMPLING_MIRRORED = 3       /* mirrored pairs z, -z (the lead directions orthogonal in the full variant) */
} cmaes_sampling;

/* Stop reasons, a bit set. A run stops when any fires; with restarts on, a restart follows unless the reason is
 * FTARGET, MAXFEVALS or USER (these end the whole optimization), or the restarts are used up. */
enum cmaes_stop {
    CMAES_STOP_FTARGET = 1u << 0,       /* some f <= ftarget */
    CMAES_STOP_MAXFEVALS = 1u << 1,     /* evaluations >= max_fevals (all runs together) */
    CMAES_STOP_MAXITER = 1u << 2,       /* generations of this run >= max_iter */
    CMAES_STOP_TOLFUN = 1u << 3,        /* f range of this generation and of the recent best values < tolfun */
    CMAES_STOP_TOLFUNHIST = 1u << 4,    /* range of the recent best values < tolfunhist */
    CMAES_STOP_TOLX = 1u << 5,          /* every σ·sqrt(C_ii) and σ·|pc_i| < tolx */
    CMAES_STOP_TOLUPSIGMA = 1u << 6,    /* σ/σ0 > tolupsigma · sqrt(largest eigenvalue of C): divergent σ */
    CMAES_STOP_STAGNATION = 1u << 7,    /* no improvement of best or median f over many generations */
    CMAES_STOP_CONDITIONCOV = 1u << 8,  /* condition number of C > tolconditioncov */
    CMAES_STOP_NOEFFECTAXIS = 1u << 9,  /* a 0.1-σ step along a principal axis leaves the mean unchanged */
    CMAES_STOP_NOEFFECTCOORD = 1u << 10,/* a 0.2-σ step along a coordinate leaves the mean unchanged */
    CMAES_STOP_FLATFITNESS = 1u << 11,  /* tolflatfitness consecutive generations with flat f (σ is raised meanwhile) */
    CMAES_STOP_NUMERICAL = 1u << 12,    /* the distribution could not be repaired (eigendecomposition, σ not finite) */
    CMAES_STOP_NONFINITE = 1u << 13,    /* tolnonfinite consecutive generations in which no f value was finite */
    CMAES_STOP_USER = 1u << 14          /* cmaes_stop_now was called */
};

typedef struct cmaes_options {
    /* problem */
    int dim;                      /* n, number of variables; required, >= 1. Default 0 (unset). */
    const double *x0;             /* initial mean, n values (copied). Default NULL: the origin. */
    double x0_uniform_lo;         /* if x0_uniform_lo < x0_uniform_hi the initial mean, and the mean of every restart,   */
    double x0_uniform_hi;         /* is drawn uniformly from [lo, hi]^n with the optimizer's generator (x0 is ignored).   */
                                  /* Default 0, 0: off. */
    double sigma0;                /* initial step size σ0 > 0. Default 1. */
    const double *sigma0_scale;   /* per-coordinate factors s_i > 0 (copied): initial standard deviation σ0·s_i,
                                     i.e. C0 = diag(s_i^2). Default NULL: all 1. */
    const double *lower;          /* box bounds, n values each (copied); -INFINITY / INFINITY leave a side open.      */
    const double *upper;          /* Default NULL: unbounded. Bounds are enforced by a transformation, see below.     */
    uint64_t seed;                /* seed of the optimizer's PCG64 generator (stream CMAES_RNG_STREAM); 0 is a seed
                                     like any other. Default 0. */

    /* strategy */
    cmaes_variant variant;        /* Default CMAES_FULL. */
    int popsize;                  /* λ >= 2. Default 0: 4 + floor(3 ln n). */
    int mu;                       /* parents μ, 1 <= μ <= λ. Default 0: floor(λ/2) of each run's λ (a μ set here
                                     stays fixed across restarts). */
    int active;                   /* 1: negative recombination weights in the covariance update (active CMA), as
                                     pycma; 0: positive weights only. Default 1. */
    cmaes_step_rule step_rule;    /* Default CMAES_STEP_AUTO. */
    cmaes_sampling sampling;      /* how the λ normal vectors of a generation are drawn. Each candidate is N(0, C)
                                     distributed in every mode; orthogonal and mirrored sets lower the variance of
                                     the update (the path normalisation accounts for mirrored pairs). Default
                                     CMAES_SAMPLING_AUTO. */
    double eigen_gap_factor;      /* the full variant re-decomposes C every max(1, g) generations with
                                     g = eigen_gap_factor / ((c1 + cμ) n) (Hansen's lazy update; deterministic).
                                     Default 0.5, as in Hansen's purecma; 0 decomposes every generation. */

    /* restarts */
    cmaes_restart_mode restarts;  /* Default CMAES_RESTART_NONE. */
    int max_restarts;             /* restarts after the first run (BIPOP: restarts of the large-population regime).
                                     Default 9. */
    double incpopsize;            /* factor on λ at each IPOP (or large-regime BIPOP) restart, > 1. Default 2. */

    /* uncertainty (noise) handling, UH-CMA */
    int noise_handling;           /* 1: each generation re-evaluates a few candidates, measures how much their rank
                                     changes, and when noise dominates raises σ and the evaluations per candidate.
                                     Default 0. */
    double noise_reevals;         /* candidates re-evaluated per generation; fractional part drawn at random.
                                     Default 0: 2 + λ/20. */
    double noise_epsilon;         /* re-evaluated points are moved by noise_epsilon·σ·(a sample of C^1/2 N(0,I)) so
                                     that a cached objective cannot fake a noise-free answer. Default 1e-7. */
    double noise_max_evals;       /* upper limit of evaluations per candidate (their median is the candidate's f);
                                     1 keeps one evaluation and only raises σ. Default 1. */
    double noise_alpha_sigma;     /* factor on σ in a generation judged noisy. Default 0: 1 + 2/(n+10) with CSA
                                     (pycma), exp(0.3/(0.7 + ln n)) with TPA (TPA's own first step; 1.044 at
                                     n = 500, where 1 + 2/(n+10) is too weak against TPA to matter). */
    double noise_alpha_evals;     /* factor on evaluations per candidate when noisy (its ^-1/4 when not).
                                     Default 0: 1 + 2/(n+10). */

    /* termination: a tolerance <= 0 switches its criterion off */
    double ftarget;               /* stop when some f <= ftarget. Default -INFINITY (never). */
    long max_fevals;              /* evaluations of all runs together. Default 0: unlimited. */
    long max_iter;                /* generations per run. Default 0: 100 + 150 (n+3)^2 / sqrt(λ). */
    double tolfun;                /* Default 1e-11. */
    double tolfunhist;            /* Default 1e-12. */
    double tolx;                  /* Default 1e-11. */
    double tolupsigma;            /* Default 1e20. */
    double tolconditioncov;       /* Default 1e14. */
    int tolstagnation;            /* 1: stagnation criterion on (Hansen's tutorial: over the last 20% of the run's
                                     generations, at least 120 + 30 n/λ and at most 20000, the median of the most recent
                                     30% of the best and of the median f is not better than that of the first 30%).
                                     Default 1. */
    int tolflatfitness;           /* consecutive flat generations (best f equal to the f at rank ceil(0.7 λ)) before
                                     stopping; each flat generation is reported and raises σ by exp(0.2 + cσ/dσ).
                                     Default 10. */
    int tolnonfinite;             /* consecutive generations without any finite f before stopping. Default 100. */
} cmaes_options;

/* Fill *opts with the defaults documented above. */
void cmaes_options_init(cmaes_options *opts);

/* Create an optimizer. On success *out is set and CMAES_OK returned. On failure *out is NULL, the code is returned and,
 * if errbuf is not NULL, a message naming the offending option and value is written to it (at most errlen bytes). */
int cmaes_create(cmaes **out, const cmaes_options *opts, char *errbuf, size_t errlen);

void cmaes_free(cmaes *es);

/* The candidates of one generation. x points into the optimizer's memory, valid until the next cmaes_tell or
 * cmaes_free. Rows are candidates: row i is x[i*dim .. i*dim+dim-1], inside the bounds if any. With noise handling
 * a candidate may appear several times (evaluate each row: the optimizer aggregates) and a few perturbed re-evaluation
 * rows follow the λ candidates; count changes from generation to generation. */
typedef struct cmaes_batch {
    const double *x;
    int count;                    /* rows to evaluate */
    int dim;
    int lambda;                   /* population size of this generation */
} cmaes_batch;

/* Hand out the current generation. Calling it again before cmaes_tell returns the same batch. Returns
 * CMAES_ERR_FINISHED once a stop reason has ended the optimization. */
int cmaes_ask(cmaes *es, cmaes_batch *batch);

/* Take the f values of the batch from the last cmaes_ask, f[i] for row i (batch.count values), and update the
 * distribution. NaN and ±Inf rank last and are counted (cmaes_status.nonfinite). Termination and restarts are decided
 * here; their events are reported in cmaes_status. */
int cmaes_tell(cmaes *es, const double *f);

/* Queue a solution of the caller's (n values, inside the bounds if any): the next generation evaluates it as one of its
 * λ candidates (at most λ/2 injected per generation; the rest wait). Its step enters the update clipped to a typical
 * length, and it gets no negative weight, so a poor injected point cannot harm the covariance. Up to 64 may wait. */
int cmaes_inject(cmaes *es, const double *x);

/* End the optimization now (CMAES_STOP_USER); the best solution and the state remain readable and saveable. */
void cmaes_stop_now(cmaes *es);

typedef struct cmaes_status {
    int dim;
    int lambda;                   /* population size of the next generation */
    int mu;
    cmaes_variant variant;
    long iteration;               /* generations told, all runs */
    long evaluations;             /* f values told (all rows, re-evaluations included), all runs */
    long run_iteration;           /* generations of the current run */
    int restarts;                 /* restarts done */
    int finished;                 /* 1: no more generations (stop says why) */
    unsigned stop;                /* cmaes_stop bits of the run that ended last (0 while the first run goes on) */

    const double *mean;           /* distribution mean, n values, mapped into the bounds; optimizer memory, valid until
                                     the next cmaes_tell */
    double sigma;                 /* step size σ */
    double min_std, max_std;      /* smallest and largest σ·sqrt(C_ii) */
    double axis_ratio;            /* sqrt of the condition number of C (last decomposition) */

    const double *best_x;         /* best candidate evaluated so far (optimizer memory), NULL before the first tell */
    double best_f;                /* its f (INFINITY before) */
    long best_evaluation;         /* evaluation count when it was told */

    /* events of the last cmaes_tell */
    int restarted;                /* 1: it started a new run (next ask has the new λ) */
    unsigned restart_reason;      /* stop bits that ended the previous run */
    int flat_fitness;             /* 1: the generation was flat; σ was raised */
    int nonfinite;                /* f values of the generation that were NaN or ±Inf */
    long nonfinite_total;         /* all runs */
    int repairs;                  /* covariance repairs (non-positive eigenvalues fixed), all runs */

    /* uncertainty handling (zeros when off) */
    double noise_level;           /* smoothed rank-change measure s: > 0 means noise dominates the ranking */
    double evals_per_candidate;   /* current evaluations per candidate (real; the rows use its integer part) */
    double noise_sigma_factor;    /* factor applied to σ by noise handling in the last tell (1 if none) */
    int reevaluations;            /* re-evaluated candidates in the last generation */
} cmaes_status;

/* Fill *st. Pointers in it refer to optimizer memory. */
void cmaes_get_status(const cmaes *es, cmaes_status *st);

/* Current σ·sqrt(C_ii), n values, into out. */
void cmaes_stds(const cmaes *es, double *out);

/* Name of one stop bit ("ftarget", "tolfun", ...), NULL if not a single known bit. */
const char *cmaes_stop_name(unsigned bit);

/* Comma-separated names of the bits in stop ("tolfun,tolx"; "" for 0) into buf; returns the length it needed. */
size_t cmaes_stop_describe(unsigned stop, char *buf, size_t len);

const char *cmaes_strerror(int code);

/* Detail of the last error on es ("" if none). */
const char *cmaes_errmsg(const cmaes *es);

/* Checkpoints. The complete state is saved — options, distribution, histories, restart and noise state, pending batch,
 * the generator — so that a loaded optimizer continues bit for bit as the original would have. The format has a magic,
 * a version and a CRC-32; a damaged or foreign state is refused with CMAES_ERR_FORMAT or CMAES_ERR_CORRUPT. */

/* Serialise into a buffer allocated with malloc (the caller frees it with free). */
int cmaes_serialize(cmaes *es, unsigned char **buf, size_t *len);

/* Rebuild an optimizer from a serialised state. Errors as cmaes_create. */
int cmaes_deserialize(cmaes **out, const unsigned char *buf, size_t len, char *errbuf, size_t errlen);

/* Write the state to path atomically: a temporary file in the same directory, fsync, rename, fsync of the directory. */
int cmaes_save(cmaes *es, const char *path);

/* Read a state written by cmaes_save. */
int cmaes_load(cmaes **out, const char *path, char *errbuf, size_t errlen);

/* Box bounds are handled by a transformation of each coordinate (as pycma's BoundTransform): the optimizer works on an
 * unbounded internal x; the candidates, the mean and the best solution are mapped into [lower, upper] by a function that
 * is the identity in the interior, bends quadratically within a margin of each bound and reflects beyond. An interior
 * optimum is approached exactly as without bounds; an optimum on a bound is reached smoothly. No candidate is rejected
 * or penalised. */

#ifdef __cplusplus
}
#endif

#endif
