#version 450
// layer_norm over the last dimension: one invocation per row; the mean and
// the variance are taken in two passes (no E[x^2] - E[x]^2 cancellation).
// The passes step 8 columns per iteration (an unrolled inner loop):
// llvmpipe ends a shader's loops after 65535 iterations in all, so rows of
// up to 8 * 21845 columns work there (ops_layer_norm.c checks).
layout(local_size_x = 64) in;
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

// for each column j of the row, 8 per loop iteration
#define FOR_COLUMNS(j) \
    for (uint j0 = 0u; j0 < p.cols; j0 += 8u) \
        [[unroll]] for (uint u = 0u, j = j0; u < 8u; u++, j = j0 + u) \
            if (j < p.cols)

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint64_t gamma; // 0: scale 1
    uint64_t beta;  // 0: shift 0
    uint rows;
    uint cols;
    uint x_dtype;
    uint y_dtype;
    uint gamma_dtype;
    uint beta_dtype;
    float eps;
} p;

void main()
{
    uint row = lf_global_index();
    if (row >= p.rows) return;
    uint base = row * p.cols;
    // Sum x - x[0] (small numbers, whatever the mean) in 8 partial sums:
    // f32 rounding stays well below the tolerance even for long rows.
    float shift = lf_load(p.x, p.x_dtype, base);
    float part[8] = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (uint j0 = 0u; j0 < p.cols; j0 += 8u)
        [[unroll]] for (uint u = 0u; u < 8u; u++)
            if (j0 + u < p.cols) part[u] += lf_load(p.x, p.x_dtype, base + j0 + u) - shift;
    float sum = ((part[0] + part[1]) + (part[2] + part[3])) +
                ((part[4] + part[5]) + (part[6] + part[7]));
    float mean = shift + sum / float(p.cols);
    part = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (uint j0 = 0u; j0 < p.cols; j0 += 8u)
        [[unroll]] for (uint u = 0u; u < 8u; u++)
            if (j0 + u < p.cols) {
                float d = lf_load(p.x, p.x_dtype, base + j0 + u) - mean;
                part[u] += d * d;
            }
    float sq = ((part[0] + part[1]) + (part[2] + part[3])) +
               ((part[4] + part[5]) + (part[6] + part[7]));
    float rstd = inversesqrt(sq / float(p.cols) + p.eps);
    FOR_COLUMNS(j) {
        float v = (lf_load(p.x, p.x_dtype, base + j) - mean) * rstd;
        if (p.gamma != 0ul) v *= lf_load(p.gamma, p.gamma_dtype, j);
        if (p.beta != 0ul) v += lf_load(p.beta, p.beta_dtype, j);
        lf_store(p.y, p.y_dtype, base + j, v);
    }
}
