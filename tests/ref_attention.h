/*
** ref_attention.h - plain-C reference of lf_op_attention, used only by
** tests: the full score matrix row by row, softmax and weighted sum in
** double.  Layouts as ops.h: q [B, Lq, H*D], k and v [B, Lk, H*D].
*/
#ifndef LCMFLOW_REF_ATTENTION_H
#define LCMFLOW_REF_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

/* out [B, Lq, H*D] (caller-allocated). */
void ref_attention(const float *q, const float *k, const float *v, int64_t batch, int64_t lq,
                   int64_t lk, int heads, int64_t head_dim, float scale, bool causal, float *out);

#endif
