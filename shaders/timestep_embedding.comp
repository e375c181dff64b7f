#version 450
// timestep_embedding: t [B] f32 -> y [B, dim] f32.  Column i < half holds
// cos(t * freq_i) when flip (else sin), column half + i the other one;
// freq_i = exp(-ln(max_period) * i / (half - shift)); an odd dim leaves a
// zero last column.  One invocation per output element.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t t;
    uint64_t y;
    uint count; // B * dim
    uint dim;
    uint flip;
    float shift;
    float log_max_period;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint b = i / p.dim, col = i - b * p.dim;
    uint half_dim = p.dim / 2u;
    float v = 0.0;
    if (col < 2u * half_dim) {
        bool second = col >= half_dim;
        uint kf = second ? col - half_dim : col;
        float freq = exp(-p.log_max_period * float(kf) / (float(half_dim) - p.shift));
        float arg = LfF32(p.t).v[b] * freq;
        // Reduce to [-pi, pi] with 2 pi split in two parts (the first exact
        // in few bits), since sin/cos of arguments up to ~1000 lose digits
        // in some drivers.
        float k = round(arg * 0.15915494309189535);
        float r = (arg - k * 6.28125) - k * 0.0019353071795864769;
        bool use_cos = (p.flip != 0u) != second;
        v = use_cos ? cos(r) : sin(r);
    }
    LfF32(p.y).v[i] = v;
}
