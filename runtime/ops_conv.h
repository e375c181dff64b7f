/*
** ops_conv.h - internals of lf_op_conv2d that tests check (private).
*/
#ifndef LCMFLOW_OPS_CONV_H
#define LCMFLOW_OPS_CONV_H

#include "lcmflow/ops.h"

/* The shader lf_op_conv2d would dispatch for these arguments now (after
** LCMFLOW_OP_VARIANT and the device's type), or NULL when they are invalid.
** Static string. */
const char *lf_op_conv2d_shader(struct lf_tensor *x, struct lf_tensor *weight,
                                const struct lf_conv2d_params *params);

#endif
