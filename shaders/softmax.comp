#version 450
// softmax over the last dimension: one invocation per row, an online
// max/sum pass (rescaling the sum when the max grows) and a write pass.
// The passes step 8 columns per iteration (an unrolled inner loop):
// llvmpipe ends a shader's loops after 65535 iterations in all, so rows of
// up to 8 * 32767 columns work there (ops_misc.c checks).
layout(local_size_x = 64) in;
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

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
    for (uint j0 = 0u; j0 < p.cols; j0 += 8u) {
        [[unroll]] for (uint u = 0u; u < 8u; u++) {
            uint j = j0 + u;
            if (j < p.cols) {
                float v = lf_load(p.x, p.x_dtype, base + j);
                if (v > m) {
                    s = s * exp(m - v) + 1.0;
                    m = v;
                } else {
                    s += exp(v - m);
                }
            }
        }
    }
    float inv = 1.0 / s;
    for (uint j0 = 0u; j0 < p.cols; j0 += 8u) {
        [[unroll]] for (uint u = 0u; u < 8u; u++) {
            uint j = j0 + u;
            if (j < p.cols)
                lf_store(p.y, p.y_dtype, base + j,
                         exp(lf_load(p.x, p.x_dtype, base + j) - m) * inv);
        }
    }
}
