/*
** ref_gemm.h - plain-C references for GEMM and the LoRA merge, used only by
** tests.  Double accumulation, straightforward loops; layouts as in ops.h.
*/
#ifndef LCMFLOW_REF_GEMM_H
#define LCMFLOW_REF_GEMM_H

#include <stdbool.h>
#include <stdint.h>

/* c[z][m][n] = sum_k A[z][m][k] * B[z][k][n] + bias[n] for z < batch.
** a is [M, K] per batch ([K, M] when trans_a), b is [K, N] ([N, K] when
** trans_b); a_stride / b_stride are elements between batches (0 broadcasts);
** bias may be NULL.  c is [batch, M, N]. */
void ref_gemm(const float *a, const float *b, const float *bias, bool trans_a, bool trans_b,
              int64_t batch, int64_t m, int64_t n, int64_t k, int64_t a_stride, int64_t b_stride,
              float *c);

/* One row of the unbatched product: c[n] = sum_k A[row][k] * B[k][n] + bias[n]. */
void ref_gemm_row(const float *a, const float *b, const float *bias, bool trans_b, int64_t row,
                  int64_t n, int64_t k, float *c);

/* In place: w[i][j] += scale * sum_r up[i][r] * down[r][j], w [n, k]. */
void ref_lora_merge(float *w, const float *up, const float *down, int64_t n, int64_t k,
                    int64_t rank, float scale);

#endif
