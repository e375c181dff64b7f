/*
** ops_conv.c - 2-D convolution, NCHW, any kernel size, stride and padding:
** argument and shape checks, then the tensors' backend (the Vulkan kernels are in vulkan/).
*/
#include "ops_impl.h"

enum lf_status lf_op_conv2d_shape(struct lf_tensor *x, struct lf_tensor *w, struct lf_tensor *bias,
                                  const struct lf_conv2d_params *params, int64_t shape[4],
                                  struct lf_error *err)
{
    char tx[96], tw[96], tb[96];
    enum lf_status s;
    if ((s = lf_op_check_float(x, "conv2d", "x", err)) ||
        (s = lf_op_check_float(w, "conv2d", "weight", err)) ||
        (bias && (s = lf_op_check_float(bias, "conv2d", "bias", err))) ||
        (s = lf_op_check_device("conv2d", x, w, err)) ||
        (s = lf_op_check_device("conv2d", x, bias, err)))
        return s;
    if (!params) return lf_error_set(err, LF_ERR_INVALID, "conv2d: params are missing");
    if (x->rank != 4 || w->rank != 4 || x->shape[1] != w->shape[1])
        return lf_error_set(err, LF_ERR_INVALID,
                            "conv2d: x %s and weight %s must be [B, C, H, W] and [O, C, KH, KW]",
                            lf_op_shape_text(x, tx, sizeof tx), lf_op_shape_text(w, tw, sizeof tw));
    if (bias && (bias->rank != 1 || bias->shape[0] != w->shape[0]))
        return lf_error_set(err, LF_ERR_INVALID, "conv2d: bias %s must be [O] for weight %s",
                            lf_op_shape_text(bias, tb, sizeof tb),
                            lf_op_shape_text(w, tw, sizeof tw));
    if (params->stride < 1 || params->pad_top < 0 || params->pad_bottom < 0 ||
        params->pad_left < 0 || params->pad_right < 0 || params->stride > 65535 ||
        params->pad_top > 65535 || params->pad_bottom > 65535 || params->pad_left > 65535 ||
        params->pad_right > 65535)
        return lf_error_set(err, LF_ERR_INVALID,
                            "conv2d: stride %d must be >= 1 and paddings (%d, %d, %d, %d) >= 0",
                            params->stride, params->pad_top, params->pad_bottom, params->pad_left,
                            params->pad_right);
    int64_t hp = x->shape[2] + params->pad_top + params->pad_bottom;
    int64_t wp = x->shape[3] + params->pad_left + params->pad_right;
    if (w->shape[2] < 1 || w->shape[3] < 1 || hp < w->shape[2] || wp < w->shape[3])
        return lf_error_set(err, LF_ERR_INVALID,
                            "conv2d: weight %s does not fit x %s with paddings (%d, %d, %d, %d)",
                            lf_op_shape_text(w, tw, sizeof tw), lf_op_shape_text(x, tx, sizeof tx),
                            params->pad_top, params->pad_bottom, params->pad_left,
                            params->pad_right);
    shape[0] = x->shape[0];
    shape[1] = w->shape[0];
    shape[2] = (hp - w->shape[2]) / params->stride + 1;
    shape[3] = (wp - w->shape[3]) / params->stride + 1;
    return LF_OK;
}

enum lf_status lf_op_conv2d(struct lf_tensor *x, struct lf_tensor *weight, struct lf_tensor *bias,
                            const struct lf_conv2d_params *params, struct lf_tensor **out,
                            struct lf_error *err)
{
    int64_t shape[4];
    *out = NULL;
    enum lf_status s = lf_op_conv2d_shape(x, weight, bias, params, shape, err);
    if (s) return s;
    if ((s = lf_op_output(x, x->dtype, 4, shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    if (x->shape[1] == 0) {
        /* No input channels: the output is the bias alone. */
        s = lf_op_fill(*out, 0.0f, err);
        if (!s && bias) {
            struct lf_tensor *b4 = NULL, *sum = NULL;
            int64_t bshape[4] = {1, shape[1], 1, 1};
            if (!(s = lf_tensor_reshape(bias, 4, bshape, &b4, err)) &&
                !(s = lf_op_binary(*out, b4, LF_BINARY_ADD, &sum, err))) {
                lf_tensor_release(*out);
                *out = sum;
            }
            lf_tensor_release(b4);
        }
        return lf_op_finish(s, out);
    }
    s = lf_tensor_backend(x)->conv2d(x, weight, bias, params, *out, err);
    return lf_op_finish(s, out);
}
