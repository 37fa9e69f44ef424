/* torchsave_cases.h — the tensors of tests/common/make_goldens.py, computed in C (test_torchsave.c, torchsave_write.c). */
#ifndef TESTS_COMMON_TORCHSAVE_CASES_H
#define TESTS_COMMON_TORCHSAVE_CASES_H

#include <math.h>
#include <stdlib.h>

#include "common/torchsave.h"

/* SPECIAL of make_goldens.py: rounding ties, f16 subnormals and overflow, signed zero, infinities, NaN, [3, 7] */
static inline void case_special(float v[21])
{
    static const double s[21] = {1.0, 1.00390625, 1.01171875, -1.00390625, 3.0e-8, 2.98023223876953125e-8, 1.0e-7,
                                 -6.0e-5, 65504.0, 65519.0, 65520.0, 1.0e6, -0.0, 0.0,
                                 0, 0, 0, 0.1, -0.2, 3.14159265, 1.0e-40};
    for (int i = 0; i < 21; i++)
        v[i] = (float)s[i];
    v[14] = INFINITY, v[15] = -INFINITY, v[16] = NAN;
}

/* large() of make_goldens.py: rows × cols, malloc'ed */
static inline float *case_large(int rows, int cols)
{
    float *v = malloc((size_t)rows * cols * sizeof *v);
    for (int i = 0; v && i < rows; i++)
        for (int j = 0; j < cols; j++)
            v[(size_t)i * cols + j] = (float)((double)((i * 131 + j * 71) % 1000 - 500) / 37.0);
    return v;
}

#endif
