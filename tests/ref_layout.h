/*
** ref_layout.h - plain-C references of resize_nearest, concat and permute,
** used only by tests.
*/
#ifndef LCMFLOW_REF_LAYOUT_H
#define LCMFLOW_REF_LAYOUT_H

#include <stdint.h>

/* x [planes, H, W] -> y [planes, out_h, out_w], source floor(dst * in / out). */
void ref_resize_nearest(const float *x, int64_t planes, int64_t H, int64_t W, int64_t out_h,
                        int64_t out_w, float *y);

/* a and b of rank `rank`, equal outside axis -> y. */
void ref_concat(const float *a, const int64_t *a_shape, const float *b, const int64_t *b_shape,
                int rank, int axis, float *y);

/* y.shape[i] = x.shape[perm[i]]. */
void ref_permute(const float *x, const int64_t *shape, int rank, const int *perm, float *y);

#endif
