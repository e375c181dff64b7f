/*
** ref_conv.c - reference convolution (see ref_conv.h).
*/
#include "ref_conv.h"

void ref_conv2d(const float *x, const float *w, const float *bias, int64_t B, int64_t C, int64_t H,
                int64_t W, int64_t O, int64_t KH, int64_t KW, const struct lf_conv2d_params *p,
                float *y)
{
    int64_t Ho = (H + p->pad_top + p->pad_bottom - KH) / p->stride + 1;
    int64_t Wo = (W + p->pad_left + p->pad_right - KW) / p->stride + 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oy = 0; oy < Ho; oy++)
                for (int64_t ox = 0; ox < Wo; ox++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t ky = 0; ky < KH; ky++) {
                            int64_t iy = oy * p->stride - p->pad_top + ky;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t ix = ox * p->stride - p->pad_left + kx;
                                if (ix < 0 || ix >= W) continue;
                                acc += (double)x[((b * C + c) * H + iy) * W + ix] *
                                       (double)w[((o * C + c) * KH + ky) * KW + kx];
                            }
                        }
                    y[((b * O + o) * Ho + oy) * Wo + ox] = (float)acc;
                }
}
