/*
** vk_ops_layout.c - the Vulkan kernels of the ops that move elements
** without arithmetic: nearest resize, concatenation along any axis, and
** dimension permutation (the checks are in ../ops_layout.c).  Shaders:
** resize_nearest.comp, concat.comp, permute.comp (one portable shader each;
** they are memory-bound, so no device-tuned variants).
*/
#include "vk_ops.h"

#include <string.h>

#define LOCAL_SIZE 64

enum lf_status lf_vk_resize_nearest(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err)
{
    struct {
        uint64_t x, y;
        uint32_t count, x_dtype, y_dtype, in_h, in_w, out_h, out_w;
    } p = {
        .x = lf_vk_address(x),
        .y = lf_vk_address(y),
        .count = (uint32_t)lf_tensor_numel(y),
        .x_dtype = lf_vk_dtype(x),
        .y_dtype = lf_vk_dtype(y),
        .in_h = (uint32_t)x->shape[2],
        .in_w = (uint32_t)x->shape[3],
        .out_h = (uint32_t)y->shape[2],
        .out_w = (uint32_t)y->shape[3],
    };
    return lf_vk_run_1d(lf_vk_tensor_device(x), "resize_nearest", &p, sizeof p, p.count, LOCAL_SIZE,
                        err);
}

enum lf_status lf_vk_concat(struct lf_tensor *a, struct lf_tensor *b, int axis, struct lf_tensor *y,
                            struct lf_error *err)
{
    int64_t inner = 1;
    for (int d = axis + 1; d < a->rank; d++)
        inner *= a->shape[d];
    struct {
        uint64_t a, b, y;
        uint32_t count, a_dtype, b_dtype, y_dtype, a_span, b_span;
    } p = {
        .a = lf_vk_address(a),
        .b = lf_vk_address(b),
        .y = lf_vk_address(y),
        .count = (uint32_t)lf_tensor_numel(y),
        .a_dtype = lf_vk_dtype(a),
        .b_dtype = lf_vk_dtype(b),
        .y_dtype = lf_vk_dtype(y),
        .a_span = (uint32_t)(a->shape[axis] * inner),
        .b_span = (uint32_t)(b->shape[axis] * inner),
    };
    return lf_vk_run_1d(lf_vk_tensor_device(a), "concat", &p, sizeof p, p.count, LOCAL_SIZE, err);
}

enum lf_status lf_vk_permute(struct lf_tensor *x, const int *perm, struct lf_tensor *y,
                             struct lf_error *err)
{
    int rank = x->rank;
    uint32_t in_stride[LF_TENSOR_MAX_RANK];
    uint32_t step = 1;
    for (int d = rank - 1; d >= 0; d--) {
        in_stride[d] = step;
        step *= (uint32_t)x->shape[d];
    }
    struct {
        uint64_t x, y;
        uint32_t count, x_dtype, y_dtype, pad;
        uint32_t shape[4], stride[4];
    } p;
    memset(&p, 0, sizeof p);
    for (int d = 0; d < 4; d++)
        p.shape[d] = 1;
    /* Right-align the rank-r permutation into the shader's 4 dimensions. */
    for (int d = 0; d < rank; d++) {
        p.shape[4 - rank + d] = (uint32_t)y->shape[d];
        p.stride[4 - rank + d] = in_stride[perm[d]];
    }
    p.x = lf_vk_address(x);
    p.y = lf_vk_address(y);
    p.count = (uint32_t)lf_tensor_numel(y);
    p.x_dtype = lf_vk_dtype(x);
    p.y_dtype = lf_vk_dtype(y);
    return lf_vk_run_1d(lf_vk_tensor_device(x), "permute", &p, sizeof p, p.count, LOCAL_SIZE, err);
}
