/*
** ops_elementwise.c - fill, unary functions, scale, cast/copy, broadcasting
** binary ops.  Shaders: fill.comp, unary.comp, binary.comp.
*/
#include "ops_impl.h"

#include <string.h>

#define LOCAL_SIZE  64
#define FN_IDENTITY 100u

struct unary_push {
    uint64_t x, y;
    uint32_t count, x_dtype, y_dtype, fn;
    float scale, shift;
};

static enum lf_status run_unary(struct lf_tensor *x, struct lf_tensor *y, uint32_t fn, float scale,
                                float shift, struct lf_error *err)
{
    struct unary_push p = {
        .x = lf_op_address(x),
        .y = lf_op_address(y),
        .count = (uint32_t)lf_tensor_numel(x),
        .x_dtype = lf_op_dtype(x),
        .y_dtype = lf_op_dtype(y),
        .fn = fn,
        .scale = scale,
        .shift = shift,
    };
    return lf_op_run_1d(x->device, "unary", &p, sizeof p, p.count, LOCAL_SIZE, err);
}

static enum lf_status unary_new(const char *op, struct lf_tensor *x, enum lf_dtype dtype,
                                uint32_t fn, float scale, float shift, struct lf_tensor **out,
                                struct lf_error *err)
{
    *out = NULL;
    enum lf_status s = lf_op_check_float(x, op, "x", err);
    if (s) return s;
    if ((s = lf_op_output(x, dtype, x->rank, x->shape, out, err))) return s;
    if ((s = run_unary(x, *out, fn, scale, shift, err))) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
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
    return unary_new("scale", x, x->dtype, FN_IDENTITY, scale, shift, out, err);
}

enum lf_status lf_op_cast(struct lf_tensor *x, enum lf_dtype dtype, struct lf_tensor **out,
                          struct lf_error *err)
{
    if (dtype != LF_DTYPE_F32 && dtype != LF_DTYPE_F16)
        return lf_error_set(err, LF_ERR_INVALID, "cast: target must be f32 or f16, not %s",
                            lf_dtype_name(dtype));
    return unary_new("cast", x, dtype, FN_IDENTITY, 1.0f, 0.0f, out, err);
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
    return run_unary(src, dst, FN_IDENTITY, 1.0f, 0.0f, err);
}

enum lf_status lf_op_fill(struct lf_tensor *x, float value, struct lf_error *err)
{
    struct {
        uint64_t dst;
        uint32_t count, dtype;
        float value;
    } p;
    enum lf_status s = lf_op_check_float(x, "fill", "x", err);
    if (s) return s;
    memset(&p, 0, sizeof p);
    p.dst = lf_op_address(x);
    p.count = (uint32_t)lf_tensor_numel(x);
    p.dtype = lf_op_dtype(x);
    p.value = value;
    return lf_op_run_1d(x->device, "fill", &p, sizeof p, p.count, LOCAL_SIZE, err);
}

struct binary_push {
    uint64_t a, b, y;
    uint32_t count, a_dtype, b_dtype, y_dtype, fn, pad;
    uint32_t shape[4], a_stride[4], b_stride[4];
};

/* Right-aligned broadcasting into 4 dims: element strides, 0 where a
** dimension of size 1 is stretched. */
static void broadcast_strides(const struct lf_tensor *t, const uint32_t shape[4],
                              uint32_t stride[4])
{
    uint32_t step = 1;
    for (int d = 3; d >= 0; d--) {
        int src = t->rank - (4 - d);
        uint32_t n = src >= 0 ? (uint32_t)t->shape[src] : 1;
        stride[d] = (n == 1 && shape[d] != 1) ? 0 : step;
        step *= n;
    }
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
    uint32_t shape4[4];
    for (int d = 0; d < 4; d++) {
        int ia = a->rank - (4 - d), ib = b->rank - (4 - d);
        int64_t na = ia >= 0 ? a->shape[ia] : 1, nb = ib >= 0 ? b->shape[ib] : 1;
        if (na != nb && na != 1 && nb != 1)
            return lf_error_set(err, LF_ERR_INVALID, "binary: shapes %s and %s do not broadcast",
                                lf_op_shape_text(a, ta, sizeof ta),
                                lf_op_shape_text(b, tb, sizeof tb));
        shape4[d] = (uint32_t)(na > nb ? na : nb);
        if (d >= 4 - rank) shape[d - (4 - rank)] = shape4[d];
    }
    if ((s = lf_op_output(a, a->dtype, rank, shape, out, err))) return s;
    struct binary_push p = {
        .a = lf_op_address(a),
        .b = lf_op_address(b),
        .y = lf_op_address(*out),
        .count = (uint32_t)lf_tensor_numel(*out),
        .a_dtype = lf_op_dtype(a),
        .b_dtype = lf_op_dtype(b),
        .y_dtype = lf_op_dtype(*out),
        .fn = (uint32_t)fn,
    };
    memcpy(p.shape, shape4, sizeof shape4);
    broadcast_strides(a, shape4, p.a_stride);
    broadcast_strides(b, shape4, p.b_stride);
    if ((s = lf_op_run_1d(a->device, "binary", &p, sizeof p, p.count, LOCAL_SIZE, err))) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}
