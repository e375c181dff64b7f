#version 450
// group_norm_apply: y = (x - mean) * rstd * gamma[c] + beta[c], then SiLU
// when asked; element i lies in plane i / spatial = b * C + c.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint64_t stats; // f32 [B * groups, 2]
    uint64_t gamma; // 0: 1
    uint64_t beta;  // 0: 0
    uint count;
    uint spatial;  // elements per channel
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
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint plane = i / p.spatial;
    uint c = plane % p.channels;
    uint b = plane / p.channels;
    uint groups = p.channels / p.group_channels;
    uint g = b * groups + c / p.group_channels;
    float mean = LfF32(p.stats).v[g * 2u];
    float rstd = LfF32(p.stats).v[g * 2u + 1u];
    float v = (lf_load(p.x, p.x_dtype, i) - mean) * rstd;
    if (p.gamma != 0ul) v *= lf_load(p.gamma, p.gamma_dtype, c);
    if (p.beta != 0ul) v += lf_load(p.beta, p.beta_dtype, c);
    if (p.silu != 0u) v = v / (1.0 + exp(-v));
    lf_store(p.y, p.y_dtype, i, v);
}
