/*
** ops_elementwise.c - fill, unary functions, scale, cast/copy, broadcasting
** binary ops: argument and shape checks, then the tensors' backend (the
** Vulkan kernels are in vulkan/).  Unary, scale, cast and
** copy are one backend entry: y = fn(x) * scale + shift.
*/
#include "ops_impl.h"

static enum lf_status unary_new(const char *op, struct lf_tensor *x, enum lf_dtype dtype,
                                uint32_t fn, float scale, float shift, struct lf_tensor **out,
                                struct lf_error *err)
{
    *out = NULL;
    enum lf_status s = lf_op_check_float(x, op, "x", err);
    if (s) return s;
    if ((s = lf_op_output(x, dtype, x->rank, x->shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(x)->unary(x, fn, scale, shift, *out, err), out);
}

enum lf_status lf_op_unary(struct lf_tensor *x, enum lf_unary fn, struct lf_tensor **out,
                           struct lf_error *err)
{
    if ((unsigned)fn > LF_UNARY_TANH)
        return lf_error_set(err, LF_ERR_INVALID, "unary: unknown function %d", (int)fn);
    return unary_new("unary", x, x->dtype, (uint32_t)fn, 1.0f, 0.0f, out, err);
}

enum lf_status lf_op_scale(struct lf_tensor *x, float scale, float shift, struct lf_tensor **out,
                           struct lf_error *err)
{
    return unary_new("scale", x, x->dtype, LF_BACKEND_UNARY_IDENTITY, scale, shift, out, err);
}

enum lf_status lf_op_cast(struct lf_tensor *x, enum lf_dtype dtype, struct lf_tensor **out,
                          struct lf_error *err)
{
    bool bf16 = dtype == LF_DTYPE_BF16 && lf_device_has(x->device, LF_DEVICE_CAP_BF16);
    if (dtype != LF_DTYPE_F32 && dtype != LF_DTYPE_F16 && !bf16)
        return lf_error_set(err, LF_ERR_INVALID, "cast: target must be f32 or f16, not %s",
                            lf_dtype_name(dtype));
    return unary_new("cast", x, dtype, LF_BACKEND_UNARY_IDENTITY, 1.0f, 0.0f, out, err);
}

enum lf_status lf_op_copy(struct lf_tensor *dst, struct lf_tensor *src, struct lf_error *err)
{
    enum lf_status s;
    char a[96], b[96];
    if ((s = lf_op_check_float(dst, "copy", "dst", err)) ||
        (s = lf_op_check_float(src, "copy", "src", err)) ||
        (s = lf_op_check_device("copy", dst, src, err)))
        return s;
    if (lf_tensor_numel(dst) != lf_tensor_numel(src))
        return lf_error_set(err, LF_ERR_INVALID, "copy: dst %s and src %s differ in size",
                            lf_op_shape_text(dst, a, sizeof a), lf_op_shape_text(src, b, sizeof b));
    if (lf_tensor_numel(dst) == 0) return LF_OK;
    return lf_tensor_backend(src)->unary(src, LF_BACKEND_UNARY_IDENTITY, 1.0f, 0.0f, dst, err);
}

enum lf_status lf_op_fill(struct lf_tensor *x, float value, struct lf_error *err)
{
    enum lf_status s = lf_op_check_float(x, "fill", "x", err);
    if (s) return s;
    if (lf_tensor_numel(x) == 0) return LF_OK;
    return lf_tensor_backend(x)->fill(x, value, err);
}

enum lf_status lf_op_binary(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                            struct lf_tensor **out, struct lf_error *err)
{
    char ta[96], tb[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(a, "binary", "a", err)) ||
        (s = lf_op_check_float(b, "binary", "b", err)) ||
        (s = lf_op_check_device("binary", a, b, err)))
        return s;
    if ((unsigned)fn > LF_BINARY_DIV)
        return lf_error_set(err, LF_ERR_INVALID, "binary: unknown function %d", (int)fn);
    int rank = a->rank > b->rank ? a->rank : b->rank;
    int64_t shape[LF_TENSOR_MAX_RANK] = {0};
    for (int d = 0; d < 4; d++) {
        int ia = a->rank - (4 - d), ib = b->rank - (4 - d);
        int64_t na = ia >= 0 ? a->shape[ia] : 1, nb = ib >= 0 ? b->shape[ib] : 1;
        if (na != nb && na != 1 && nb != 1)
            return lf_error_set(err, LF_ERR_INVALID, "binary: shapes %s and %s do not broadcast",
                                lf_op_shape_text(a, ta, sizeof ta),
                                lf_op_shape_text(b, tb, sizeof tb));
        if (d >= 4 - rank) shape[d - (4 - rank)] = na > nb ? na : nb;
    }
    if ((s = lf_op_output(a, a->dtype, rank, shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(a)->binary(a, b, fn, *out, err), out);
}
