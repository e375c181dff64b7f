/*
** vk_ops_layer_norm.c - the Vulkan layer normalisation kernel, over the
** last dimension (the checks are in ../ops_layer_norm.c).
** Shader: layer_norm.comp (one invocation per row).
*/
#include "vk_ops.h"

#define LOCAL_SIZE 64

struct layer_norm_push {
    uint64_t x, y, gamma, beta;
    uint32_t rows, cols, x_dtype, y_dtype, gamma_dtype, beta_dtype;
    float eps;
};

enum lf_status lf_vk_layer_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, float eps, struct lf_tensor *y,
                                struct lf_error *err)
{
    int64_t cols = x->shape[x->rank - 1];
    /* layer_norm.comp walks a row three times. */
    enum lf_status s = lf_vk_check_row_walks("layer_norm", x, 3, err);
    if (s) return s;
    struct layer_norm_push p = {
        .x = lf_vk_address(x),
        .y = lf_vk_address(y),
        .gamma = lf_vk_address(gamma),
        .beta = lf_vk_address(beta),
        .rows = (uint32_t)(lf_tensor_numel(x) / cols),
        .cols = (uint32_t)cols,
        .x_dtype = lf_vk_dtype(x),
        .y_dtype = lf_vk_dtype(y),
        .gamma_dtype = gamma ? lf_vk_dtype(gamma) : 0,
        .beta_dtype = beta ? lf_vk_dtype(beta) : 0,
        .eps = eps,
    };
    return lf_vk_run_1d(lf_vk_tensor_device(x), "layer_norm", &p, sizeof p, p.rows, LOCAL_SIZE,
                        err);
}
