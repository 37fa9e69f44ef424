/* cmaes_update.c — one generation's update of the mean, the evolution paths, the covariance and the step size.
 *
 * Notation of Hansen's tutorial (arXiv:1604.00772): candidates sorted by f, y_i = (x_i - m)/σ, weights w_i (negative for
 * the worse half with active CMA), y_w = Σ_{i<=μ} w_i y_i.
 *   m   <- m + σ y_w
 *   pσ  <- (1 - cσ) pσ + sqrt(cσ (2 - cσ) μ_eff) C^-1/2 y_w
 *   hσ   = |pσ|^2 / (1 - (1 - cσ)^(2g)) / n < 2 + 4/(n+1)
 *   pc  <- (1 - cc) pc + hσ sqrt(cc (2 - cc) μ_eff) y_w
 *   C   <- (1 - c1a - cμ Σw) C + c1 pc pc^T + cμ Σ w°_i y_i y_i^T,  c1a = c1 (1 - (1 - hσ) cc (2 - cc)),
 *          w°_i = w_i for w_i >= 0, w_i n / |C^-1/2 y_i|^2 otherwise (negative steps rescaled to length sqrt(n))
 *   σ   <- σ exp(min(1, cσ/dσ (|pσ| / E|N(0,I)| - 1)))      (CSA)
 * Full variant: the rank updates are two BLAS dsyrk calls on the upper triangle (positive and negative parts).
 * Separable variant: the variances are updated multiplicatively, C_ii <- C_ii exp(c1a ((pc_i/D_i)^2 - 1) + cμ Σ w_k
 * (z_ki^2 - 1)), the exponential form of the same update (to first order the additive sep-CMA update of Ros & Hansen
 * with its learning rates), which keeps every C_ii > 0 under negative weights without rescaling; O(λ n), no
 * allocation, no BLAS. (pycma's diagonal mode uses half this exponent; the full rate is clearly faster at n = 500.)
 * TPA replaces CSA when selected: σ <- σ exp(s/d), s <- 0.7 s + 0.3 sign(q) |q|^1/2, q the rank difference of the
 * two candidates placed along the last mean shift, divided by λ - 1 (pycma's CMAAdaptSigmaTPA).
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "optim/cmaes_internal.h"

/* Weighted sums of the selected steps: y_w into yw, z_w into zw. */
CMAES_VECTOR_LOOPS
static void recombine(const cmaes *es, double *yw, double *zw)
{
    int n = es->n;
    memset(yw, 0, sizeof(double) * (size_t)n);
    memset(zw, 0, sizeof(double) * (size_t)n);
    for (int r = 0; r < es->par.mu; r++) {
        int k = es->order[r];
        double w = es->par.weights[r];
        const double *y = es->Y + (size_t)k * n, *z = es->Z + (size_t)k * n;
        for (int i = 0; i < n; i++) {
            yw[i] += w * y[i];
            zw[i] += w * z[i];
        }
    }
}

/* μ_eff for normalising pσ. With P mirrored pairs (z, -z) among the λ candidates, a pair whose members both get a
 * weight contributes (w_a - w_b) z, so under random selection E|Σ w_i z_i|^2 = n (1/μ_eff - 2P E[w_a w_b]) with
 * E[w_a w_b] = (1 - 1/μ_eff) / (λ (λ - 1)) for two distinct random ranks (positive weights summing to 1). Using that
 * expectation keeps pσ unbiased, so CSA neither shrinks nor inflates σ because of the mirroring. */
static double path_mueff(const cmaes *es)
{
    const cmaes_params *p = &es->par;
    if (es->mirror_pairs == 0 || p->lambda < 2)
        return p->mueff;
    double inv = 1 / p->mueff - 2.0 * es->mirror_pairs * (1 - 1 / p->mueff) / ((double)p->lambda * (p->lambda - 1));
    return 1 / inv;
}

