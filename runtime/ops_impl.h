/*
** ops_impl.h - what every op front (ops_*.c) shares: shape text for
** messages, dtype and device checks, output allocation, and the backend
** table the fronts call (backend.h).
*/
#ifndef LCMFLOW_OPS_IMPL_H
#define LCMFLOW_OPS_IMPL_H

#include "backend.h"
#include "lcmflow/ops.h"

/* LF_ERR_INVALID unless t is f32 or f16 ("op: what must be f32 or f16"). */
enum lf_status lf_op_check_float(const struct lf_tensor *t, const char *op, const char *what,
                                 struct lf_error *err);

/* LF_ERR_INVALID unless both tensors live on the same device (either may
** be NULL); the message names the op and both devices. */
enum lf_status lf_op_check_device(const char *op, struct lf_tensor *a, struct lf_tensor *b,
                                  struct lf_error *err);

/* Creates the output tensor (dtype, rank, shape) on like's device. */
enum lf_status lf_op_output(struct lf_tensor *like, enum lf_dtype dtype, int rank,
                            const int64_t *shape, struct lf_tensor **out, struct lf_error *err);

/* After the backend ran: on failure releases *out and sets it to NULL, so
** callers never see a half-made output.  Returns s. */
enum lf_status lf_op_finish(enum lf_status s, struct lf_tensor **out);

#endif
