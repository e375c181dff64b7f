/*
** ref_ops.h - plain-C reference implementations of the ops, used only by
** tests.  Straightforward loops in double or float, written for clarity, so
** that a Vulkan op that disagrees with them is wrong.  Layouts and
** semantics are exactly those of ops.h.
*/
#ifndef LCMFLOW_REF_OPS_H
#define LCMFLOW_REF_OPS_H

#include "lcmflow/ops.h"

#include <stddef.h>
#include <stdint.h>

float ref_unary(float x, enum lf_unary fn);
float ref_binary(float a, float b, enum lf_binary fn);

#endif
