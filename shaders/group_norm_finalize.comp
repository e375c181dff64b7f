#version 450
// group_norm_finalize: one invocation per group combines the chunk
// statistics of group_norm_stats (Chan et al.'s parallel variance) into the
// group's mean and 1 / sqrt(variance + eps).
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t partial; // f32 [groups, chunks, 2]
    uint64_t stats;   // f32 [groups, 2]: mean, rstd
    uint groups;
    uint group_size;
    uint chunk;
    uint chunks;
    float eps;
} p;

void main()
{
    uint g = lf_global_index();
    if (g >= p.groups) return;
    float n = 0.0, mean = 0.0, m2 = 0.0;
    for (uint c = 0u; c < p.chunks; c++) {
        uint o = (g * p.chunks + c) * 2u;
        float nb = float(min(p.chunk, p.group_size - c * p.chunk));
        float mb = LfF32(p.partial).v[o];
        float m2b = LfF32(p.partial).v[o + 1u];
        float nn = n + nb;
        float delta = mb - mean;
        mean += delta * (nb / nn);
        m2 += m2b + delta * delta * (n * nb / nn);
        n = nn;
    }
    LfF32(p.stats).v[g * 2u] = mean;
    LfF32(p.stats).v[g * 2u + 1u] = inversesqrt(max(m2 / n, 0.0) + p.eps);
}
