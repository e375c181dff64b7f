/*
** ref_gemm.c - plain-C GEMM and LoRA merge references (see ref_gemm.h).
*/
#include "ref_gemm.h"

void ref_gemm_row(const float *a, const float *b, const float *bias, bool trans_b, int64_t row,
                  int64_t n, int64_t k, float *c)
{
    for (int64_t j = 0; j < n; j++) {
        double acc = bias ? bias[j] : 0.0;
        for (int64_t q = 0; q < k; q++)
            acc += (double)a[row * k + q] * (double)(trans_b ? b[j * k + q] : b[q * n + j]);
        c[j] = (float)acc;
    }
}

void ref_gemm(const float *a, const float *b, const float *bias, bool trans_a, bool trans_b,
              int64_t batch, int64_t m, int64_t n, int64_t k, int64_t a_stride, int64_t b_stride,
              float *c)
{
    for (int64_t z = 0; z < batch; z++) {
        const float *az = a + z * a_stride, *bz = b + z * b_stride;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = bias ? bias[j] : 0.0;
                for (int64_t q = 0; q < k; q++) {
                    double x = trans_a ? az[q * m + i] : az[i * k + q];
                    double y = trans_b ? bz[j * k + q] : bz[q * n + j];
                    acc += x * y;
                }
                c[(z * m + i) * n + j] = (float)acc;
            }
    }
}

void ref_lora_merge(float *w, const float *up, const float *down, int64_t n, int64_t k,
                    int64_t rank, float scale)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            double acc = 0.0;
            for (int64_t r = 0; r < rank; r++)
                acc += (double)up[i * rank + r] * (double)down[r * k + j];
            w[i * k + j] = (float)((double)w[i * k + j] + (double)scale * acc);
        }
}
