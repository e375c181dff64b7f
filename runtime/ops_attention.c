/*
** ops_attention.c - multi-head attention, flash style (the Lq x Lk score
** matrix is never stored): argument and shape checks, then the tensors'
** backend (the Vulkan kernels are in vulkan/).
*/
#include "ops_impl.h"

#include <string.h>

static enum lf_status check_inputs(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                                   int heads, struct lf_error *err)
{
    char a[96], b[96], c[96];
    enum lf_status s;
    if ((s = lf_op_check_float(q, "attention", "q", err)) ||
        (s = lf_op_check_float(k, "attention", "k", err)) ||
        (s = lf_op_check_float(v, "attention", "v", err)) ||
        (s = lf_op_check_device("attention", q, k, err)) ||
        (s = lf_op_check_device("attention", q, v, err)))
        return s;
    if (q->rank != 3 || k->rank != 3 || v->rank != 3 || k->shape[0] != q->shape[0] ||
        k->shape[2] != q->shape[2] || memcmp(k->shape, v->shape, 3 * sizeof *k->shape) ||
        k->shape[1] < 1)
        return lf_error_set(err, LF_ERR_INVALID,
                            "attention: need q [B, Lq, C], k and v [B, Lk >= 1, C]; got q %s, "
                            "k %s, v %s",
                            lf_op_shape_text(q, a, sizeof a), lf_op_shape_text(k, b, sizeof b),
                            lf_op_shape_text(v, c, sizeof c));
    if (heads < 1 || q->shape[2] % heads)
        return lf_error_set(err, LF_ERR_INVALID,
                            "attention: %d heads do not divide the %lld channels of q %s", heads,
                            (long long)q->shape[2], lf_op_shape_text(q, a, sizeof a));
    if (q->shape[2] < 1)
        return lf_error_set(err, LF_ERR_INVALID, "attention: q %s has no channels",
                            lf_op_shape_text(q, a, sizeof a));
    return LF_OK;
}

enum lf_status lf_op_attention(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                               int heads, float scale, bool causal, struct lf_tensor **out,
                               struct lf_error *err)
{
    *out = NULL;
    enum lf_status s = check_inputs(q, k, v, heads, err);
    if (s) return s;
    if ((s = lf_op_output(q, q->dtype, 3, q->shape, out, err))) return s;
    if (lf_tensor_numel(*out) == 0) return LF_OK;
    s = lf_tensor_backend(q)->attention(q, k, v, heads, scale, causal, *out, err);
    return lf_op_finish(s, out);
}
