#version 450
// gemm (portable): one output element per invocation, 8x8 invocations per
// workgroup, straight loads.  Correct on every device and for every shape;
// the tuned variants (gemm_lvp, gemm_tiled) are checked against it.
layout(local_size_x = 8, local_size_y = 8) in;
#include "common.glsl"
#define GEMM_RUNTIME_FLAGS
#include "gemm_common.glsl"

void main()
{
    uint n = gl_GlobalInvocationID.x;
    uint m = p.m_offset + gl_GlobalInvocationID.y;
    uint z = gl_WorkGroupID.z;
    if (m >= p.M || n >= p.N) return;
    uint abase = z * p.a_bstride, bbase = z * p.b_bstride;
    float acc = 0.0;
    for (uint k = 0u; k < p.K; k++)
        acc += gemm_load_a(abase, m, k) * gemm_load_b(bbase, k, n);
    lf_store(p.c, gemm_c_dtype(), z * p.c_bstride + m * p.N + n, acc + gemm_bias(n));
}
