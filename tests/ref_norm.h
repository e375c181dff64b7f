/*
** ref_norm.h - plain-C references of lf_op_layer_norm and lf_op_softmax
** (last dimension), used only by tests; double accumulation.
*/
#ifndef LCMFLOW_REF_NORM_H
#define LCMFLOW_REF_NORM_H

#include <stdint.h>

/* x and y [rows, cols]; gamma/beta [cols] or NULL. */
void ref_layer_norm(const float *x, const float *gamma, const float *beta, int64_t rows,
                    int64_t cols, float eps, float *y);
void ref_softmax(const float *x, int64_t rows, int64_t cols, float *y);

#endif
