/* cmaes_bounds.c — box bounds by a coordinate-wise transformation (the design of pycma's BoundTransform).
 *
 * Why a transformation and not a penalty: a penalty makes the candidates outside the box useless and bends the ranking,
 * which slows convergence when the optimum is near a bound; a transformation keeps every candidate feasible and is the
 * identity inside the box, so an interior optimum is approached exactly as without bounds.
 *
 * For a coordinate with bounds [l, u], margins a_l = min((u-l)/20, (1+|l|)/20) and a_u likewise, the internal value x
 * maps to y in [l, u]: x is first folded (periodically, by reflection) into [l - a_l, u + a_u], then
 *     y = l + (x - (l - a_l))^2 / (4 a_l)   for x < l + a_l   (a parabola touching the bound with slope 0),
 *     y = u - (x - (u + a_u))^2 / (4 a_u)   for x > u - a_u,
 *     y = x                                 otherwise.
 * The map is continuous with a continuous slope; its inverse on [l, u] is used for x0 and injected solutions.
 * A side that is infinite has no margin: only the finite side bends and reflects.
 */
#include <math.h>

#include "optim/cmaes_internal.h"

static double margin(double l, double u, double at)
{
    double a = (1 + fabs(at)) / 20;
    if (isfinite(l) && isfinite(u) && (u - l) / 20 < a)
        a = (u - l) / 20;
    return a;
}

static double to_pheno_1(double x, double l, double u)
{
    int lo = isfinite(l), hi = isfinite(u);
    if (!lo && !hi)
        return x;
    double al = lo ? margin(l, u, l) : 0, au = hi ? margin(l, u, u) : 0;
    double start = l - al, end = u + au;
    if (lo && hi) {
        double period = 2 * (end - start);
        double t = fmod(x - start, period);
        if (t < 0)
            t += period;
        x = start + t;
        if (x > end)
            x = 2 * end - x;
    } else if (lo) {
        if (x < start)
            x = 2 * start - x;
    } else if (x > end) {
        x = 2 * end - x;
    }
    if (lo && x < l + al)
        return l + (x - start) * (x - start) / (4 * al);
    if (hi && x > u - au)
        return u - (x - end) * (x - end) / (4 * au);
    return x;
}

static double to_geno_1(double y, double l, double u)
{
    int lo = isfinite(l), hi = isfinite(u);
    if (lo && y < l)
        y = l;
    if (hi && y > u)
        y = u;
    double al = lo ? margin(l, u, l) : 0, au = hi ? margin(l, u, u) : 0;
    if (lo && y < l + al)
        return l - al + 2 * sqrt(al * (y - l));
    if (hi && y > u - au)
        return u + au - 2 * sqrt(au * (u - y));
    return y;
}

void cmaes_to_pheno(const cmaes *es, const double *geno, double *pheno)
{
    if (!es->lower) {
        if (pheno != geno)
            for (int i = 0; i < es->n; i++)
                pheno[i] = geno[i];
        return;
    }
    for (int i = 0; i < es->n; i++)
        pheno[i] = to_pheno_1(geno[i], es->lower[i], es->upper[i]);
}

void cmaes_to_geno(const cmaes *es, const double *pheno, double *geno)
{
    if (!es->lower) {
        if (pheno != geno)
            for (int i = 0; i < es->n; i++)
                geno[i] = pheno[i];
        return;
    }
    for (int i = 0; i < es->n; i++)
        geno[i] = to_geno_1(pheno[i], es->lower[i], es->upper[i]);
}
