/*
** ref_conv.h - plain-C reference of lf_op_conv2d, used only by tests:
** straightforward loops with double accumulation.
*/
#ifndef LCMFLOW_REF_CONV_H
#define LCMFLOW_REF_CONV_H

#include "lcmflow/ops.h"

#include <stdint.h>

/* x [B, C, H, W], w [O, C, KH, KW], bias [O] or NULL -> y [B, O, Ho, Wo]
** with Ho = (H + pad_top + pad_bottom - KH) / stride + 1 (Wo likewise);
** y must hold B * O * Ho * Wo values. */
void ref_conv2d(const float *x, const float *w, const float *bias, int64_t B, int64_t C, int64_t H,
                int64_t W, int64_t O, int64_t KH, int64_t KW, const struct lf_conv2d_params *p,
                float *y);

#endif
