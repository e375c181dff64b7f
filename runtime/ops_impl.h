/*
** ops_impl.h - what every op implementation (ops_*.c) shares: shape checks,
** tensor addresses for push constants, and dispatching an embedded shader.
*/
#ifndef LCMFLOW_OPS_IMPL_H
#define LCMFLOW_OPS_IMPL_H

#include "lcmflow/ops.h"
#include "vk_impl.h"

/* Shader dtype codes (shaders/common.glsl): 0 = f32, 1 = f16. */
static inline uint32_t lf_op_dtype(const struct lf_tensor *t)
{
    return t->dtype == LF_DTYPE_F16 ? 1u : 0u;
}

/* Device address of the tensor's first element (0 for NULL). */
static inline uint64_t lf_op_address(const struct lf_tensor *t)
{
    return t ? lf_vk_buffer_address(t->buffer) + t->offset : 0;
}

/* Formats a shape as "[2, 4, 8, 8] f16" into buf. */
const char *lf_op_shape_text(const struct lf_tensor *t, char *buf, size_t size);

/* LF_ERR_INVALID unless t is f32 or f16 ("op: what must be f32 or f16"). */
enum lf_status lf_op_check_float(const struct lf_tensor *t, const char *op, const char *what,
                                 struct lf_error *err);

/* LF_ERR_INVALID unless all given tensors live on the same device. */
enum lf_status lf_op_check_device(const char *op, struct lf_tensor *a, struct lf_tensor *b,
                                  struct lf_error *err);

/* Creates the output tensor (dtype, rank, shape) on a's device. */
enum lf_status lf_op_output(struct lf_tensor *like, enum lf_dtype dtype, int rank,
                            const int64_t *shape, struct lf_tensor **out, struct lf_error *err);

/* Dispatches shader (spec constants optional) with the given push constants
** over groups_x * groups_y * groups_z workgroups. */
enum lf_status lf_op_run(struct lf_device *device, const char *shader, const uint32_t *spec,
                         uint32_t spec_count, const void *push, uint32_t push_size,
                         uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                         struct lf_error *err);

/* Dispatches a 1-D grid of at least `invocations` invocations with the
** shader's local_size_x = local_size, laid out as (x, y) groups so that
** x <= 65535; shaders recover the index with lf_global_index() and must
** bounds-check it. */
enum lf_status lf_op_run_1d(struct lf_device *device, const char *shader, const void *push,
                            uint32_t push_size, uint64_t invocations, uint32_t local_size,
                            struct lf_error *err);

#endif
