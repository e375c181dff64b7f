/*
** ops_layer_norm.c - layer normalisation over the last dimension.
** Shader: layer_norm.comp (one invocation per row).
*/
#include "ops_impl.h"

#define LOCAL_SIZE 64

struct layer_norm_push {
    uint64_t x, y, gamma, beta;
    uint32_t rows, cols, x_dtype, y_dtype, gamma_dtype, beta_dtype;
    float eps;
};

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
    /* layer_norm.comp walks a row three times, 8 columns per loop
    ** iteration, and llvmpipe allows 65535 loop iterations per invocation. */
    if (cols > 8 * 21845)
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "layer_norm: rows of %lld are over the supported %d (x %s)",
                            (long long)cols, 8 * 21845, lf_op_shape_text(x, a, sizeof a));
    if ((s = check_affine(x, gamma, "gamma", cols, err)) ||
        (s = check_affine(x, beta, "beta", cols, err)))
        return s;
    if ((s = lf_op_output(x, x->dtype, x->rank, x->shape, out, err))) return s;
    struct layer_norm_push p = {
        .x = lf_op_address(x),
        .y = lf_op_address(*out),
        .gamma = lf_op_address(gamma),
        .beta = lf_op_address(beta),
        .rows = (uint32_t)(lf_tensor_numel(x) / cols),
        .cols = (uint32_t)cols,
        .x_dtype = lf_op_dtype(x),
        .y_dtype = lf_op_dtype(*out),
        .gamma_dtype = gamma ? lf_op_dtype(gamma) : 0,
        .beta_dtype = beta ? lf_op_dtype(beta) : 0,
        .eps = eps,
    };
    if ((s = lf_op_run_1d(x->device, "layer_norm", &p, sizeof p, p.rows, LOCAL_SIZE, err))) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}
