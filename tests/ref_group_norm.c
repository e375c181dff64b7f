/*
** ref_group_norm.c - reference group norm (see ref_group_norm.h).
*/
#include "ref_group_norm.h"

#include <math.h>

void ref_group_norm(const float *x, const float *gamma, const float *beta, int64_t B, int64_t C,
                    int64_t S, int groups, float eps, bool silu, float *y)
{
    int64_t cpg = C / groups, n = cpg * S;
    for (int64_t b = 0; b < B; b++)
        for (int g = 0; g < groups; g++) {
            const float *xs = x + (b * C + g * cpg) * S;
            float *ys = y + (b * C + g * cpg) * S;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < n; i++)
                mean += xs[i];
            mean /= (double)n;
            for (int64_t i = 0; i < n; i++)
                var += (xs[i] - mean) * (xs[i] - mean);
            var /= (double)n;
            double rstd = 1.0 / sqrt(var + eps);
            for (int64_t i = 0; i < n; i++) {
                int64_t c = g * cpg + i / S;
                double v = (xs[i] - mean) * rstd;
                if (gamma) v *= gamma[c];
                if (beta) v += beta[c];
                if (silu) v = v / (1.0 + exp(-v));
                ys[i] = (float)v;
            }
        }
}
