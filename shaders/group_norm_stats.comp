#version 450
// group_norm_stats: first pass of group norm.  Workgroup (chunk, group)
// reduces one chunk of a group's elements to its mean and M2 (sum of squared
// deviations from that mean), two passes over the chunk (which stays in
// cache), so large groups lose no precision to a sum of squares.
// group_norm_finalize combines the chunks with Chan's formula.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t partial; // f32 [groups, chunks, 2]: mean, M2
    uint x_dtype;
    uint group_size; // elements per group
    uint chunk;      // elements per chunk
    uint chunks;     // chunks per group
} p;

shared float red[64];

float reduce_sum(float v)
{
    uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint s = 32u; s > 0u; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    uint group = gl_WorkGroupID.y;
    uint c = gl_WorkGroupID.x;
    uint start = c * p.chunk;
    uint len = min(p.chunk, p.group_size - start);
    uint base = group * p.group_size + start;
    float s = 0.0;
    for (uint i = lid; i < len; i += 64u)
        s += lf_load(p.x, p.x_dtype, base + i);
    float mean = reduce_sum(s) / float(len);
    float q = 0.0;
    for (uint i = lid; i < len; i += 64u) {
        float d = lf_load(p.x, p.x_dtype, base + i) - mean;
        q += d * d;
    }
    float m2 = reduce_sum(q);
    if (lid == 0u) {
        uint o = (group * p.chunks + c) * 2u;
        LfF32(p.partial).v[o] = mean;
        LfF32(p.partial).v[o + 1u] = m2;
    }
}
