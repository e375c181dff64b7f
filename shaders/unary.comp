#version 450
// unary: out[i] = f(x[i] * scale + shift) for the functions of enum lf_unary,
// plus identity (used by scale, cast and copy).
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint count;
    uint x_dtype;
    uint y_dtype;
    uint fn;
    float scale;
    float shift;
} p;

#define FN_GELU 0u
#define FN_QUICK_GELU 1u
#define FN_SILU 2u
#define FN_RELU 3u
#define FN_TANH 4u
#define FN_IDENTITY 100u

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    float v = lf_load(p.x, p.x_dtype, i) * p.scale + p.shift;
    if (p.fn == FN_GELU) v = 0.5 * v * (1.0 + lf_erf(v * 0.70710678118654752));
    else if (p.fn == FN_QUICK_GELU) v = v / (1.0 + exp(-1.702 * v));
    else if (p.fn == FN_SILU) v = v / (1.0 + exp(-v));
    else if (p.fn == FN_RELU) v = max(v, 0.0);
    else if (p.fn == FN_TANH) v = tanh(v);
    lf_store(p.y, p.y_dtype, i, v);
}
