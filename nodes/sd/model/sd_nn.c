/*
** sd_nn.c - layers over named weights (see sd_nn.h).
*/
#include "sd_nn.h"

#include <stdarg.h>
#include <stdio.h>

static void format_name(char *buf, size_t size, const char *fmt, va_list ap)
{
    vsnprintf(buf, size, fmt, ap);
}

bool sd_has(struct sd_nn *nn, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(name, sizeof name, fmt, ap);
    va_end(ap);
    return sd_weights_find(nn->weights, name) != NULL;
}

static struct lf_tensor *weight_named(struct sd_nn *nn, const char *name, bool required)
{
    struct lf_tensor *t = sd_weights_tensor(nn->weights, name);
    if (!t && required && nn->status == LF_OK)
        nn->status =
            lf_error_set(nn->err, LF_ERR_NOT_FOUND, "%s: missing tensor '%s'", nn->component, name);
    return t;
}

struct lf_tensor *sd_weight(struct sd_nn *nn, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(name, sizeof name, fmt, ap);
    va_end(ap);
    return weight_named(nn, name, true);
}

struct lf_tensor *sd_check(struct sd_nn *nn, enum lf_status status, struct lf_tensor **t)
{
    if (status && nn->status == LF_OK) nn->status = status;
    return status ? NULL : *t;
}

void sd_drop(struct lf_tensor *t)
{
    lf_tensor_release(t);
}

/* Looks up <base>.weight (required) and <base>.bias (optional). */
static bool weight_and_bias(struct sd_nn *nn, const char *base, struct lf_tensor **w,
                            struct lf_tensor **b)
{
    char name[300];
    snprintf(name, sizeof name, "%s.weight", base);
    *w = weight_named(nn, name, true);
    snprintf(name, sizeof name, "%s.bias", base);
    *b = weight_named(nn, name, false);
    return *w != NULL;
}

static struct lf_tensor *conv_named(struct sd_nn *nn, struct lf_tensor *x, int stride,
                                    const int pad[4], const char *base)
{
    struct lf_tensor *w, *b, *y = NULL;
    if (nn->status || !x || !weight_and_bias(nn, base, &w, &b)) return NULL;
    struct lf_conv2d_params p = {stride, pad[0], pad[1], pad[2], pad[3]};
    enum lf_status s = lf_op_conv2d(x, w, b, &p, &y, nn->err);
    if (s) lf_error_prefix(nn->err, "%s %s", nn->component, base);
    return sd_check(nn, s, &y);
}

struct lf_tensor *sd_conv(struct sd_nn *nn, struct lf_tensor *x, int stride, const int pad[4],
                          const char *fmt, ...)
{
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(base, sizeof base, fmt, ap);
    va_end(ap);
    return conv_named(nn, x, stride, pad, base);
}

