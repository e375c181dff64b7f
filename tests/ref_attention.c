/*
** ref_attention.c - plain-C reference attention (see ref_attention.h).
*/
#include "ref_attention.h"

#include <math.h>
#include <stdlib.h>

void ref_attention(const float *q, const float *k, const float *v, int64_t batch, int64_t lq,
                   int64_t lk, int heads, int64_t head_dim, float scale, bool causal, float *out)
{
    int64_t c = heads * head_dim;
    double *score = malloc((size_t)lk * sizeof *score);
    if (!score) return;
    for (int64_t b = 0; b < batch; b++) {
        for (int h = 0; h < heads; h++) {
            for (int64_t i = 0; i < lq; i++) {
                const float *qi = q + (b * lq + i) * c + h * head_dim;
                int64_t n = causal && i + 1 < lk ? i + 1 : lk;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < n; j++) {
                    const float *kj = k + (b * lk + j) * c + h * head_dim;
                    double s = 0;
                    for (int64_t d = 0; d < head_dim; d++)
                        s += (double)qi[d] * kj[d];
                    score[j] = s * scale;
                    if (score[j] > mx) mx = score[j];
                }
                for (int64_t j = 0; j < n; j++) {
                    score[j] = exp(score[j] - mx);
                    sum += score[j];
                }
                float *oi = out + (b * lq + i) * c + h * head_dim;
                for (int64_t d = 0; d < head_dim; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < n; j++)
                        acc += score[j] * v[(b * lk + j) * c + h * head_dim + d];
                    oi[d] = (float)(acc / sum);
                }
            }
        }
    }
    free(score);
}
