/*
** ref_ops.c - plain-C reference ops (see ref_ops.h).
*/
#include "ref_ops.h"

#include <math.h>

float ref_unary(float x, enum lf_unary fn)
{
    double v = x;
    switch (fn) {
    case LF_UNARY_GELU:
        return (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    case LF_UNARY_QUICK_GELU:
        return (float)(v / (1.0 + exp(-1.702 * v)));
    case LF_UNARY_SILU:
        return (float)(v / (1.0 + exp(-v)));
    case LF_UNARY_RELU:
        return (float)(v > 0 ? v : 0);
    case LF_UNARY_TANH:
        return (float)tanh(v);
    }
    return NAN;
}

float ref_binary(float a, float b, enum lf_binary fn)
{
    switch (fn) {
    case LF_BINARY_ADD:
        return a + b;
    case LF_BINARY_SUB:
        return a - b;
    case LF_BINARY_MUL:
        return a * b;
    case LF_BINARY_DIV:
        return a / b;
    }
    return NAN;
}
