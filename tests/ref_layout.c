/*
** ref_layout.c - reference layout ops (see ref_layout.h).
*/
#include "ref_layout.h"

void ref_resize_nearest(const float *x, int64_t planes, int64_t H, int64_t W, int64_t out_h,
                        int64_t out_w, float *y)
{
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < out_h; oy++)
            for (int64_t ox = 0; ox < out_w; ox++) {
                int64_t iy = oy * H / out_h, ix = ox * W / out_w;
                y[(pl * out_h + oy) * out_w + ox] = x[(pl * H + iy) * W + ix];
            }
}

void ref_concat(const float *a, const int64_t *a_shape, const float *b, const int64_t *b_shape,
                int rank, int axis, float *y)
{
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= a_shape[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= a_shape[d];
    int64_t na = a_shape[axis] * inner, nb = b_shape[axis] * inner, k = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < na; i++)
            y[k++] = a[o * na + i];
        for (int64_t i = 0; i < nb; i++)
            y[k++] = b[o * nb + i];
    }
}

void ref_permute(const float *x, const int64_t *shape, int rank, const int *perm, float *y)
{
    int64_t stride[8], n = 1;
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = n;
        n *= shape[d];
    }
    for (int64_t i = 0; i < n; i++) {
        /* Output coordinates, last dimension fastest. */
        int64_t rest = i, src = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t size = shape[perm[d]];
            src += (rest % size) * stride[perm[d]];
            rest /= size;
        }
        y[i] = x[src];
    }
}
