/*
** ops_group_norm.c - group normalisation with optional fused SiLU: argument
** and shape checks, then the tensors' backend (the Vulkan kernels are in vulkan/).
*/
#include "ops_impl.h"

enum lf_status lf_op_group_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, int groups, float eps, bool silu,
                                struct lf_tensor **out, struct lf_error *err)
{
    char tx[96], tg[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(x, "group_norm", "x", err))) return s;
    if ((gamma && (s = lf_op_check_float(gamma, "group_norm", "gamma", err))) ||
        (beta && (s = lf_op_check_float(beta, "group_norm", "beta", err))) ||
        (s = lf_op_check_device("group_norm", x, gamma, err)) ||
        (s = lf_op_check_device("group_norm", x, beta, err)))
        return s;
    if (x->rank < 2)
        return lf_error_set(err, LF_ERR_INVALID, "group_norm: x %s needs a channel dimension",
                            lf_op_shape_text(x, tx, sizeof tx));
    int64_t channels = x->shape[1];
    if (groups <= 0 || channels % groups != 0)
        return lf_error_set(err, LF_ERR_INVALID,
                            "group_norm: %d groups do not divide the %lld channels of x %s", groups,
                            (long long)channels, lf_op_shape_text(x, tx, sizeof tx));
    struct lf_tensor *affine[2] = {gamma, beta};
    for (int k = 0; k < 2; k++)
        if (affine[k] && lf_tensor_numel(affine[k]) != channels)
            return lf_error_set(err, LF_ERR_INVALID,
                                "group_norm: %s %s must have one value per channel of x %s",
                                k ? "beta" : "gamma", lf_op_shape_text(affine[k], tg, sizeof tg),
                                lf_op_shape_text(x, tx, sizeof tx));
    if (!(eps >= 0.0f))
        return lf_error_set(err, LF_ERR_INVALID, "group_norm: eps %g must be >= 0", (double)eps);
    if ((s = lf_op_output(x, x->dtype, x->rank, x->shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    s = lf_tensor_backend(x)->group_norm(x, gamma, beta, groups, eps, silu, *out, err);
    return lf_op_finish(s, out);
}