/* Update the paths; returns hσ. */
static int update_paths(cmaes *es, const double *yw, const double *zw)
{
    int n = es->n;
    const cmaes_params *p = &es->par;
    double *t = es->W;   /* C^-1/2 y_w = B z_w (full), z_w (sep) */
    if (es->opt.variant == CMAES_FULL)
        cblas_dgemv(CblasColMajor, CblasNoTrans, n, n, 1.0, es->B, n, zw, 1, 0.0, t, 1);
    else
        memcpy(t, zw, sizeof(double) * (size_t)n);
    double a = sqrt(p->cs * (2 - p->cs) * path_mueff(es)), ps2 = 0;
    for (int i = 0; i < n; i++) {
        es->ps[i] = (1 - p->cs) * es->ps[i] + a * t[i];
        ps2 += es->ps[i] * es->ps[i];
    }
    double corr = 1 - pow(1 - p->cs, 2.0 * (double)es->run_iter);
    int hsig = ps2 / corr / n < 2 + 4.0 / (n + 1);
    double b = hsig ? sqrt(p->cc * (2 - p->cc) * p->mueff) : 0;
    for (int i = 0; i < n; i++)
        es->pc[i] = (1 - p->cc) * es->pc[i] + b * yw[i];
    return hsig;
}

/* Whether candidate k may receive a negative weight: not injected, not TPA's pair (pycma's CMA_active_injected = 0). */
static int may_be_negative(const cmaes *es, int k)
{
    return !es->injected[k] && !(es->tpa_pair && k < 2);
}

static void update_full(cmaes *es, double c1a)
{
    int n = es->n, lam = es->par.lambda;
    const cmaes_params *p = &es->par;
    double *P = es->W;
    int kp = 0, kq = 0;
    /* positive part: sqrt(c1) pc and sqrt(cμ w_i) y_i as columns of P */
    double s = sqrt(p->c1);
    for (int i = 0; i < n; i++)
        P[i] = s * es->pc[i];
    kp = 1;
    for (int r = 0; r < lam && p->weights[r] > 0; r++) {
        const double *y = es->Y + (size_t)es->order[r] * n;
        double *col = P + (size_t)kp++ * n;
        s = sqrt(p->cmu * p->weights[r]);
        for (int i = 0; i < n; i++)
            col[i] = s * y[i];
    }
    /* negative part after it, rescaled to Mahalanobis length sqrt(n) */
    double *Q = P + (size_t)kp * n;
    for (int r = 0; r < lam; r++) {
        int k = es->order[r];
        if (!(p->weights[r] < 0) || !may_be_negative(es, k))
            continue;
        const double *y = es->Y + (size_t)k * n, *z = es->Z + (size_t)k * n;
        double z2 = cmaes_dot(z, z, n), len = sqrt(z2) + 1e-9;
        s = sqrt(p->cmu * -p->weights[r] * n / (len * len));
        double *col = Q + (size_t)kq++ * n;
        for (int i = 0; i < n; i++)
            col[i] = s * y[i];
    }
    double decay = 1 - c1a - p->cmu * p->sum_weights;
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, n, kp, 1.0, P, n, decay, es->C, n);
    if (kq > 0)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, n, kq, -1.0, Q, n, 1.0, es->C, n);
}

/* e[i] += w[j] z[j][i]^2 for j = 0..rows-1 in that order (rows <= 4). */
CMAES_VECTOR_LOOPS
static void add_squares(double *restrict e, int n, const double *w, const double *const *z, int rows)
{
    const double *z0 = z[0], *z1 = z[rows > 1 ? 1 : 0], *z2 = z[rows > 2 ? 2 : 0], *z3 = z[rows > 3 ? 3 : 0];
    switch (rows) {
    case 4:
        for (int i = 0; i < n; i++)
            e[i] = e[i] + w[0] * z0[i] * z0[i] + w[1] * z1[i] * z1[i] + w[2] * z2[i] * z2[i] + w[3] * z3[i] * z3[i];
        break;
    case 3:
        for (int i = 0; i < n; i++)
            e[i] = e[i] + w[0] * z0[i] * z0[i] + w[1] * z1[i] * z1[i] + w[2] * z2[i] * z2[i];
        break;
    case 2:
        for (int i = 0; i < n; i++)
            e[i] = e[i] + w[0] * z0[i] * z0[i] + w[1] * z1[i] * z1[i];
        break;
    default:
        for (int i = 0; i < n; i++)
            e[i] = e[i] + w[0] * z0[i] * z0[i];
    }
}

