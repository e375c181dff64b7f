#version 450
// geglu: x [rows, 2N] -> y [rows, N], y = x[:, :N] * gelu(x[:, N:]) with
// the exact erf GELU.  One invocation per output element.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint count; // rows * N
    uint n;
    uint x_dtype;
    uint y_dtype;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint row = i / p.n, col = i - row * p.n;
    uint base = row * 2u * p.n + col;
    float a = lf_load(p.x, p.x_dtype, base);
    float g = lf_load(p.x, p.x_dtype, base + p.n);
    lf_store(p.y, p.y_dtype, i, a * 0.5 * g * (1.0 + lf_erf(g * 0.70710678118654752)));
}
