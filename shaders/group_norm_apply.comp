#version 450
// group_norm_apply: y = (x - mean) * rstd * gamma[c] + beta[c], then SiLU
// when asked.  Workgroup (x, plane) covers PER_INVOCATION * 64 elements of
// one channel plane (plane = b * C + c), so the statistics and the affine
// parameters are loaded once per invocation, not once per element.
layout(local_size_x = 64) in;
#include "common.glsl"

#define PER_INVOCATION 8u

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint64_t stats; // f32 [B * groups, 2]
    uint64_t gamma; // 0: 1
    uint64_t beta;  // 0: 0
    uint spatial;   // elements per channel
    uint channels;
    uint group_channels; // channels per group
    uint x_dtype;
    uint y_dtype;
    uint gamma_dtype;
    uint beta_dtype;
    uint silu;
} p;

void main()
{
    uint plane = gl_WorkGroupID.y;
    uint c = plane % p.channels;
    uint b = plane / p.channels;
    uint g = b * (p.channels / p.group_channels) + c / p.group_channels;
    float mean = LfF32(p.stats).v[g * 2u];
    float scale = LfF32(p.stats).v[g * 2u + 1u];
    float shift = 0.0;
    if (p.gamma != 0ul) scale *= lf_load(p.gamma, p.gamma_dtype, c);
    if (p.beta != 0ul) shift = lf_load(p.beta, p.beta_dtype, c);
    shift -= mean * scale; // y = x * scale + shift
    uint first = gl_WorkGroupID.x * (64u * PER_INVOCATION) + gl_LocalInvocationID.x;
    uint base = plane * p.spatial;
    for (uint j = 0u; j < PER_INVOCATION; j++) {
        uint s = first + j * 64u;
        if (s >= p.spatial) break;
        float v = lf_load(p.x, p.x_dtype, base + s) * scale + shift;
        if (p.silu != 0u) v = v / (1.0 + exp(-v));
        lf_store(p.y, p.y_dtype, base + s, v);
    }
}
