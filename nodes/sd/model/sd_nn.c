/*
** sd_nn.c - layers over named weights (see sd_nn.h).
*/
#include "sd_nn.h"

#include <stdarg.h>
#include <stdio.h>

/* Declares char buf[256] holding the name the varargs call formats. */
#define FORMAT_NAME(buf, fmt)                                                                      \
    char buf[256];                                                                                 \
    do {                                                                                           \
        va_list ap_;                                                                               \
        va_start(ap_, fmt);                                                                        \
        vsnprintf(buf, sizeof buf, fmt, ap_);                                                      \
        va_end(ap_);                                                                               \
    } while (0)

bool sd_has(struct sd_nn *nn, const char *fmt, ...)
{
    FORMAT_NAME(name, fmt);
    return sd_weights_find(nn->weights, name) != NULL;
}

static struct lf_tensor *weight_named(struct sd_nn *nn, const char *name, bool required)
{
    const struct sd_weight *item = sd_weights_find(nn->weights, name);
    struct lf_tensor *t = NULL;
    if (!item) {
        if (required && nn->status == LF_OK)
            nn->status = lf_error_set(nn->err, LF_ERR_NOT_FOUND, "%s: missing tensor '%s'",
                                      nn->component, name);
        return NULL;
    }
    /* a weight a LoRA merge took is loaded from the file again */
    enum lf_status s = sd_weights_get(nn->weights, (size_t)(item - nn->weights->items), &t,
                                      nn->status == LF_OK ? nn->err : NULL);
    if (s && nn->status == LF_OK) nn->status = s;
    return t;
}

struct lf_tensor *sd_weight(struct sd_nn *nn, const char *fmt, ...)
{
    FORMAT_NAME(name, fmt);
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

enum lf_status sd_finish(struct sd_nn *nn, struct lf_tensor *y, struct lf_tensor **out)
{
    struct lf_tensor *y32 = sd_cast(nn, y, LF_DTYPE_F32);
    sd_drop(y);
    if (nn->status) {
        sd_drop(y32);
        return nn->status;
    }
    *out = y32;
    return LF_OK;
}

/* The layers with a weight and an optional bias: <base>.weight, <base>.bias. */
enum layer { LAYER_CONV, LAYER_LINEAR, LAYER_GROUP_NORM, LAYER_LAYER_NORM };

struct layer_args {
    int stride;
    const int *pad;
    int groups;
    float eps;
    bool silu;
};

static struct lf_tensor *layer(struct sd_nn *nn, enum layer kind, struct lf_tensor *x,
                               const struct layer_args *a, const char *base)
{
    char name[300];
    struct lf_tensor *w, *b, *y = NULL;
    if (nn->status || !x) return NULL;
    snprintf(name, sizeof name, "%s.weight", base);
    if (!(w = weight_named(nn, name, true))) return NULL;
    snprintf(name, sizeof name, "%s.bias", base);
    b = weight_named(nn, name, false);
    enum lf_status s = LF_OK;
    switch (kind) {
    case LAYER_CONV: {
        struct lf_conv2d_params p = {a->stride, a->pad[0], a->pad[1], a->pad[2], a->pad[3]};
        s = lf_op_conv2d(x, w, b, &p, &y, nn->err);
        break;
    }
    case LAYER_LINEAR:
        s = lf_op_linear(x, w, b, &y, nn->err);
        break;
    case LAYER_GROUP_NORM:
        s = lf_op_group_norm(x, w, b, a->groups, a->eps, a->silu, &y, nn->err);
        break;
    case LAYER_LAYER_NORM:
        s = lf_op_layer_norm(x, w, b, a->eps, &y, nn->err);
        break;
    }
    if (s) lf_error_prefix(nn->err, "%s %s", nn->component, base);
    return sd_check(nn, s, &y);
}

struct lf_tensor *sd_conv(struct sd_nn *nn, struct lf_tensor *x, int stride, const int pad[4],
                          const char *fmt, ...)
{
    FORMAT_NAME(base, fmt);
    return layer(nn, LAYER_CONV, x, &(struct layer_args){.stride = stride, .pad = pad}, base);
}

struct lf_tensor *sd_conv3(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
{
    static const int pad[4] = {1, 1, 1, 1};
    FORMAT_NAME(base, fmt);
    return layer(nn, LAYER_CONV, x, &(struct layer_args){.stride = 1, .pad = pad}, base);
}

struct lf_tensor *sd_conv1(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
{
    static const int pad[4] = {0, 0, 0, 0};
    FORMAT_NAME(base, fmt);
    return layer(nn, LAYER_CONV, x, &(struct layer_args){.stride = 1, .pad = pad}, base);
}

struct lf_tensor *sd_linear(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
{
    FORMAT_NAME(base, fmt);
    return layer(nn, LAYER_LINEAR, x, &(struct layer_args){0}, base);
}

struct lf_tensor *sd_group_norm(struct sd_nn *nn, struct lf_tensor *x, int groups, float eps,
                                bool silu, const char *fmt, ...)
{
    FORMAT_NAME(base, fmt);
    return layer(nn, LAYER_GROUP_NORM, x,
                 &(struct layer_args){.groups = groups, .eps = eps, .silu = silu}, base);
}

struct lf_tensor *sd_layer_norm(struct sd_nn *nn, struct lf_tensor *x, float eps, const char *fmt,
                                ...)
{
    FORMAT_NAME(base, fmt);
    return layer(nn, LAYER_LAYER_NORM, x, &(struct layer_args){.eps = eps}, base);
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
