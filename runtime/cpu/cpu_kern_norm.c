/*
** cpu_kern_norm.c - group norm (+ SiLU), layer norm and softmax; compiled
** once per instruction set (cpu_kern_isa.h).
**
** Statistics are two-pass (mean, then the mean of squared deviations):
** f32 partial sums over chunks of 4096 values, added in double, so a group
** of 128 x 512 x 512 activations keeps f32 accuracy.
*/
#include "cpu_kern_isa.h"
#include "cpu_math.h"

#include <math.h>
#include <string.h>

#define STAT_CHUNK 4096

static double sum_of(const float *x, int64_t n)
{
    double total = 0;
    for (int64_t lo = 0; lo < n; lo += STAT_CHUNK) {
        int64_t len = n - lo < STAT_CHUNK ? n - lo : STAT_CHUNK;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; i++)
            s += x[lo + i];
        total += s;
    }
    return total;
}

static double sum_sq_dev(const float *x, int64_t n, float mean)
{
    double total = 0;
    for (int64_t lo = 0; lo < n; lo += STAT_CHUNK) {
        int64_t len = n - lo < STAT_CHUNK ? n - lo : STAT_CHUNK;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; i++) {
            float d = x[lo + i] - mean;
            s += d * d;
        }
        total += s;
    }
    return total;
}

/* y = x * a + b, then SiLU when silu. */
static void affine(const float *x, float *y, int64_t n, float a, float b, bool silu)
{
    if (silu) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = lf_cpu_xsigmoid(x[i] * a + b, 1.0f);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * a + b;
    }
}

void LF_ISA_FN(lf_cpu_group_norm)(const float *x, const float *gamma, const float *beta,
                                  int64_t batch, int64_t channels, int64_t spatial, int64_t groups,
                                  float eps, bool silu, float *y)
{
    int64_t cpg = channels / groups, count = cpg * spatial;
#pragma omp parallel for schedule(static)
    for (int64_t bg = 0; bg < batch * groups; bg++) {
        const float *xg = x + bg * count;
        float *yg = y + bg * count;
        float mean = (float)(sum_of(xg, count) / (double)count);
        float var = (float)(sum_sq_dev(xg, count, mean) / (double)count);
        float rstd = 1.0f / sqrtf(var + eps);
        for (int64_t c = 0; c < cpg; c++) {
            int64_t ch = (bg % groups) * cpg + c;
            float a = rstd * (gamma ? gamma[ch] : 1.0f);
            float b = (beta ? beta[ch] : 0.0f) - mean * a;
            affine(xg + c * spatial, yg + c * spatial, spatial, a, b, silu);
        }
    }
}

void LF_ISA_FN(lf_cpu_layer_norm)(const float *x, const float *gamma, const float *beta,
                                  int64_t rows, int64_t cols, float eps, float *y)
{
#pragma omp parallel for if (rows * cols > LF_CPU_CHUNK) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mean = (float)(sum_of(xr, cols) / (double)cols);
        float var = (float)(sum_sq_dev(xr, cols, mean) / (double)cols);
        float rstd = 1.0f / sqrtf(var + eps);
        if (gamma && beta) {
#pragma omp simd
            for (int64_t i = 0; i < cols; i++)
                yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < cols; i++)
                yr[i] = (xr[i] - mean) * rstd * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
        }
    }
}

/* y[i] = e^(x[i] - max) / sum, one row. */
static void softmax_row(const float *x, float *y, int64_t n)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; i++) {
        y[i] = lf_cpu_exp(x[i] - mx);
        sum += y[i];
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] *= inv;
}

void LF_ISA_FN(lf_cpu_softmax)(const float *x, float *y, int64_t rows, int64_t cols)
{
#pragma omp parallel for if (rows * cols > LF_CPU_CHUNK) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        softmax_row(x + r * cols, y + r * cols, cols);
}

/* bf16 activations, f32 math: each group's values pass through a short
** f32 stretch on the stack (three reads of bf16, one write). */
#define BF16_RUN 2048

void LF_ISA_FN(lf_cpu_group_norm_bf16)(const uint16_t *x, const float *gamma, const float *beta,
                                       int64_t batch, int64_t channels, int64_t spatial,
                                       int64_t groups, float eps, bool silu, uint16_t *y)
{
    int64_t cpg = channels / groups, count = cpg * spatial;
#pragma omp parallel for schedule(static)
    for (int64_t bg = 0; bg < batch * groups; bg++) {
        float f[BF16_RUN];
        const uint16_t *xg = x + bg * count;
        uint16_t *yg = y + bg * count;
        double total = 0, dev = 0;
        for (int64_t lo = 0; lo < count; lo += BF16_RUN) {
            int64_t len = count - lo < BF16_RUN ? count - lo : BF16_RUN;
            bf16_load(xg + lo, f, len);
            total += sum_of(f, len);
        }
        float mean = (float)(total / (double)count);
        for (int64_t lo = 0; lo < count; lo += BF16_RUN) {
            int64_t len = count - lo < BF16_RUN ? count - lo : BF16_RUN;
            bf16_load(xg + lo, f, len);
            dev += sum_sq_dev(f, len, mean);
        }
        float rstd = 1.0f / sqrtf((float)(dev / (double)count) + eps);
        for (int64_t c = 0; c < cpg; c++) {
            int64_t ch = (bg % groups) * cpg + c;
            float a = rstd * (gamma ? gamma[ch] : 1.0f);
            float b = (beta ? beta[ch] : 0.0f) - mean * a;
            for (int64_t lo = 0; lo < spatial; lo += BF16_RUN) {
                int64_t len = spatial - lo < BF16_RUN ? spatial - lo : BF16_RUN;
                bf16_load(xg + c * spatial + lo, f, len);
                affine(f, f, len, a, b, silu);
                bf16_store(f, yg + c * spatial + lo, len);
            }
        }
    }
}
