#version 450
// fill: out[i] = value, for every element (f32 or f16 storage).
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t dst;
    uint count;
    uint dtype;
    float value;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    lf_store(p.dst, p.dtype, i, p.value);
}
