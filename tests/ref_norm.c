/*
** ref_norm.c - plain-C reference layer norm and softmax (see ref_norm.h).
*/
#include "ref_norm.h"

#include <math.h>

void ref_layer_norm(const float *x, const float *gamma, const float *beta, int64_t rows,
                    int64_t cols, float eps, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < cols; j++)
            mean += xr[j];
        mean /= (double)cols;
        for (int64_t j = 0; j < cols; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        var /= (double)cols;
        double rstd = 1.0 / sqrt(var + eps);
        for (int64_t j = 0; j < cols; j++) {
            double v = (xr[j] - mean) * rstd;
            if (gamma) v *= gamma[j];
            if (beta) v += beta[j];
            y[r * cols + j] = (float)v;
        }
    }
}

void ref_softmax(const float *x, int64_t rows, int64_t cols, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < cols; j++)
            if (xr[j] > mx) mx = xr[j];
        for (int64_t j = 0; j < cols; j++)
            sum += exp(xr[j] - mx);
        for (int64_t j = 0; j < cols; j++)
            y[r * cols + j] = (float)(exp(xr[j] - mx) / sum);
    }
}
