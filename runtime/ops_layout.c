/*
** ops_layout.c - ops that move elements without arithmetic: nearest
** resize, concatenation along any axis, and dimension permutation.
** Argument and shape checks, then the tensors' backend (the Vulkan kernels are in vulkan/).
*/
#include "ops_impl.h"

enum lf_status lf_op_resize_nearest(struct lf_tensor *x, int64_t out_h, int64_t out_w,
                                    struct lf_tensor **out, struct lf_error *err)
{
    char tx[96];
    *out = NULL;
    enum lf_status s = lf_op_check_float(x, "resize_nearest", "x", err);
    if (s) return s;
    if (x->rank != 4)
        return lf_error_set(err, LF_ERR_INVALID, "resize_nearest: x %s must be NCHW (rank 4)",
                            lf_op_shape_text(x, tx, sizeof tx));
    if (out_h <= 0 || out_w <= 0 || out_h > 65535 || out_w > 65535 || x->shape[2] > 65535 ||
        x->shape[3] > 65535)
        return lf_error_set(err, LF_ERR_INVALID,
                            "resize_nearest: x %s to %lldx%lld: sizes must be 1..65535",
                            lf_op_shape_text(x, tx, sizeof tx), (long long)out_h, (long long)out_w);
    if (x->shape[2] == 0 || x->shape[3] == 0)
        return lf_error_set(err, LF_ERR_INVALID, "resize_nearest: x %s is empty",
                            lf_op_shape_text(x, tx, sizeof tx));
    int64_t shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    if ((s = lf_op_output(x, x->dtype, 4, shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(x)->resize_nearest(x, *out, err), out);
}

enum lf_status lf_op_concat(struct lf_tensor *a, struct lf_tensor *b, int axis,
                            struct lf_tensor **out, struct lf_error *err)
{
    char ta[96], tb[96];
    enum lf_status s;
    *out = NULL;
    if ((s = lf_op_check_float(a, "concat", "a", err)) ||
        (s = lf_op_check_float(b, "concat", "b", err)) ||
        (s = lf_op_check_device("concat", a, b, err)))
        return s;
    if (a->rank != b->rank || a->rank == 0)
        return lf_error_set(err, LF_ERR_INVALID, "concat: a %s and b %s differ in rank",
                            lf_op_shape_text(a, ta, sizeof ta), lf_op_shape_text(b, tb, sizeof tb));
    int ax = axis < 0 ? axis + a->rank : axis;
    if (ax < 0 || ax >= a->rank)
        return lf_error_set(err, LF_ERR_INVALID, "concat: axis %d is outside a %s", axis,
                            lf_op_shape_text(a, ta, sizeof ta));
    int64_t shape[LF_TENSOR_MAX_RANK] = {0};
    for (int d = 0; d < a->rank; d++) {
        if (d != ax && a->shape[d] != b->shape[d])
            return lf_error_set(err, LF_ERR_INVALID, "concat: a %s and b %s differ outside axis %d",
                                lf_op_shape_text(a, ta, sizeof ta),
                                lf_op_shape_text(b, tb, sizeof tb), ax);
        shape[d] = d == ax ? a->shape[d] + b->shape[d] : a->shape[d];
    }
    if ((s = lf_op_output(a, a->dtype, a->rank, shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(a)->concat(a, b, ax, *out, err), out);
}

enum lf_status lf_op_permute(struct lf_tensor *x, const int *perm, struct lf_tensor **out,
                             struct lf_error *err)
{
    char tx[96];
    *out = NULL;
    enum lf_status s = lf_op_check_float(x, "permute", "x", err);
    if (s) return s;
    if (!perm) return lf_error_set(err, LF_ERR_INVALID, "permute: perm is missing");
    int rank = x->rank;
    bool seen[LF_TENSOR_MAX_RANK] = {false};
    int64_t shape[LF_TENSOR_MAX_RANK] = {0};
    for (int d = 0; d < rank; d++) {
        if (perm[d] < 0 || perm[d] >= rank || seen[perm[d]])
            return lf_error_set(err, LF_ERR_INVALID,
                                "permute: perm is not a permutation of 0..%d for x %s", rank - 1,
                                lf_op_shape_text(x, tx, sizeof tx));
        seen[perm[d]] = true;
        shape[d] = x->shape[perm[d]];
    }
    if ((s = lf_op_output(x, x->dtype, rank, shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    return lf_op_finish(lf_tensor_backend(x)->permute(x, perm, *out, err), out);
}
