/*
** vk_ops_elementwise.c - the Vulkan kernels of fill, unary functions (with
** scale, cast and copy) and broadcasting binary ops (the checks are in
** ../ops_elementwise.c).  Shaders: fill.comp, unary.comp, binary.comp.
*/
#include "vk_ops.h"

#include <string.h>

#define LOCAL_SIZE  64
#define FN_IDENTITY 100u /* unary.comp's code for y = x * scale + shift */

struct unary_push {
    uint64_t x, y;
    uint32_t count, x_dtype, y_dtype, fn;
    float scale, shift;
};

enum lf_status lf_vk_unary(struct lf_tensor *x, uint32_t fn, float scale, float shift,
                           struct lf_tensor *y, struct lf_error *err)
{
    struct unary_push p = {
        .x = lf_vk_address(x),
        .y = lf_vk_address(y),
        .count = (uint32_t)lf_tensor_numel(x),
        .x_dtype = lf_vk_dtype(x),
        .y_dtype = lf_vk_dtype(y),
        /* The other codes are enum lf_unary's values. */
        .fn = fn == LF_BACKEND_UNARY_IDENTITY ? FN_IDENTITY : fn,
        .scale = scale,
        .shift = shift,
    };
    return lf_vk_run_1d(lf_vk_tensor_device(x), "unary", &p, sizeof p, p.count, LOCAL_SIZE, err);
}

enum lf_status lf_vk_fill(struct lf_tensor *x, float value, struct lf_error *err)
{
    struct {
        uint64_t dst;
        uint32_t count, dtype;
        float value;
    } p;
    memset(&p, 0, sizeof p);
    p.dst = lf_vk_address(x);
    p.count = (uint32_t)lf_tensor_numel(x);
    p.dtype = lf_vk_dtype(x);
    p.value = value;
    return lf_vk_run_1d(lf_vk_tensor_device(x), "fill", &p, sizeof p, p.count, LOCAL_SIZE, err);
}

struct binary_push {
    uint64_t a, b, y;
    uint32_t count, a_dtype, b_dtype, y_dtype, fn, pad;
    uint32_t shape[4], a_stride[4], b_stride[4];
};

enum lf_status lf_vk_binary(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                            struct lf_tensor *y, struct lf_error *err)
{
    struct binary_push p = {
        .a = lf_vk_address(a),
        .b = lf_vk_address(b),
        .y = lf_vk_address(y),
        .count = (uint32_t)lf_tensor_numel(y),
        .a_dtype = lf_vk_dtype(a),
        .b_dtype = lf_vk_dtype(b),
        .y_dtype = lf_vk_dtype(y),
        .fn = (uint32_t)fn,
    };
    /* y's shape right-aligned into 4 dims. */
    for (int d = 0; d < 4; d++) {
        int src = y->rank - (4 - d);
        p.shape[d] = src >= 0 ? (uint32_t)y->shape[src] : 1;
    }
    lf_backend_broadcast_strides(a, p.shape, p.a_stride);
    lf_backend_broadcast_strides(b, p.shape, p.b_stride);
    return lf_vk_run_1d(lf_vk_tensor_device(a), "binary", &p, sizeof p, p.count, LOCAL_SIZE, err);
}