CMAES_VECTOR_LOOPS
static void update_sep(cmaes *es, double c1a)
{
    int n = es->n, lam = es->par.lambda;
    const cmaes_params *p = &es->par;
    double *e = es->W;   /* exponent per coordinate */
    double wsum = c1a;
    for (int i = 0; i < n; i++) {
        double v = es->pc[i] / es->D[i];
        e[i] = c1a * v * v;
    }
    /* the rows that count, then their terms added four rows per pass over e (the same additions in the same order
     * per coordinate as one row per pass, so the same bits, with a quarter of the loads and stores of e) */
    double w[4];
    const double *z[4];
    int rows = 0;
    for (int r = 0; r <= lam; r++) {
        if (r < lam) {
            int k = es->order[r];
            double wr = p->cmu * p->weights[r];
            if (wr == 0 || (wr < 0 && !may_be_negative(es, k)))
                continue;
            wsum += wr;
            w[rows] = wr;
            z[rows++] = es->Z + (size_t)k * n;
        }
        if (rows == 4 || (r == lam && rows > 0)) {
            add_squares(e, n, w, z, rows);
            rows = 0;
        }
    }
    for (int i = 0; i < n; i++) {
        double x = e[i] - wsum;
        x = x > 2 ? 2 : x < -2 ? -2 : x;   /* a safety net; with sep rates |x| stays far below */
        es->C[i] *= exp(x);
        es->D[i] = sqrt(es->C[i]);
    }
}

static void update_sigma_csa(cmaes *es)
{
    const cmaes_params *p = &es->par;
    double len = sqrt(cmaes_dot(es->ps, es->ps, es->n));
    double s = p->cs / p->damps * (len / p->chin - 1);
    es->sigma *= exp(s > 1 ? 1 : s < -1 ? -1 : s);
}

static void update_sigma_tpa(cmaes *es)
{
    int lam = es->par.lambda;
    if (!es->tpa_pair)
        return;
    double f0 = es->f[0], f1 = es->f[1];
    int below0 = 0, below1 = 0;
    for (int k = 0; k < lam; k++) {
        below0 += es->f[k] < f0;
        below1 += es->f[k] < f1;
    }
    double q = (double)(below1 - below0) / (lam - 1);
    double sgn = (q > 0) - (q < 0);
    es->tpa_s = 0.7 * es->tpa_s + 0.3 * sgn * sqrt(fabs(q));
    es->sigma *= exp(es->tpa_s / es->par.tpa_damp);
}

void cmaes_update(cmaes *es)
{
    int n = es->n;
    double *yw = es->dm, *zw = es->tmp;
    recombine(es, yw, zw);
    memcpy(es->mean_old, es->mean, sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++)
        es->mean[i] += es->sigma * yw[i];

    const cmaes_params *p = &es->par;
    int hsig = update_paths(es, yw, zw);
    double c1a = p->c1 * (1 - (1 - hsig) * p->cc * (2 - p->cc));
    if (es->opt.variant == CMAES_FULL)
        update_full(es, c1a);
    else
        update_sep(es, c1a);

    if (p->use_tpa)
        update_sigma_tpa(es);
    else
        update_sigma_csa(es);
    for (int i = 0; i < n; i++)
        es->dm[i] = es->mean[i] - es->mean_old[i];   /* the mean shift, for TPA's next pair */
}
