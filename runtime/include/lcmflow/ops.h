/*
** ops.h - the compute ops: tensors in, a new tensor out.
**
** The interface is backend-neutral: no Vulkan type appears here, so a
** native CPU backend can sit beside the Vulkan one.  Each op records its
** dispatches on the tensors' device and returns at once; results are read
** with lf_tensor_download (which waits).  Every op returns a new tensor in
** *out (caller releases) unless it is documented as in-place.
**
** Precision: inputs may be f32 or f16 (weights usually f16); arithmetic
** accumulates in f32; the output dtype is the dtype of the first
** (activation) input unless an op says otherwise.
**
** Layouts: images and feature maps NCHW; sequences [B, L, C]; linear weights
** [N, K] as stored by PyTorch.  Shapes that do not fit are LF_ERR_INVALID
** with a message giving both shapes.
*/
#ifndef LCMFLOW_OPS_H
#define LCMFLOW_OPS_H

#include "lcmflow/tensor.h"

#include <stdbool.h>

/* C = op(A) @ op(B) (+ bias broadcast over rows).
** A: [..., M, K] (or [..., K, M] when trans_a); the leading dims are a batch.
** B: [K, N] (or [N, K] when trans_b - PyTorch's Linear weight), or batched
**    with the same leading dims as A.
** bias: [N] or NULL.  Output [..., M, N]. */
enum lf_status lf_op_gemm(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                          bool trans_a, bool trans_b, struct lf_tensor **out,
                          struct lf_error *err);

/* PyTorch Linear: x [..., K] @ weight[N, K]^T + bias[N] -> [..., N]. */
enum lf_status lf_op_linear(struct lf_tensor *x, struct lf_tensor *weight, struct lf_tensor *bias,
                            struct lf_tensor **out, struct lf_error *err);

struct lf_conv2d_params {
    int stride;         /* same in both directions */
    int pad_top, pad_bottom, pad_left, pad_right;
};

/* x [B, C, H, W], weight [O, C, KH, KW], bias [O] or NULL -> [B, O, Ho, Wo]. */
enum lf_status lf_op_conv2d(struct lf_tensor *x, struct lf_tensor *weight, struct lf_tensor *bias,
                            const struct lf_conv2d_params *params, struct lf_tensor **out,
                            struct lf_error *err);

/* x [B, C, ...] normalised over groups of C/groups channels and all spatial
** positions; gamma/beta [C] (may be NULL: 1 and 0); optional fused SiLU. */
enum lf_status lf_op_group_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, int groups, float eps, bool silu,
                                struct lf_tensor **out, struct lf_error *err);

/* Normalises over the last dimension; gamma/beta [C] (may be NULL). */
enum lf_status lf_op_layer_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, float eps, struct lf_tensor **out,
                                struct lf_error *err);

/* Multi-head attention, flash-style (the score matrix is never stored).
** q [B, Lq, H*D], k and v [B, Lk, H*D] -> [B, Lq, H*D];
** softmax(q k^T * scale) v per head; causal: query i sees keys j <= i. */
enum lf_status lf_op_attention(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                               int heads, float scale, bool causal, struct lf_tensor **out,
                               struct lf_error *err);

/* Softmax over the last dimension. */
enum lf_status lf_op_softmax(struct lf_tensor *x, struct lf_tensor **out, struct lf_error *err);

enum lf_unary {
    LF_UNARY_GELU = 0,   /* exact erf GELU */
    LF_UNARY_QUICK_GELU, /* x * sigmoid(1.702 x) */
    LF_UNARY_SILU,
    LF_UNARY_RELU,
    LF_UNARY_TANH,
};
enum lf_status lf_op_unary(struct lf_tensor *x, enum lf_unary fn, struct lf_tensor **out,
                           struct lf_error *err);

/* x [..., 2N] -> [..., N]: first half * gelu(second half). */
enum lf_status lf_op_geglu(struct lf_tensor *x, struct lf_tensor **out, struct lf_error *err);

enum lf_binary {
    LF_BINARY_ADD = 0,
    LF_BINARY_SUB,
    LF_BINARY_MUL,
    LF_BINARY_DIV,
};
/* a op b with NumPy broadcasting (shapes aligned at the right). */
enum lf_status lf_op_binary(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                            struct lf_tensor **out, struct lf_error *err);

/* x * scale + shift, elementwise. */
enum lf_status lf_op_scale(struct lf_tensor *x, float scale, float shift, struct lf_tensor **out,
                           struct lf_error *err);

/* Concatenation along axis (e.g. 1 for channels of NCHW); other dims equal. */
enum lf_status lf_op_concat(struct lf_tensor *a, struct lf_tensor *b, int axis,
                            struct lf_tensor **out, struct lf_error *err);

/* Nearest-neighbour resize of NCHW to [B, C, out_h, out_w]:
** source index = floor(dst * in / out) (x2 upsample when out = 2 * in). */
enum lf_status lf_op_resize_nearest(struct lf_tensor *x, int64_t out_h, int64_t out_w,
                                    struct lf_tensor **out, struct lf_error *err);

/* Reorders dimensions: out.shape[i] = x.shape[perm[i]] (perm of 0..rank-1). */
enum lf_status lf_op_permute(struct lf_tensor *x, const int *perm, struct lf_tensor **out,
                             struct lf_error *err);

/* Converts to another float dtype (f32 <-> f16, bf16 -> f32/f16). */
enum lf_status lf_op_cast(struct lf_tensor *x, enum lf_dtype dtype, struct lf_tensor **out,
                          struct lf_error *err);

/* Sinusoidal embedding of timesteps [B] (f32) -> [B, dim] f32:
** freq_i = exp(-ln(max_period) * i / (half - shift)), arg = t * freq_i;
** cos half first when flip_sin_to_cos, else sin first. */
enum lf_status lf_op_timestep_embedding(struct lf_tensor *timesteps, int dim, bool flip_sin_to_cos,
                                        float shift, float max_period, struct lf_tensor **out,
                                        struct lf_error *err);

/* In place: weight += scale * (up @ down), computed in f32 and stored in the
** weight's dtype.  Linear: weight [N, K], up [N, r], down [r, K].
** Conv: weight [O, C, KH, KW], up [O, r, 1, 1], down [r, C, KH, KW]. */
enum lf_status lf_op_lora_merge(struct lf_tensor *weight, struct lf_tensor *up,
                                struct lf_tensor *down, float scale, struct lf_error *err);

/* In place: dst = src (same shape; dtype conversion allowed). */
enum lf_status lf_op_copy(struct lf_tensor *dst, struct lf_tensor *src, struct lf_error *err);

#endif
