/*
** vk_ops_misc.c - the Vulkan kernels of softmax (last dimension), GEGLU
** and the sinusoidal timestep embedding (the checks are in ../ops_misc.c).
** Shaders: softmax.comp, geglu.comp, timestep_embedding.comp.
*/
#include "vk_ops.h"

#include <math.h>

#define LOCAL_SIZE 64

enum lf_status lf_vk_softmax(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err)
{
    int64_t cols = x->shape[x->rank - 1];
    /* softmax.comp walks a row twice. */
    enum lf_status s = lf_vk_check_row_walks("softmax", x, 2, err);
    if (s) return s;
    struct {
        uint64_t x, y;
        uint32_t rows, cols, x_dtype, y_dtype;
    } p = {
        .x = lf_vk_address(x),
        .y = lf_vk_address(y),
        .rows = (uint32_t)(lf_tensor_numel(x) / cols),
        .cols = (uint32_t)cols,
        .x_dtype = lf_vk_dtype(x),
        .y_dtype = lf_vk_dtype(y),
    };
    return lf_vk_run_1d(lf_vk_tensor_device(x), "softmax", &p, sizeof p, p.rows, LOCAL_SIZE, err);
}

enum lf_status lf_vk_geglu(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err)
{
    struct {
        uint64_t x, y;
        uint32_t count, n, x_dtype, y_dtype;
    } p = {
        .x = lf_vk_address(x),
        .y = lf_vk_address(y),
        .count = (uint32_t)lf_tensor_numel(y),
        .n = (uint32_t)y->shape[y->rank - 1],
        .x_dtype = lf_vk_dtype(x),
        .y_dtype = lf_vk_dtype(y),
    };
    return lf_vk_run_1d(lf_vk_tensor_device(x), "geglu", &p, sizeof p, p.count, LOCAL_SIZE, err);
}

enum lf_status lf_vk_timestep_embedding(struct lf_tensor *t, int dim, bool flip_sin_to_cos,
                                        float shift, float max_period, struct lf_tensor *y,
                                        struct lf_error *err)
{
    struct {
        uint64_t t, y;
        uint32_t count, dim, flip;
        float shift, log_max_period;
    } p = {
        .t = lf_vk_address(t),
        .y = lf_vk_address(y),
        .count = (uint32_t)lf_tensor_numel(y),
        .dim = (uint32_t)dim,
        .flip = flip_sin_to_cos,
        .shift = shift,
        .log_max_period = logf(max_period),
    };
    return lf_vk_run_1d(lf_vk_tensor_device(t), "timestep_embedding", &p, sizeof p, p.count,
                        LOCAL_SIZE, err);
}
