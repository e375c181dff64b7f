#version 450
// fill: out[i] = value, for every element (f32 or f16 storage).
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#include "common.glsl"

layout(local_size_x = 64) in;
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
