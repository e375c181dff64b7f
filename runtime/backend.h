/*
** backend.h - the seam between the backend-neutral runtime and a compute
** backend (private to the runtime; ggml's backend split without its graph
** layer).
**
** The front (device.c, tensor.c, ops_*.c) owns everything a user can get
** wrong: it checks arguments, shapes, dtypes and that all tensors of one
** call live on one device, allocates outputs, keeps reference counts, and
** reports errors naming what was expected.  A backend only computes: each
** entry of its const struct lf_backend receives arguments that already
** passed those checks.  A backend may still refuse a call it cannot run
** (a shape over a kernel's limits) with LF_ERR_UNSUPPORTED and a message
** naming the op and the limit; the front then releases the output.
**
** Embedding: a backend's device struct starts with a struct lf_device and
** its buffer struct with a struct lf_tensor_buffer, so the front's
** pointers convert to the backend's own ones by a cast:
**
**     struct my_device { struct lf_device base; ... the backend's state ... };
**     struct my_buffer { struct lf_tensor_buffer base; ... };
**
** Adding a backend: define a `const struct lf_backend` with designated
** initialisers, every entry not marked (optional) set, and add it to the
** list in device.c (one line, behind its meson option).
**
** Rules every op entry follows unless it says otherwise:
**   - Inputs and the output are tensors of this backend's devices, f32 or
**     f16 (each entry names other dtypes), contiguous, row-major, starting
**     at tensor->offset bytes into tensor->buffer; an input may be a view
**     (reshape) sharing a buffer with another tensor, never with the
**     output.
**   - The output y was created by the front with its final dtype and shape
**     and has at least one element (the front returns empty outputs
**     without calling the backend).  Arithmetic accumulates in f32; y is
**     stored in y->dtype.
**   - The entry may record work and return before it runs (the Vulkan
**     backend batches); buffer_read waits for it.  Work recorded on one
**     device runs in recording order.
**   - On failure y's contents are undefined; the front releases it.
**   - An entry may be built from other ops (the public lf_op_* fronts or
**     its own entries) and may create scratch tensors on the device.
**
** Devices: list must set LF_DEVICE_CAP_SUPPORTED on the devices open can
** take, or lf_device_create never picks them by itself.
*/
#ifndef LCMFLOW_BACKEND_H
#define LCMFLOW_BACKEND_H

#include "lcmflow/device.h"
#include "lcmflow/ops.h"
#include "lcmflow/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lf_backend;

/* The head of every backend's device struct.  The front reads info and
** calls through backend; both are set by the backend's open. */
struct lf_device {
    const struct lf_backend *backend;
    struct lf_device_info info; /* index is set by the front after open */
};

/* The head of every backend's buffer struct: a range of device memory
** that one or more tensors share.  The front owns refcount (starts at 1 in
** buffer_alloc; buffer_free is called when it drops to 0). */
struct lf_tensor_buffer {
    uint32_t refcount;
    struct lf_device *device;
    uint64_t size; /* bytes usable, >= the size asked for */
};

/* unary's fn: an enum lf_unary value, or this: y = x * scale + shift. */
#define LF_BACKEND_UNARY_IDENTITY 100u

/* The shapes of one GEMM call, computed by the front from the operands:
** C[z] (m x n) = op(A[z]) (m x k) @ op(B[z]) (k x n) (+ bias[n]) for z in
** 0..batch-1, where A[z] starts a_bstride elements into A (0: A is shared
** by every z), B[z] likewise with b_bstride, and C[z] at z * m * n. */
struct lf_gemm_shape {
    uint32_t m, n, k, batch;
    uint32_t a_bstride, b_bstride;
};

/* Right-aligned NumPy broadcasting of t into the 4-dim shape[4]: element
** strides, 0 where a dimension of size 1 is stretched (ops_common.c; used
** by backends for binary). */
void lf_backend_broadcast_strides(const struct lf_tensor *t, const uint32_t shape[4],
                                  uint32_t stride[4]);

/* Formats a shape as "[2, 4, 8, 8] f16" into buf, for messages. */
const char *lf_op_shape_text(const struct lf_tensor *t, char *buf, size_t size);

