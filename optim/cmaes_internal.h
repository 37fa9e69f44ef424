/* cmaes_internal.h — the optimizer's state, shared by the optim/cmaes*.c files (not installed).
 *
 * Vocabulary. The optimizer works on an unbounded internal x ("genotype"); the caller sees it mapped into the bounds
 * ("phenotype", cmaes_bounds.c). A candidate is x = m + σ y with y = C^1/2 z, z ~ N(0, I): for the full variant
 * C^1/2 = B diag(D) with C = B diag(D^2) B^T (eigenvectors B, from the last decomposition), for the separable variant
 * C is diagonal and D_i = sqrt(C_ii). Matrices are column-major; a row of Z, Y, X (one candidate) is a column of the
 * n x λ matrix BLAS sees.
 */
#ifndef BBT_CMAES_INTERNAL_H
#define BBT_CMAES_INTERNAL_H

#include <stdarg.h>

#include "optim/cmaes.h"

/* The per-coordinate loops of a generation, built twice: for AVX2 and for the baseline, the CPU's choosing at load time
 * (GCC's function multiversioning). Their operations are element-wise, so both give the same bits: AVX2 brings no
 * fused multiply-add (that is the separate FMA feature, and -std=c11 keeps contraction off). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CMAES_VECTOR_LOOPS __attribute__((target_clones("avx2", "default")))
#else
#define CMAES_VECTOR_LOOPS
#endif

#define CMAES_INJECT_MAX 64             /* injected solutions that may wait */

/* Strategy parameters of one run: functions of n, λ and the options only (cmaes_params.c). */
typedef struct cmaes_params {
    int lambda, mu;
    double *weights;                    /* λ recombination weights, positive ones sum to 1, negative finalised */
    double mueff;                       /* variance-effective number of parents */
    double sum_weights;                 /* sum of all weights */
    double cc, cs, c1, cmu, damps, chin;/* learning rates and damping of the variant in use */
    double eigen_gap;                   /* generations between eigendecompositions (full variant) */
    int use_tpa;                        /* step size by two-point adaptation instead of CSA */
    double tpa_damp;
    int hist_len;                       /* 10 + ceil(30 n / λ): history for tolfun / tolfunhist */
    long max_iter;                      /* generations per run */
    int stag_min;                       /* 120 + 30 n / λ: shortest stagnation window */
} cmaes_params;

struct cmaes {
    /* configuration, fixed at creation */
    cmaes_options opt;                  /* the pointer members point at the copies below */
    int n;
    double *x0;                         /* n, or NULL: origin */
    double *scale;                      /* n, initial per-coordinate factors */
    double *lower, *upper;              /* n each, or NULL: unbounded */
    int lambda_default;

    pcg_rng rng;

    /* the current run */
    cmaes_params par;
    int lambda_cap;                     /* λ the generation buffers are sized for */
    double sigma, sigma0_run;           /* σ and the σ0 this run started with */
    double *mean, *mean_old, *ps, *pc;  /* n each; mean in internal coordinates */
    double *C;                          /* full: n x n (upper triangle kept), sep: the n diagonal entries */
    double *B;                          /* full: n x n eigenvectors; sep: NULL */
    double *D;                          /* n: sqrt of eigenvalues (full) or of C_ii (sep) */
    double *eig_a;                      /* full: n x n scratch for the decomposition */
    double *eig_w;                      /* full: n eigenvalues */
    double *eig_work; int *eig_iwork;   /* full: LAPACK workspace */
    int eig_lwork, eig_liwork;
    long eigen_iter;                    /* run generation of the last decomposition */
    long run_iter;                      /* generations of this run */
    long run_start_evals;               /* evaluations before this run */
    double tpa_s;                       /* TPA's smoothed rank difference */
    int flat_count, nonfinite_count;    /* consecutive flat / all-non-finite generations */
    double *hist_best;                  /* ring of the last par.hist_len generation-best f */
    int hist_count, hist_pos;
    double *stag_best, *stag_median;    /* rings of generation-best and median f for the stagnation test */
    double *stag_tmp;                   /* 0.3 stag_cap + 1: median scratch */
    int stag_cap, stag_count, stag_pos;

