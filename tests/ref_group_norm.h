/*
** ref_group_norm.h - plain-C reference of lf_op_group_norm, used only by
** tests: two passes in double.
*/
#ifndef LCMFLOW_REF_GROUP_NORM_H
#define LCMFLOW_REF_GROUP_NORM_H

#include <stdbool.h>
#include <stdint.h>

/* x [B, C, spatial...] flattened to [B, C, S]; gamma/beta [C] or NULL. */
void ref_group_norm(const float *x, const float *gamma, const float *beta, int64_t B, int64_t C,
                    int64_t S, int groups, float eps, bool silu, float *y);

#endif
