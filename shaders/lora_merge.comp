#version 450
// lora_merge: in place, W[n][k] += scale * sum_r up[n][r] * down[r][k],
// summed in f32 and stored in W's dtype.  A conv weight [O, C, KH, KW] is
// the same with k over C*KH*KW (up [O, r, 1, 1], down [r, C, KH, KW]).
// One invocation per element of W; the rank is small (4..128), so the
// sum is a short loop.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t w;
    uint64_t up;
    uint64_t down;
    uint N;
    uint K;
    uint rank;
    uint w_dtype;
    uint up_dtype;
    uint down_dtype;
    float scale;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.N * p.K) return;
    uint n = i / p.K, k = i % p.K;
    float acc = 0.0;
    for (uint r = 0u; r < p.rank; r++)
        acc += lf_load(p.up, p.up_dtype, n * p.rank + r) * lf_load(p.down, p.down_dtype, r * p.K + k);
    lf_store(p.w, p.w_dtype, i, lf_load(p.w, p.w_dtype, i) + p.scale * acc);
}
