/*
** ref_misc.c - plain-C reference GEGLU and timestep embedding (see
** ref_misc.h).
*/
#include "ref_misc.h"

#include <math.h>

void ref_geglu(const float *x, int64_t rows, int64_t n, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < n; j++) {
            double a = x[r * 2 * n + j], g = x[r * 2 * n + n + j];
            y[r * n + j] = (float)(a * 0.5 * g * (1.0 + erf(g / sqrt(2.0))));
        }
    }
}

void ref_timestep_embedding(const float *t, int64_t batch, int dim, bool flip_sin_to_cos,
                            float shift, float max_period, float *y)
{
    int half = dim / 2;
    for (int64_t b = 0; b < batch; b++) {
        for (int i = 0; i < half; i++) {
            double freq = exp(-log((double)max_period) * i / (half - (double)shift));
            double arg = t[b] * freq;
            double first = flip_sin_to_cos ? cos(arg) : sin(arg);
            double second = flip_sin_to_cos ? sin(arg) : cos(arg);
            y[b * dim + i] = (float)first;
            y[b * dim + half + i] = (float)second;
        }
        if (dim % 2) y[b * dim + dim - 1] = 0.0f;
    }
}