/* conv2d's output shape [B, O, Ho, Wo], after the front's checks of the
** arguments (ops_conv.c; for a backend reporting which kernel a call would
** take).  err may be NULL. */
enum lf_status lf_op_conv2d_shape(struct lf_tensor *x, struct lf_tensor *weight,
                                  struct lf_tensor *bias, const struct lf_conv2d_params *params,
                                  int64_t shape[4], struct lf_error *err);

struct lf_backend {
    const char *name; /* "vulkan", "cpu": for messages and `lcmflow devices` */
    enum lf_backend_kind kind;

    /* {==================================================== devices */

    /* Describes this backend's devices.  infos may be NULL to count only;
    ** at most capacity entries are written, *count receives the total.
    ** Fills every field of each info but index (the front numbers the
    ** combined list); sets LF_DEVICE_CAP_SUPPORTED on the devices open can
    ** take.  No devices (no driver) is *count = 0 and LF_OK, not an error. */
    enum lf_status (*list)(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                           struct lf_error *err);

    /* Opens device number local_index of this backend's list.  On success
    ** *out is owned by the caller (destroy), with backend and info set.
    ** options: validation and the like; options->index is the front's. */
    enum lf_status (*open)(uint32_t local_index, const struct lf_device_options *options,
                           struct lf_device **out, struct lf_error *err);

    /* Waits for outstanding work and frees the device.  Every buffer has
    ** been freed before. */
    void (*destroy)(struct lf_device *device);

    /* Runs the recorded work and waits for it; device loss and
    ** out-of-memory come back as errors. */
    enum lf_status (*sync)(struct lf_device *device, struct lf_error *err);

    /* {==================================================== memory */

    /* A buffer of at least size bytes (size 0 allowed), refcount 1, device
    ** set; contents undefined.  Counted in memory_stats. */
    enum lf_status (*buffer_alloc)(struct lf_device *device, uint64_t size,
                                   struct lf_tensor_buffer **out, struct lf_error *err);

    /* Frees a buffer whose refcount reached 0.  Work already recorded that
    ** uses it must still see its contents (or run first). */
    void (*buffer_free)(struct lf_tensor_buffer *buffer);

    /* Copy size bytes from host data to buffer + offset, and back.  Both
    ** order themselves after the recorded work (read waits for it);
    ** offset + size <= buffer->size. */
    enum lf_status (*buffer_write)(struct lf_tensor_buffer *buffer, uint64_t offset,
                                   const void *data, uint64_t size, struct lf_error *err);
    enum lf_status (*buffer_read)(struct lf_tensor_buffer *buffer, uint64_t offset, void *data,
                                  uint64_t size, struct lf_error *err);

    /* (optional; NULL: widened on the host, then buffer_write) Writes count
    ** values of dtype from (data aligned to its element size) into buffer +
    ** offset as dtype to, both f32, f16 or bf16, from != to: widening is
    ** exact, narrowing rounds to nearest even. */
    enum lf_status (*buffer_write_convert)(struct lf_tensor_buffer *buffer, uint64_t offset,
                                           const void *data, enum lf_dtype from, enum lf_dtype to,
                                           uint64_t count, struct lf_error *err);

    void (*memory_stats)(const struct lf_device *device, struct lf_device_memory_stats *stats);
    void (*reset_peak)(struct lf_device *device);

    /* (optional; NULL means 0) Validation errors seen so far. */
    uint32_t (*validation_errors)(const struct lf_device *device);

    /* {==================================================== ops
    ** One entry per op of ops.h; the contracts are ops.h's, restated here
    ** only where the backend's view differs. */

    /* c = op(a) @ op(b) (+ bias), shapes in g (see struct lf_gemm_shape);
    ** bias NULL or [n]. */
    enum lf_status (*gemm)(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                           bool trans_a, bool trans_b, const struct lf_gemm_shape *g,
                           struct lf_tensor *c, struct lf_error *err);

    /* x [B, C, H, W] with C >= 1, w [O, C, KH, KW], bias [O] or NULL;
    ** params checked (stride >= 1, paddings >= 0, the kernel fits);
    ** y [B, O, Ho, Wo]. */
    enum lf_status (*conv2d)(struct lf_tensor *x, struct lf_tensor *w, struct lf_tensor *bias,
                             const struct lf_conv2d_params *params, struct lf_tensor *y,
                             struct lf_error *err);