    /* the generation between ask and tell */
    int pending;                        /* 1: batch handed out, tell awaited */
    double *Z, *Y, *X;                  /* λ_cap x n: normals, steps, internal candidates */
    double *W;                          /* n x (λ_cap + 1): scratch for BLAS updates */
    double *rows;                       /* the batch (phenotypes), rows_cap x n */
    int row_count, rows_cap;
    int evals_per;                      /* rows per candidate in this batch */
    int reev_count;                     /* re-evaluated candidates (the last ones) in this batch */
    double *reev_x;                     /* λ_cap x n: internal re-evaluation points */
    unsigned char *injected;            /* λ_cap flags */
    int tpa_pair;                       /* 1: candidates 0 and 1 are TPA's pair */
    int mirror_pairs;                   /* mirrored pairs (z, -z) among the candidates, TPA's included */
    double *f;                          /* λ_cap: aggregated f per candidate (non-finite mapped to +INFINITY) */
    double *fre;                        /* λ_cap: aggregated f of the re-evaluations */
    double *fsorted;                    /* λ_cap: the f of the generation in ascending order */
    int *order;                         /* 4 λ_cap: ranking (2 λ) and its merge scratch (2 λ) */
    double *scratch;                    /* max(4 λ_cap, rows) + n: sort and median scratch */
    double *dm;                         /* n: last mean shift m - m_old */
    double *tmp;                        /* 2n: vector scratch */

    /* solutions waiting to be injected (internal coordinates) */
    double *inj;
    int inj_count;

    /* totals and the best solution */
    long iter, evals, best_eval, nonfinite_total;
    int restarts, repairs;
    double best_f;
    double *best_x;                     /* n, phenotype */
    double *mean_pheno;                 /* n, the mean mapped into the bounds */

    /* termination and restarts */
    unsigned stop;                      /* bits of the run that ended last */
    int finished;
    int restarted;                      /* events of the last tell */
    unsigned restart_reason;
    int flat_last, nonfinite_last;
    int large_runs;                     /* BIPOP: large-regime restarts done */
    int small_regime;                   /* BIPOP: the current run has a small population */
    long evals_large, evals_small;      /* BIPOP: evaluations spent per regime */

    /* uncertainty handling */
    double noise_s, noise_evals, noise_sigma_factor;
    int noise_reev_last;

    char err[CMAES_ERRMSG_MAX];
};

/* cmaes.c */
int cmaes_fail(cmaes *es, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cmaes_options_check(const cmaes_options *o, char *msg, size_t len);

/* cmaes_params.c */
int cmaes_params_set(cmaes_params *p, const cmaes_options *o, int lambda);
void cmaes_params_free(cmaes_params *p);
int cmaes_default_popsize(int n);

/* cmaes_run.c: run setup and restarts */
int cmaes_run_start(cmaes *es, int lambda, double sigma0);
int cmaes_run_resize(cmaes *es, int lambda);   /* parameters and buffers for λ, state untouched */
void cmaes_run_end(cmaes *es, unsigned reasons);
int cmaes_buffers_alloc(cmaes *es, int lambda);

/* cmaes_sample.c: building a generation */
int cmaes_sample(cmaes *es);

/* cmaes_update.c: the distribution update */
void cmaes_update(cmaes *es);

/* cmaes_eigen.c */
int cmaes_eigen_update(cmaes *es);
void cmaes_apply_sqrtc(const cmaes *es, const double *z, double *y);
void cmaes_apply_invsqrtc(const cmaes *es, const double *y, double *z);

/* cmaes_stop.c */
unsigned cmaes_check_stop(cmaes *es, const double *fsorted, double fmedian);
void cmaes_history_add(cmaes *es, double fbest, double fmedian);

/* cmaes_noise.c */
int cmaes_noise_reevals(cmaes *es);
void cmaes_noise_update(cmaes *es);

/* cmaes_bounds.c */
void cmaes_to_pheno(const cmaes *es, const double *geno, double *pheno);
void cmaes_to_geno(const cmaes *es, const double *pheno, double *geno);

/* small vector helpers */
double cmaes_dot(const double *a, const double *b, int n);
double cmaes_median(double *v, int count);   /* reorders v */
void cmaes_rank(const double *key, int count, int *idx, int *tmp);   /* idx: indices by key, ties by index */

#endif