struct lf_tensor *sd_conv3(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
{
    static const int pad[4] = {1, 1, 1, 1};
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(base, sizeof base, fmt, ap);
    va_end(ap);
    return conv_named(nn, x, 1, pad, base);
}

struct lf_tensor *sd_conv1(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
{
    static const int pad[4] = {0, 0, 0, 0};
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(base, sizeof base, fmt, ap);
    va_end(ap);
    return conv_named(nn, x, 1, pad, base);
}

struct lf_tensor *sd_linear(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
{
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(base, sizeof base, fmt, ap);
    va_end(ap);
    struct lf_tensor *w, *b, *y = NULL;
    if (nn->status || !x || !weight_and_bias(nn, base, &w, &b)) return NULL;
    enum lf_status s = lf_op_linear(x, w, b, &y, nn->err);
    if (s) lf_error_prefix(nn->err, "%s %s", nn->component, base);
    return sd_check(nn, s, &y);
}

struct lf_tensor *sd_group_norm(struct sd_nn *nn, struct lf_tensor *x, int groups, float eps,
                                bool silu, const char *fmt, ...)
{
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(base, sizeof base, fmt, ap);
    va_end(ap);
    struct lf_tensor *w, *b, *y = NULL;
    if (nn->status || !x || !weight_and_bias(nn, base, &w, &b)) return NULL;
    enum lf_status s = lf_op_group_norm(x, w, b, groups, eps, silu, &y, nn->err);
    if (s) lf_error_prefix(nn->err, "%s %s", nn->component, base);
    return sd_check(nn, s, &y);
}

struct lf_tensor *sd_layer_norm(struct sd_nn *nn, struct lf_tensor *x, float eps, const char *fmt,
                                ...)
{
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    format_name(base, sizeof base, fmt, ap);
    va_end(ap);
    struct lf_tensor *w, *b, *y = NULL;
    if (nn->status || !x || !weight_and_bias(nn, base, &w, &b)) return NULL;
    enum lf_status s = lf_op_layer_norm(x, w, b, eps, &y, nn->err);
    if (s) lf_error_prefix(nn->err, "%s %s", nn->component, base);
    return sd_check(nn, s, &y);
}

struct lf_tensor *sd_add(struct sd_nn *nn, struct lf_tensor *a, struct lf_tensor *b)
{
    struct lf_tensor *y = NULL;
    if (nn->status || !a || !b) return NULL;
    return sd_check(nn, lf_op_binary(a, b, LF_BINARY_ADD, &y, nn->err), &y);
}

struct lf_tensor *sd_unary(struct sd_nn *nn, struct lf_tensor *x, enum lf_unary fn)
{
    struct lf_tensor *y = NULL;
    if (nn->status || !x) return NULL;
    return sd_check(nn, lf_op_unary(x, fn, &y, nn->err), &y);
}

struct lf_tensor *sd_scale(struct sd_nn *nn, struct lf_tensor *x, float scale, float shift)
{
    struct lf_tensor *y = NULL;
    if (nn->status || !x) return NULL;
    return sd_check(nn, lf_op_scale(x, scale, shift, &y, nn->err), &y);
}

struct lf_tensor *sd_permute(struct sd_nn *nn, struct lf_tensor *x, int p0, int p1, int p2, int p3)
{
    int perm[4] = {p0, p1, p2, p3};
    struct lf_tensor *y = NULL;
    if (nn->status || !x) return NULL;
    return sd_check(nn, lf_op_permute(x, perm, &y, nn->err), &y);
}

struct lf_tensor *sd_reshape(struct sd_nn *nn, struct lf_tensor *x, int rank, int64_t d0,
                             int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    struct lf_tensor *y = NULL;
    if (nn->status || !x) return NULL;
    return sd_check(nn, lf_tensor_reshape(x, rank, shape, &y, nn->err), &y);
}

struct lf_tensor *sd_cast(struct sd_nn *nn, struct lf_tensor *x, enum lf_dtype dtype)
{
    struct lf_tensor *y = NULL;
    if (nn->status || !x) return NULL;
    if (x->dtype == dtype) return lf_tensor_retain(x);
    return sd_check(nn, lf_op_cast(x, dtype, &y, nn->err), &y);
}

struct lf_tensor *sd_to_tokens(struct sd_nn *nn, struct lf_tensor *x)
{
    if (nn->status || !x) return NULL;
    int64_t b = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    struct lf_tensor *flat = sd_reshape(nn, x, 3, b, c, hw, 0);
    int perm[3] = {0, 2, 1};
    struct lf_tensor *y = NULL;
    if (flat) sd_check(nn, lf_op_permute(flat, perm, &y, nn->err), &y);
    sd_drop(flat);
    return nn->status ? NULL : y;
}

struct lf_tensor *sd_from_tokens(struct sd_nn *nn, struct lf_tensor *x, int64_t h, int64_t w)
{
    if (nn->status || !x) return NULL;
    int perm[3] = {0, 2, 1};
    struct lf_tensor *t = NULL;
    sd_check(nn, lf_op_permute(x, perm, &t, nn->err), &t);
    if (nn->status) return NULL;
    struct lf_tensor *y = sd_reshape(nn, t, 4, t->shape[0], t->shape[1], h, w);
    sd_drop(t);
    return y;
}
