/*
** vk_ops_group_norm.c - the Vulkan group normalisation kernels, with
** optional fused SiLU (the checks are in ../ops_group_norm.c).
**
** Three dispatches: group_norm_stats reduces chunks of each group to
** (mean, M2) with two passes over the chunk; group_norm_finalize combines
** the chunks per group (Chan's parallel variance) into mean and 1/std;
** group_norm_apply normalises, scales, shifts and applies SiLU.  Chunked
** two-pass statistics in f32 stay accurate for groups of millions of
** elements (the VAE decoder's 128 x 512 x 512 activations), where a single
** sum of squares would cancel.  The scratch tensors are released right
** after recording: later dispatches are ordered after these by barriers
** (see vk_memory.c), so their memory may be reused at once.
*/
#include "vk_ops.h"

#include <string.h>

#define LOCAL_SIZE 64
#define MIN_CHUNK  4096u
#define APPLY_SPAN (64 * 8) /* elements per workgroup of group_norm_apply.comp */

enum lf_status lf_vk_group_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, int groups, float eps, bool silu,
                                struct lf_tensor *y, struct lf_error *err)
{
    char tx[96];
    enum lf_status s;
    struct lf_tensor *partial = NULL, *stats = NULL;
    int64_t batch = x->shape[0], channels = x->shape[1];
    int64_t spatial = 1;
    for (int d = 2; d < x->rank; d++)
        spatial *= x->shape[d];
    int64_t group_size = channels / groups * spatial;
    int64_t nb_groups = batch * groups;
    if (batch * channels > 65535 || (spatial + APPLY_SPAN - 1) / APPLY_SPAN > 65535) {
        s = lf_error_set(err, LF_ERR_UNSUPPORTED, "group_norm: x %s is too large for one grid",
                         lf_op_shape_text(x, tx, sizeof tx));
        goto fail;
    }

    /* Chunks of at least MIN_CHUNK elements, few enough for one grid row. */
    uint32_t chunk = MIN_CHUNK;
    while ((group_size + chunk - 1) / chunk > 65535)
        chunk *= 2;
    uint32_t chunks = (uint32_t)((group_size + chunk - 1) / chunk);
    if ((s = lf_vk_scratch(x, LF_DTYPE_F32, nb_groups * chunks * 2, &partial, err)) ||
        (s = lf_vk_scratch(x, LF_DTYPE_F32, nb_groups * 2, &stats, err)))
        goto fail;

    struct {
        uint64_t x, partial;
        uint32_t x_dtype, group_size, chunk, chunks;
    } ps = {lf_vk_address(x),
            lf_vk_address(partial),
            lf_vk_dtype(x),
            (uint32_t)group_size,
            chunk,
            chunks};
    if ((s = lf_vk_run(lf_vk_tensor_device(x), "group_norm_stats", NULL, 0, &ps, sizeof ps, chunks,
                       (uint32_t)nb_groups, 1, err)))
        goto fail;

    struct {
        uint64_t partial, stats;
        uint32_t groups, group_size, chunk, chunks;
        float eps;
    } pf = {lf_vk_address(partial),
            lf_vk_address(stats),
            (uint32_t)nb_groups,
            (uint32_t)group_size,
            chunk,
            chunks,
            eps};
    if ((s = lf_vk_run_1d(lf_vk_tensor_device(x), "group_norm_finalize", &pf, sizeof pf, pf.groups,
                          LOCAL_SIZE, err)))
        goto fail;

    struct {
        uint64_t x, y, stats, gamma, beta;
        uint32_t spatial, channels, group_channels;
        uint32_t x_dtype, y_dtype, gamma_dtype, beta_dtype, silu;
    } pa = {
        .x = lf_vk_address(x),
        .y = lf_vk_address(y),
        .stats = lf_vk_address(stats),
        .gamma = lf_vk_address(gamma),
        .beta = lf_vk_address(beta),
        .spatial = (uint32_t)spatial,
        .channels = (uint32_t)channels,
        .group_channels = (uint32_t)(channels / groups),
        .x_dtype = lf_vk_dtype(x),
        .y_dtype = lf_vk_dtype(y),
        .gamma_dtype = gamma ? lf_vk_dtype(gamma) : 0,
        .beta_dtype = beta ? lf_vk_dtype(beta) : 0,
        .silu = silu ? 1u : 0u,
    };
    uint32_t apply_x = (uint32_t)((spatial + APPLY_SPAN - 1) / APPLY_SPAN);
    s = lf_vk_run(lf_vk_tensor_device(x), "group_norm_apply", NULL, 0, &pa, sizeof pa, apply_x,
                  (uint32_t)(batch * channels), 1, err);
fail:
    /* Released once recorded: later dispatches are ordered after these. */
    lf_tensor_release(partial);
    lf_tensor_release(stats);
    return s;
}
