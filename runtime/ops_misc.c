/*
** ops_misc.c - softmax (last dimension), GEGLU and the sinusoidal timestep
** embedding.  Shaders: softmax.comp, geglu.comp, timestep_embedding.comp.
*/
#include "ops_impl.h"

#include <math.h>

#define LOCAL_SIZE 64

/* Releases *out after a failed dispatch so callers see NULL. */
static enum lf_status finish(enum lf_status s, struct lf_tensor **out)
{
    if (s) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

enum lf_status lf_op_softmax(struct lf_tensor *x, struct lf_tensor **out, struct lf_error *err)
{
    char a[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(x, "softmax", "x", err))) return s;
    if (x->rank < 1 || x->shape[x->rank - 1] < 1)
        return lf_error_set(err, LF_ERR_INVALID, "softmax: x %s has no last dimension",
                            lf_op_shape_text(x, a, sizeof a));
    int64_t cols = x->shape[x->rank - 1];
    /* softmax.comp walks a row twice, 8 columns per loop iteration, and
    ** llvmpipe allows 65535 loop iterations per invocation. */
    if (cols > 8 * 32767)
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "softmax: rows of %lld are over the supported %d (x %s)",
                            (long long)cols, 8 * 32767, lf_op_shape_text(x, a, sizeof a));
    if ((s = lf_op_output(x, x->dtype, x->rank, x->shape, out, err))) return s;
    struct {
        uint64_t x, y;
        uint32_t rows, cols, x_dtype, y_dtype;
    } p = {
        .x = lf_op_address(x),
        .y = lf_op_address(*out),
        .rows = (uint32_t)(lf_tensor_numel(x) / cols),
        .cols = (uint32_t)cols,
        .x_dtype = lf_op_dtype(x),
        .y_dtype = lf_op_dtype(*out),
    };
    return finish(lf_op_run_1d(x->device, "softmax", &p, sizeof p, p.rows, LOCAL_SIZE, err), out);
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
    struct {
        uint64_t x, y;
        uint32_t count, n, x_dtype, y_dtype;
    } p = {
        .x = lf_op_address(x),
        .y = lf_op_address(*out),
        .count = (uint32_t)lf_tensor_numel(*out),
        .n = (uint32_t)shape[x->rank - 1],
        .x_dtype = lf_op_dtype(x),
        .y_dtype = lf_op_dtype(*out),
    };
    return finish(lf_op_run_1d(x->device, "geglu", &p, sizeof p, p.count, LOCAL_SIZE, err), out);
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
    struct {
        uint64_t t, y;
        uint32_t count, dim, flip;
        float shift, log_max_period;
    } p = {
        .t = lf_op_address(timesteps),
        .y = lf_op_address(*out),
        .count = (uint32_t)(shape[0] * dim),
        .dim = (uint32_t)dim,
        .flip = flip_sin_to_cos,
        .shift = shift,
        .log_max_period = logf(max_period),
    };
    if (p.count == 0) return LF_OK;
    return finish(lf_op_run_1d(timesteps->device, "timestep_embedding", &p, sizeof p, p.count,
                               LOCAL_SIZE, err),
                  out);
}
