/* cmaes_util.c — the error idiom (cmaes_fail, cmaes_strerror, cmaes_errmsg) and the small numeric helpers every
 * CMA-ES file shares (cmaes_internal.h). A leaf of optim/: it calls no other cmaes_* file, so the front file
 * (cmaes.c) and the step files (cmaes_sample.c, cmaes_update.c, …) depend on it and never on each other in a circle. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/cmaes_internal.h"

/* ---- errors ---- */

int cmaes_fail(cmaes *es, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(es->err, sizeof es->err, fmt, ap);
    va_end(ap);
    return code;
}

const char *cmaes_strerror(int code)
{
    switch (code) {
    case CMAES_OK: return "success";
    case CMAES_ERR_OPTION: return "invalid option";
    case CMAES_ERR_NOMEM: return "out of memory";
    case CMAES_ERR_STATE: return "call out of order";
    case CMAES_ERR_FINISHED: return "optimization finished";
    case CMAES_ERR_ARG: return "invalid argument";
    case CMAES_ERR_IO: return "input/output error";
    case CMAES_ERR_FORMAT: return "not a cmaes state of a known version";
    case CMAES_ERR_CORRUPT: return "corrupt cmaes state";
    case CMAES_ERR_NUMERIC: return "numerical failure";
    default: return "unknown error code";
    }
}

const char *cmaes_errmsg(const cmaes *es)
{
    return es ? es->err : "no optimizer";
}

/* ---- small helpers ---- */

double cmaes_dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* k-th smallest of v[0..count) (Hoare's selection, median-of-three pivot); reorders v. */
static double select_kth(double *v, int count, int k)
{
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

double cmaes_median(double *v, int count)
{
    int h = count / 2;
    double upper = select_kth(v, count, h);
    if (count % 2)
        return upper;
    double lower = v[0];   /* after selection v[0..h) holds the h smallest */
    for (int i = 1; i < h; i++)
        lower = v[i] > lower ? v[i] : lower;
    if (isinf(lower) && isinf(upper) && lower == upper)
        return upper;
    return 0.5 * (lower + upper);
}

/* Stable merge sort of indices 0..count-1 by key (keys are never NaN here). */
void cmaes_rank(const double *key, int count, int *idx, int *tmp)
{
    for (int i = 0; i < count; i++)
        idx[i] = i;
    for (int width = 1; width < count; width *= 2) {
        for (int lo = 0; lo < count; lo += 2 * width) {
            int mid = lo + width < count ? lo + width : count, hi = lo + 2 * width < count ? lo + 2 * width : count;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = key[idx[j]] < key[idx[i]] ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[o++] = idx[i++];
            while (j < hi)
                tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, sizeof(int) * (size_t)count);
    }
}
