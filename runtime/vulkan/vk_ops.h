/*
** vk_ops.h - what the Vulkan op kernels (vk_ops_*.c) share: tensor
** addresses and dtype codes for push constants, dispatching an embedded
** shader, and each op's entry of the backend table.
**
** The entries receive checked arguments (see backend.h); what they check
** is only what the Vulkan kernels cannot run: grid sizes over 65535
** workgroups, llvmpipe's 65535 loop iterations per invocation, shader
** limits such as the largest head dimension.
*/
#ifndef LCMFLOW_VK_OPS_H
#define LCMFLOW_VK_OPS_H

#include "vk_impl.h"

/* Shader dtype codes (shaders/common.glsl): 0 = f32, 1 = f16. */
static inline uint32_t lf_vk_dtype(const struct lf_tensor *t)
{
    return t->dtype == LF_DTYPE_F16 ? 1u : 0u;
}

/* Device address of the tensor's first element (0 for NULL). */
static inline uint64_t lf_vk_address(const struct lf_tensor *t)
{
    return t ? lf_vk_buffer_address(t->buffer) + t->offset : 0;
}

/* The Vulkan device of a tensor. */
static inline struct lf_vk_device *lf_vk_tensor_device(const struct lf_tensor *t)
{
    return lf_vk_device(t->device);
}

/* Dispatches shader (spec constants optional) with the given push constants
** over groups_x * groups_y * groups_z workgroups.  LCMFLOW_OP_PROFILE=1
** runs each dispatch alone and prints where the time went at exit. */
enum lf_status lf_vk_run(struct lf_vk_device *device, const char *shader, const uint32_t *spec,
                         uint32_t spec_count, const void *push, uint32_t push_size,
                         uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                         struct lf_error *err);

/* Dispatches a 1-D grid of at least `invocations` invocations with the
** shader's local_size_x = local_size, laid out as (x, y) groups so that
** x <= 65535; shaders recover the index with lf_global_index() and must
** bounds-check it. */
enum lf_status lf_vk_run_1d(struct lf_vk_device *device, const char *shader, const void *push,
                            uint32_t push_size, uint64_t invocations, uint32_t local_size,
                            struct lf_error *err);

/* A scratch tensor of count elements on t's device (caller releases). */
/* llvmpipe ends an invocation's loops after 65535 iterations: a row kernel
** that walks each row `walks` times, 8 columns per iteration, takes rows of
** at most 8 * (65535 / walks) columns.  LF_ERR_UNSUPPORTED naming op and x's
** shape for longer rows of x. */
enum lf_status lf_vk_check_row_walks(const char *op, struct lf_tensor *x, int walks,
                                     struct lf_error *err);

enum lf_status lf_vk_scratch(struct lf_tensor *like, enum lf_dtype dtype, int64_t count,
                             struct lf_tensor **out, struct lf_error *err);

/* The op entries of lf_vulkan_backend (contracts in backend.h). */
enum lf_status lf_vk_gemm(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                          bool trans_a, bool trans_b, const struct lf_gemm_shape *g,
                          struct lf_tensor *c, struct lf_error *err);
enum lf_status lf_vk_conv2d(struct lf_tensor *x, struct lf_tensor *w, struct lf_tensor *bias,
                            const struct lf_conv2d_params *params, struct lf_tensor *y,
                            struct lf_error *err);
enum lf_status lf_vk_group_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, int groups, float eps, bool silu,
                                struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_vk_layer_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, float eps, struct lf_tensor *y,
                                struct lf_error *err);
enum lf_status lf_vk_attention(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                               int heads, float scale, bool causal, struct lf_tensor *y,
                               struct lf_error *err);
enum lf_status lf_vk_softmax(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_vk_unary(struct lf_tensor *x, uint32_t fn, float scale, float shift,
                           struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_vk_geglu(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_vk_binary(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                            struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_vk_fill(struct lf_tensor *x, float value, struct lf_error *err);
enum lf_status lf_vk_concat(struct lf_tensor *a, struct lf_tensor *b, int axis, struct lf_tensor *y,
                            struct lf_error *err);
enum lf_status lf_vk_resize_nearest(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_vk_permute(struct lf_tensor *x, const int *perm, struct lf_tensor *y,
                             struct lf_error *err);
enum lf_status lf_vk_timestep_embedding(struct lf_tensor *t, int dim, bool flip_sin_to_cos,
                                        float shift, float max_period, struct lf_tensor *y,
                                        struct lf_error *err);
/* The shader lf_vk_conv2d would dispatch for these arguments now (after
** LCMFLOW_OP_VARIANT and the device's type), or NULL when they are invalid
** or not on a Vulkan device (tests and benchmarks).  Static string. */
const char *lf_vk_conv2d_shader(struct lf_tensor *x, struct lf_tensor *weight,
                                const struct lf_conv2d_params *params);

enum lf_status lf_vk_lora_merge(struct lf_tensor *w, struct lf_tensor *up, struct lf_tensor *down,
                                float scale, struct lf_error *err);

/* vk_lora_host.c: the LoRA merge by OpenBLAS on the host, for devices
** whose tensors live in host memory.  available: the device has
** LF_DEVICE_CAP_HOST_MEMORY and libopenblas.so.0 loads (once per process). */
bool lf_vk_lora_host_available(const struct lf_vk_device *device);
enum lf_status lf_vk_lora_merge_host(struct lf_tensor *w, struct lf_tensor *up,
                                     struct lf_tensor *down, float scale, struct lf_error *err);

#endif
