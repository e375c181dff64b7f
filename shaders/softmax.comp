#version 450
// softmax over the last dimension: one invocation per row, an online
// max/sum pass (rescaling the sum when the max grows) and a write pass.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint rows;
    uint cols;
    uint x_dtype;
    uint y_dtype;
} p;

void main()
{
    uint row = lf_global_index();
    if (row >= p.rows) return;
    uint base = row * p.cols;
    float m = -1.0 / 0.0, s = 0.0;
    for (uint j = 0u; j < p.cols; j++) {
        float v = lf_load(p.x, p.x_dtype, base + j);
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else {
            s += exp(v - m);
        }
    }
    float inv = 1.0 / s;
    for (uint j = 0u; j < p.cols; j++)
        lf_store(p.y, p.y_dtype, base + j, exp(lf_load(p.x, p.x_dtype, base + j) - m) * inv);
}