    /* x [B, C, ...], C a multiple of groups; gamma/beta [C] or NULL. */
    enum lf_status (*group_norm)(struct lf_tensor *x, struct lf_tensor *gamma,
                                 struct lf_tensor *beta, int groups, float eps, bool silu,
                                 struct lf_tensor *y, struct lf_error *err);

    /* Over the last dimension; gamma/beta [C] or NULL. */
    enum lf_status (*layer_norm)(struct lf_tensor *x, struct lf_tensor *gamma,
                                 struct lf_tensor *beta, float eps, struct lf_tensor *y,
                                 struct lf_error *err);

    /* q [B, Lq, H*D], k and v [B, Lk, H*D], heads = H divides the width. */
    enum lf_status (*attention)(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                                int heads, float scale, bool causal, struct lf_tensor *y,
                                struct lf_error *err);

    /* Over the last dimension (>= 1). */
    enum lf_status (*softmax)(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);

    /* y = fn(x) * scale + shift elementwise, fn an enum lf_unary or
    ** LF_BACKEND_UNARY_IDENTITY; y has x's element count, any shape, and
    ** may have another float dtype (cast) or be an existing tensor (copy). */
    enum lf_status (*unary)(struct lf_tensor *x, uint32_t fn, float scale, float shift,
                            struct lf_tensor *y, struct lf_error *err);

    /* x [..., 2N] -> y [..., N]. */
    enum lf_status (*geglu)(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);

    /* y = a fn b with broadcasting; y's shape is the broadcast shape (rank
    ** <= 4; see lf_backend_broadcast_strides). */
    enum lf_status (*binary)(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                             struct lf_tensor *y, struct lf_error *err);

    /* In place: every element of x = value. */
    enum lf_status (*fill)(struct lf_tensor *x, float value, struct lf_error *err);

    /* y = a and b joined along axis; the other dims are equal. */
    enum lf_status (*concat)(struct lf_tensor *a, struct lf_tensor *b, int axis,
                             struct lf_tensor *y, struct lf_error *err);

    /* x NCHW -> y [B, C, out_h, out_w] (y's shape), src = floor(dst * in / out). */
    enum lf_status (*resize_nearest)(struct lf_tensor *x, struct lf_tensor *y,
                                     struct lf_error *err);

    /* y.shape[i] = x.shape[perm[i]], perm a checked permutation of 0..rank-1. */
    enum lf_status (*permute)(struct lf_tensor *x, const int *perm, struct lf_tensor *y,
                              struct lf_error *err);

    /* t [B] f32 -> y [B, dim] f32, dim >= 2, dim / 2 - shift > 0 (ops.h's formula). */
    enum lf_status (*timestep_embedding)(struct lf_tensor *t, int dim, bool flip_sin_to_cos,
                                         float shift, float max_period, struct lf_tensor *y,
                                         struct lf_error *err);

    /* In place: w += scale * up @ down, with w seen as [N, K] (N =
    ** w->shape[0], K = the other dims' product), up as [N, r] (r =
    ** up->shape[1]) and down as [r, K]; shapes checked (linear or conv
    ** layouts of ops.h).  Accumulates in f32 from w's value and rounds once
    ** into w's dtype.  A backend may keep several strategies (the Vulkan
    ** one: a host BLAS merge on host-memory devices, device GEMM + add, or
    ** one shader) and choose by device and size. */
    enum lf_status (*lora_merge)(struct lf_tensor *w, struct lf_tensor *up, struct lf_tensor *down,
                                 float scale, struct lf_error *err);

    /* (optional; NULL means weights are used as they are) A hint: w (f32
    ** or f16) is about to serve as conv2d or linear/gemm weights for the
    ** rest of its life and will not be written again except by lora_merge.
    ** The backend may reorder it into a preferred layout once, in place or
    ** beside it; uploads after the hint, downloads and every op must still
    ** see the logical (row-major) layout.  Never fails the caller's work:
    ** an error means the hint was not taken. */
    enum lf_status (*weight_prepare)(struct lf_tensor *w, struct lf_error *err);
};

/* The compiled backends, in listing order (device.c); borrowed, static. */
const struct lf_backend *const *lf_backend_all(size_t *count);

/* The backend of a tensor (its device's). */
static inline const struct lf_backend *lf_tensor_backend(const struct lf_tensor *t)
{
    return t->device->backend;
}

#endif
