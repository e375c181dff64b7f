#version 450
// concat: out = [a, b] along one axis.  The tensors are viewed as
// [outer, len, inner]; a_span = len_a * inner and b_span = len_b * inner
// elements per outer index.
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
    uint a_span;
    uint b_span;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint span = p.a_span + p.b_span;
    uint outer = i / span;
    uint r = i - outer * span;
    float v;
    if (r < p.a_span)
        v = lf_load(p.a, p.a_dtype, outer * p.a_span + r);
    else
        v = lf_load(p.b, p.b_dtype, outer * p.b_span + (r - p.a_span));
    lf_store(p.y, p.y_dtype, i, v);
}
