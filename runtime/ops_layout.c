/*
** ops_layout.c - ops that move elements without arithmetic: nearest resize,
** concatenation along any axis, and dimension permutation.  Shaders:
** resize_nearest.comp, concat.comp, permute.comp (one portable shader each;
** they are memory-bound, so no device-tuned variants).
*/
#include "ops_impl.h"

#include <string.h>

#define LOCAL_SIZE 64

/* Releases *out on failure, so callers can chain `return finish(...)`. */
static enum lf_status finish(enum lf_status s, struct lf_tensor **out)
{
    if (s) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

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
    struct {
        uint64_t x, y;
        uint32_t count, x_dtype, y_dtype, in_h, in_w, out_h, out_w;
    } p = {
        .x = lf_op_address(x),
        .y = lf_op_address(*out),
        .count = (uint32_t)lf_tensor_numel(*out),
        .x_dtype = lf_op_dtype(x),
        .y_dtype = lf_op_dtype(*out),
        .in_h = (uint32_t)x->shape[2],
        .in_w = (uint32_t)x->shape[3],
        .out_h = (uint32_t)out_h,
        .out_w = (uint32_t)out_w,
    };
    if (p.count == 0) return LF_OK;
    return finish(lf_op_run_1d(x->device, "resize_nearest", &p, sizeof p, p.count, LOCAL_SIZE, err),
                  out);
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
    int64_t shape[LF_TENSOR_MAX_RANK] = {0}, inner = 1;
    for (int d = 0; d < a->rank; d++) {
        if (d != ax && a->shape[d] != b->shape[d])
            return lf_error_set(err, LF_ERR_INVALID, "concat: a %s and b %s differ outside axis %d",
                                lf_op_shape_text(a, ta, sizeof ta),
                                lf_op_shape_text(b, tb, sizeof tb), ax);
        shape[d] = d == ax ? a->shape[d] + b->shape[d] : a->shape[d];
        if (d > ax) inner *= a->shape[d];
    }
    if ((s = lf_op_output(a, a->dtype, a->rank, shape, out, err))) return s;
    struct {
        uint64_t a, b, y;
        uint32_t count, a_dtype, b_dtype, y_dtype, a_span, b_span;
    } p = {
        .a = lf_op_address(a),
        .b = lf_op_address(b),
        .y = lf_op_address(*out),
        .count = (uint32_t)lf_tensor_numel(*out),
        .a_dtype = lf_op_dtype(a),
        .b_dtype = lf_op_dtype(b),
        .y_dtype = lf_op_dtype(*out),
        .a_span = (uint32_t)(a->shape[ax] * inner),
        .b_span = (uint32_t)(b->shape[ax] * inner),
    };
    if (p.count == 0) return LF_OK;
    return finish(lf_op_run_1d(a->device, "concat", &p, sizeof p, p.count, LOCAL_SIZE, err), out);
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
    for (int d = 0; d < rank; d++) {
        if (perm[d] < 0 || perm[d] >= rank || seen[perm[d]])
            return lf_error_set(err, LF_ERR_INVALID,
                                "permute: perm is not a permutation of 0..%d for x %s", rank - 1,
                                lf_op_shape_text(x, tx, sizeof tx));
        seen[perm[d]] = true;
    }
    uint32_t in_stride[LF_TENSOR_MAX_RANK];
    uint32_t step = 1;
    for (int d = rank - 1; d >= 0; d--) {
        in_stride[d] = step;
        step *= (uint32_t)x->shape[d];
    }
    int64_t shape[LF_TENSOR_MAX_RANK] = {0};
    struct {
        uint64_t x, y;
        uint32_t count, x_dtype, y_dtype, pad;
        uint32_t shape[4], stride[4];
    } p;
    memset(&p, 0, sizeof p);
    for (int d = 0; d < 4; d++) {
        p.shape[d] = 1;
        p.stride[d] = 0;
    }
    /* Right-align the rank-r permutation into the shader's 4 dimensions. */
    for (int d = 0; d < rank; d++) {
        shape[d] = x->shape[perm[d]];
        p.shape[4 - rank + d] = (uint32_t)shape[d];
        p.stride[4 - rank + d] = in_stride[perm[d]];
    }
    if ((s = lf_op_output(x, x->dtype, rank, shape, out, err))) return s;
    p.x = lf_op_address(x);
    p.y = lf_op_address(*out);
    p.count = (uint32_t)lf_tensor_numel(*out);
    p.x_dtype = lf_op_dtype(x);
    p.y_dtype = lf_op_dtype(*out);
    if (p.count == 0) return LF_OK;
    return finish(lf_op_run_1d(x->device, "permute", &p, sizeof p, p.count, LOCAL_SIZE, err), out);
}
