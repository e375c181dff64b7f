/*
** ops_gemm.c - GEMM and PyTorch Linear: argument and shape checks, then
** the tensors' backend (the Vulkan kernels are in vulkan/).
*/
#include "ops_impl.h"

#include <string.h>

/* The output's shape beside the backend's view of the call. */
struct gemm_call {
    struct lf_gemm_shape g;
    int out_rank;
    int64_t out_shape[LF_TENSOR_MAX_RANK];
};

static enum lf_status shape_error(struct lf_tensor *a, struct lf_tensor *b, bool trans_a,
                                  bool trans_b, const char *why, struct lf_error *err)
{
    char ta[96], tb[96];
    return lf_error_set(err, LF_ERR_INVALID, "gemm: A %s%s and B %s%s %s",
                        lf_op_shape_text(a, ta, sizeof ta), trans_a ? " (transposed)" : "",
                        lf_op_shape_text(b, tb, sizeof tb), trans_b ? " (transposed)" : "", why);
}

static enum lf_status check_shapes(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                                   bool trans_a, bool trans_b, struct gemm_call *call,
                                   struct lf_error *err)
{
    enum lf_status s;
    if ((s = lf_op_check_float(a, "gemm", "A", err)) ||
        (s = lf_op_check_float(b, "gemm", "B", err)) || (s = lf_op_check_device("gemm", a, b, err)))
        return s;
    if (bias && ((s = lf_op_check_float(bias, "gemm", "bias", err)) ||
                 (s = lf_op_check_device("gemm", a, bias, err))))
        return s;
    if (a->rank < 2 || b->rank < 2)
        return shape_error(a, b, trans_a, trans_b, "need at least 2 dimensions each", err);
    int64_t m = a->shape[a->rank - (trans_a ? 1 : 2)];
    int64_t k = a->shape[a->rank - (trans_a ? 2 : 1)];
    int64_t kb = b->shape[b->rank - (trans_b ? 1 : 2)];
    int64_t n = b->shape[b->rank - (trans_b ? 2 : 1)];
    if (k != kb) return shape_error(a, b, trans_a, trans_b, "differ in K", err);

    /* Batch dims: those of A; B either has none (broadcast) or the same.
    ** A without batch dims may meet a batched B: then A is broadcast. */
    const struct lf_tensor *lead = a->rank >= b->rank ? a : b;
    if (a->rank > 2 && b->rank > 2) {
        if (a->rank != b->rank || memcmp(a->shape, b->shape, (size_t)(a->rank - 2) * 8) != 0)
            return shape_error(a, b, trans_a, trans_b, "have different batch dimensions", err);
    }
    int64_t batch = 1;
    for (int i = 0; i < lead->rank - 2; i++)
        batch *= lead->shape[i];
    if (bias) {
        if (lf_tensor_numel(bias) != n || bias->shape[bias->rank - 1] != n) {
            char tb[96];
            return lf_error_set(err, LF_ERR_INVALID, "gemm: bias %s does not match N = %lld",
                                lf_op_shape_text(bias, tb, sizeof tb), (long long)n);
        }
    }
    /* Backends index elements with 32-bit integers. */
    if (lf_tensor_numel(a) >= ((int64_t)1 << 32) || lf_tensor_numel(b) >= ((int64_t)1 << 32) ||
        batch * m * n >= ((int64_t)1 << 32))
        return shape_error(a, b, trans_a, trans_b, "have 2^32 elements or more", err);
    call->g = (struct lf_gemm_shape){
        .m = (uint32_t)m,
        .n = (uint32_t)n,
        .k = (uint32_t)k,
        .batch = (uint32_t)batch,
        .a_bstride = a->rank > 2 ? (uint32_t)(m * k) : 0,
        .b_bstride = b->rank > 2 ? (uint32_t)(k * n) : 0,
    };
    call->out_rank = lead->rank;
    for (int i = 0; i < lead->rank - 2; i++)
        call->out_shape[i] = lead->shape[i];
    call->out_shape[lead->rank - 2] = m;
    call->out_shape[lead->rank - 1] = n;
    return LF_OK;
}

enum lf_status lf_op_gemm(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                          bool trans_a, bool trans_b, struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    struct gemm_call call;
    enum lf_status s = check_shapes(a, b, bias, trans_a, trans_b, &call, err);
    if (s) return s;
    if ((s = lf_op_output(a, a->dtype, call.out_rank, call.out_shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    s = lf_tensor_backend(a)->gemm(a, b, bias, trans_a, trans_b, &call.g, *out, err);
    return lf_op_finish(s, out);
}

enum lf_status lf_op_linear(struct lf_tensor *x, struct lf_tensor *weight, struct lf_tensor *bias,
                            struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    enum lf_status s;
    if ((s = lf_op_check_float(x, "linear", "x", err)) ||
        (s = lf_op_check_float(weight, "linear", "weight", err)))
        return s;
    char tx[96], tw[96];
    if (x->rank < 1 || weight->rank != 2 || x->shape[x->rank - 1] != weight->shape[1])
        return lf_error_set(
            err, LF_ERR_INVALID,
            "linear: x %s does not match weight %s (want x [..., K], weight [N, K])",
            lf_op_shape_text(x, tx, sizeof tx), lf_op_shape_text(weight, tw, sizeof tw));
    /* Flatten the leading dims into rows, multiply, restore them. */
    int64_t k = x->shape[x->rank - 1];
    int64_t rows_shape[2] = {k ? lf_tensor_numel(x) / k : 0, k};
    if (k == 0) {
        rows_shape[0] = 1;
        for (int i = 0; i < x->rank - 1; i++)
            rows_shape[0] *= x->shape[i];
    }
    struct lf_tensor *rows = NULL, *y = NULL;
    if ((s = lf_tensor_reshape(x, 2, rows_shape, &rows, err))) return s;
    s = lf_op_gemm(rows, weight, bias, false, true, &y, err);
    lf_tensor_release(rows);
    if (s) {
        lf_error_prefix(err, "linear");
        return s;
    }
    int64_t shape[LF_TENSOR_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->rank - 1] = weight->shape[0];
    s = lf_tensor_reshape(y, x->rank, shape, out, err);
    lf_tensor_release(y);
    return s;
}
