/*
** ops_layer_norm.c - layer normalisation over the last dimension: argument
** and shape checks, then the tensors' backend (the Vulkan kernel is in vulkan/).
*/
#include "ops_impl.h"

/* gamma/beta, when given, must be float vectors of the normalised size. */
static enum lf_status check_affine(struct lf_tensor *x, struct lf_tensor *t, const char *what,
                                   int64_t cols, struct lf_error *err)
{
    char a[96], b[96];
    enum lf_status s;
    if (!t) return LF_OK;
    if ((s = lf_op_check_float(t, "layer_norm", what, err)) ||
        (s = lf_op_check_device("layer_norm", x, t, err)))
        return s;
    if (lf_tensor_numel(t) != cols)
        return lf_error_set(err, LF_ERR_INVALID, "layer_norm: %s %s does not match x %s", what,
                            lf_op_shape_text(t, a, sizeof a), lf_op_shape_text(x, b, sizeof b));
    return LF_OK;
}

enum lf_status lf_op_layer_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                struct lf_tensor *beta, float eps, struct lf_tensor **out,
                                struct lf_error *err)
{
    char a[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(x, "layer_norm", "x", err))) return s;
    if (x->rank < 1 || x->shape[x->rank - 1] < 1)
        return lf_error_set(err, LF_ERR_INVALID, "layer_norm: x %s has no last dimension",
                            lf_op_shape_text(x, a, sizeof a));
    int64_t cols = x->shape[x->rank - 1];
    if ((s = check_affine(x, gamma, "gamma", cols, err)) ||
        (s = check_affine(x, beta, "beta", cols, err)))
        return s;
    if ((s = lf_op_output(x, x->dtype, x->rank, x->shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    s = lf_tensor_backend(x)->layer_norm(x, gamma, beta, eps, *out, err);
    return lf_op_finish(s, out);
}
