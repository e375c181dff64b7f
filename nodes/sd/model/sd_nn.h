/*
** sd_nn.h - neural-network layers over named weights, for the model code.
**
** A struct sd_nn carries the weights, the activation dtype and the first
** error: once a layer fails, every later call returns NULL and does
** nothing, so model code reads as a straight sequence of layers and checks
** nn->status once.  Layers never consume their inputs; the caller releases
** what it no longer needs (sd_drop).  Weight names are printf formats.
*/
#ifndef LCMFLOW_SD_NN_H
#define LCMFLOW_SD_NN_H

#include "lcmflow/ops.h"
#include "sd_weights.h"

struct sd_nn {
    const struct sd_weights *weights;
    const char *component; /* "UNet", "VAE", "text encoder": for messages */
    struct lf_error *err;
    enum lf_status status;
};

#if defined(__GNUC__)
#define SD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SD_PRINTF(f, a)
#endif

/* True when the weight exists (name is a printf format). */
bool sd_has(struct sd_nn *nn, const char *fmt, ...) SD_PRINTF(2, 3);
/* The weight, or NULL with nn->status set to a "missing tensor" error. */
struct lf_tensor *sd_weight(struct sd_nn *nn, const char *fmt, ...) SD_PRINTF(2, 3);

/* Records a failed op's status (for direct lf_op_* calls); returns *t, read
** after the call so that `sd_check(nn, lf_op_x(..., &y, ...), &y)` is safe. */
struct lf_tensor *sd_check(struct sd_nn *nn, enum lf_status status, struct lf_tensor **t);

void sd_drop(struct lf_tensor *t); /* lf_tensor_release, NULL allowed */

/* Ends a forward pass: y (consumed) as f32 in *out, or nn's first error. */
enum lf_status sd_finish(struct sd_nn *nn, struct lf_tensor *y, struct lf_tensor **out);

/* conv with <name>.weight and optional <name>.bias; pad = {top, bottom, left, right}. */
struct lf_tensor *sd_conv(struct sd_nn *nn, struct lf_tensor *x, int stride, const int pad[4],
                          const char *fmt, ...) SD_PRINTF(5, 6);
/* 3x3 stride 1 pad 1 / 1x1 shorthands. */
struct lf_tensor *sd_conv3(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
    SD_PRINTF(3, 4);
struct lf_tensor *sd_conv1(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
    SD_PRINTF(3, 4);
/* Linear with <name>.weight and optional <name>.bias. */
struct lf_tensor *sd_linear(struct sd_nn *nn, struct lf_tensor *x, const char *fmt, ...)
    SD_PRINTF(3, 4);
struct lf_tensor *sd_group_norm(struct sd_nn *nn, struct lf_tensor *x, int groups, float eps,
                                bool silu, const char *fmt, ...) SD_PRINTF(6, 7);
struct lf_tensor *sd_layer_norm(struct sd_nn *nn, struct lf_tensor *x, float eps, const char *fmt,
                                ...) SD_PRINTF(4, 5);

struct lf_tensor *sd_add(struct sd_nn *nn, struct lf_tensor *a, struct lf_tensor *b);
struct lf_tensor *sd_unary(struct sd_nn *nn, struct lf_tensor *x, enum lf_unary fn);
struct lf_tensor *sd_scale(struct sd_nn *nn, struct lf_tensor *x, float scale, float shift);
struct lf_tensor *sd_permute(struct sd_nn *nn, struct lf_tensor *x, int p0, int p1, int p2, int p3);
struct lf_tensor *sd_reshape(struct sd_nn *nn, struct lf_tensor *x, int rank, int64_t d0,
                             int64_t d1, int64_t d2, int64_t d3);
struct lf_tensor *sd_cast(struct sd_nn *nn, struct lf_tensor *x, enum lf_dtype dtype);

/* x [B, C, H, W] -> [B, H*W, C] and back. */
struct lf_tensor *sd_to_tokens(struct sd_nn *nn, struct lf_tensor *x);
struct lf_tensor *sd_from_tokens(struct sd_nn *nn, struct lf_tensor *x, int64_t h, int64_t w);

#endif
