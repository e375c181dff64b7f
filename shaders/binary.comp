#version 450
// binary: out = a op b with broadcasting.  The output has up to 4 dims
// (right-aligned); a and b carry per-dim element strides, 0 where broadcast.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t a;
    uint64_t b;
    uint64_t y;
    uint count;
    uint a_dtype;
    uint b_dtype;
    uint y_dtype;
    uint fn;
    uint pad;
    uvec4 shape;
    uvec4 a_stride;
    uvec4 b_stride;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint rest = i;
    uint ia = 0u, ib = 0u;
    for (int d = 3; d >= 0; d--) {
        uint c = rest % p.shape[d];
        rest /= p.shape[d];
        ia += c * p.a_stride[d];
        ib += c * p.b_stride[d];
    }
    float x = lf_load(p.a, p.a_dtype, ia);
    float z = lf_load(p.b, p.b_dtype, ib);
    float v;
    if (p.fn == 0u) v = x + z;
    else if (p.fn == 1u) v = x - z;
    else if (p.fn == 2u) v = x * z;
    else v = x / z;
    lf_store(p.y, p.y_dtype, i, v);
}
