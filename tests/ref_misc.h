/*
** ref_misc.h - plain-C references of lf_op_geglu and
** lf_op_timestep_embedding, used only by tests; computed in double.
*/
#ifndef LCMFLOW_REF_MISC_H
#define LCMFLOW_REF_MISC_H

#include <stdbool.h>
#include <stdint.h>

/* x [rows, 2n] -> y [rows, n]: x[:, :n] * gelu_erf(x[:, n:]). */
void ref_geglu(const float *x, int64_t rows, int64_t n, float *y);

/* t [batch] -> y [batch, dim], as ops.h documents (zero last column when
** dim is odd). */
void ref_timestep_embedding(const float *t, int64_t batch, int dim, bool flip_sin_to_cos,
                            float shift, float max_period, float *y);

#endif
