#version 450
// gemm_tiled: the classic GPU structure.  A 16x16 workgroup computes a
// 64x64 tile of C, 4x4 outputs per invocation, staging 64x16 slices of A
// and 16x64 slices of B in shared memory (padded against bank conflicts).
// Any shape: out-of-range loads read zero, out-of-range stores are skipped.
// Slow on lavapipe (barriers become coroutine switches there) but tested
// there too.  Loops of constant trip count are unrolled: llvmpipe (Mesa 22)
// silently ends an invocation after 65535 loop iterations in all, so only
// the loop over K may remain.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"
#define GEMM_RUNTIME_FLAGS
#include "gemm_common.glsl"

#define BM 64
#define BN 64
#define BK 16

shared float As[BK][BM + 1];
shared float Bs[BK][BN + 1];

void main()
{
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint z = gl_WorkGroupID.z;
    uint m0 = p.m_offset + gl_WorkGroupID.y * BM;
    uint n0 = gl_WorkGroupID.x * BN;
    uint abase = z * p.a_bstride, bbase = z * p.b_bstride;

    float acc[4][4];
    [[unroll]] for (int i = 0; i < 4; i++)
        [[unroll]] for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        // 1024 elements of each slice, 4 per invocation.  Consecutive
        // invocations take consecutive elements along the operand's
        // contiguous dimension, so global reads coalesce.
        [[unroll]] for (uint q = 0u; q < BM * BK / 256u; q++) {
            uint e = tid + 256u * q;
            uint mm, kk;
            if (GEMM_IS_TRANS_A) {
                mm = e % BM;
                kk = e / BM;
            } else {
                kk = e % BK;
                mm = e / BK;
            }
            uint m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < p.M && k < p.K) ? gemm_load_a(abase, m, k) : 0.0;
        }
        [[unroll]] for (uint q = 0u; q < BN * BK / 256u; q++) {
            uint e = tid + 256u * q;
            uint nn, kk;
            if (GEMM_IS_TRANS_B) {
                kk = e % BK;
                nn = e / BK;
            } else {
                nn = e % BN;
                kk = e / BN;
            }
            uint n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < p.N && k < p.K) ? gemm_load_b(bbase, k, n) : 0.0;
        }
        barrier();
        [[unroll]] for (int kk = 0; kk < BK; kk++) {
            float a[4], b[4];
            [[unroll]] for (int i = 0; i < 4; i++) {
                a[i] = As[kk][ty + 16u * i];
                b[i] = Bs[kk][tx + 16u * i];
            }
            [[unroll]] for (int i = 0; i < 4; i++)
                [[unroll]] for (int j = 0; j < 4; j++)
                    acc[i][j] += a[i] * b[j];
        }
        barrier();
    }

    [[unroll]] for (int i = 0; i < 4; i++) {
        uint m = m0 + ty + 16u * i;
        if (m >= p.M) continue;
        [[unroll]] for (int j = 0; j < 4; j++) {
            uint n = n0 + tx + 16u * j;
            if (n >= p.N) continue;
            lf_store(p.c, gemm_c_dtype(), z * p.c_bstride + m * p.N + n, acc[i][j] + gemm_bias(n));
        }
    }
}
