/*
** ops_misc.c - softmax (last dimension), GEGLU and the sinusoidal timestep
** embedding: argument and shape checks, then the tensors' backend (the
** Vulkan kernels are in vulkan/).
*/
#include "ops_impl.h"

enum lf_status lf_op_softmax(struct lf_tensor *x, struct lf_tensor **out, struct lf_error *err)
{
    char a[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(x, "softmax", "x", err))) return s;
    if (x->rank < 1 || x->shape[x->rank - 1] < 1)
        return lf_error_set(err, LF_ERR_INVALID, "softmax: x %s has no last dimension",
                            lf_op_shape_text(x, a, sizeof a));
    if ((s = lf_op_output(x, x->dtype, x->rank, x->shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(x)->softmax(x, *out, err), out);
}

enum lf_status lf_op_geglu(struct lf_tensor *x, struct lf_tensor **out, struct lf_error *err)
{
    char a[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(x, "geglu", "x", err))) return s;
    if (x->rank < 1 || x->shape[x->rank - 1] < 2 || x->shape[x->rank - 1] % 2)
        return lf_error_set(err, LF_ERR_INVALID,
                            "geglu: the last dimension of x %s must be even (2N)",
                            lf_op_shape_text(x, a, sizeof a));
    int64_t shape[LF_TENSOR_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        shape[i] = x->shape[i];
    shape[x->rank - 1] /= 2;
    if ((s = lf_op_output(x, x->dtype, x->rank, shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(x)->geglu(x, *out, err), out);
}

enum lf_status lf_op_timestep_embedding(struct lf_tensor *timesteps, int dim, bool flip_sin_to_cos,
                                        float shift, float max_period, struct lf_tensor **out,
                                        struct lf_error *err)
{
    char a[96];
    *out = NULL;
    if (!timesteps)
        return lf_error_set(err, LF_ERR_INVALID, "timestep_embedding: timesteps are missing");
    if (timesteps->dtype != LF_DTYPE_F32 || timesteps->rank != 1)
        return lf_error_set(err, LF_ERR_INVALID,
                            "timestep_embedding: timesteps %s must be a 1-D f32 tensor [B]",
                            lf_op_shape_text(timesteps, a, sizeof a));
    if (dim < 2)
        return lf_error_set(err, LF_ERR_INVALID, "timestep_embedding: dim %d must be >= 2", dim);
    if (!((float)(dim / 2) - shift > 0) || !(max_period > 0))
        return lf_error_set(err, LF_ERR_INVALID,
                            "timestep_embedding: need dim/2 - shift > 0 and max_period > 0 "
                            "(dim %d, shift %g, max_period %g)",
                            dim, (double)shift, (double)max_period);
    int64_t shape[2] = {timesteps->shape[0], dim};
    enum lf_status s = lf_op_output(timesteps, LF_DTYPE_F32, 2, shape, out, err);
    if (s) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    s = lf_tensor_backend(timesteps)->timestep_embedding(timesteps, dim, flip_sin_to_cos, shift,
                                                         max_period, *out, err);
    return lf_op_finish(s, out);
}
