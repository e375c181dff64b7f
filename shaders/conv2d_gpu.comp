#version 450
// conv2d_gpu: NCHW convolution as an implicit GEMM with shared-memory
// tiles, the usual GPU structure: a workgroup of 256 invocations computes
// 64 output channels x 64 output positions, stepping through the reduction
// dimension k = (c, ky, kx) 16 at a time; each step stages a 64 x 16 weight
// tile and the matching 16 x 64 im2col tile (gathered from x with zero
// padding) in shared memory, then every invocation accumulates a 4 x 4
// block in registers.  Any kernel size, stride and padding; f32 or f16
// storage, f32 accumulation.  (Correct on lavapipe too, where barriers are
// slow: there conv2d_lavapipe.comp is used.)
layout(local_size_x = 256) in;
#include "common.glsl"

#define TM 64 // output channels per workgroup
#define TN 64 // output positions per workgroup
#define TK 16

layout(push_constant) uniform Params {
    uint64_t x;    // [B, C, H, W]
    uint64_t w;    // [O, C, KH, KW] = [O, K] with K = C * KH * KW
    uint64_t bias; // [O] or 0
    uint64_t y;    // [B, O, Ho, Wo]
    uint count;    // unused: the block is conv2d.comp's, filled by one function
    uint dtypes;   // x | w << 4 | bias << 8 | y << 12
    uint C;
    uint H;
    uint W;
    uint O;
    uint Ho;
    uint Wo;
    uint KH;
    uint KW;
    uint stride;
    int pad_top;
    int pad_left;
} p;

shared float As[TK][TM + 1];
shared float Bs[TK][TN + 1];

void main()
{
    uint x_dt = p.dtypes & 15u, w_dt = (p.dtypes >> 4) & 15u;
    uint b_dt = (p.dtypes >> 8) & 15u, y_dt = (p.dtypes >> 12) & 15u;
    uint tid = gl_LocalInvocationID.x;
    uint n0 = gl_WorkGroupID.x * TN, m0 = gl_WorkGroupID.y * TM, b = gl_WorkGroupID.z;
    uint P = p.Ho * p.Wo;
    uint KK = p.KH * p.KW;
    uint K = p.C * KK;
    uint tm = (tid / 16u) * 4u, tn = (tid % 16u) * 4u; // this invocation's 4 x 4 block

    // The tile position this invocation gathers for Bs (fixed over k).
    uint ln = tid % TN;
    uint pos = n0 + ln;
    bool pos_ok = pos < P;
    uint oy = pos_ok ? pos / p.Wo : 0u;
    int iy0 = int(oy * p.stride) - p.pad_top;
    int ix0 = int((pos_ok ? pos - oy * p.Wo : 0u) * p.stride) - p.pad_left;
    uint xbase = b * p.C * p.H * p.W;

    float acc[4][4];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++)
            acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < K; k0 += TK) {
        // Weights: 64 x 16, four per invocation, k fastest (contiguous in w).
        for (uint r = 0u; r < 4u; r++) {
            uint e = tid + r * 256u;
            uint kk = e % TK, m = e / TK;
            uint o = m0 + m, k = k0 + kk;
            As[kk][m] = (o < p.O && k < K) ? lf_load(p.w, w_dt, o * K + k) : 0.0;
        }
        // im2col: 16 x 64, four rows of k per invocation at its position.
        for (uint r = 0u; r < 4u; r++) {
            uint kk = tid / TN + r * 4u;
            uint k = k0 + kk;
            float v = 0.0;
            if (pos_ok && k < K) {
                uint c = k / KK, t = k - c * KK;
                uint ky = t / p.KW, kx = t - ky * p.KW;
                int iy = iy0 + int(ky), ix = ix0 + int(kx);
                if (iy >= 0 && iy < int(p.H) && ix >= 0 && ix < int(p.W))
                    v = lf_load(p.x, x_dt, xbase + (c * p.H + uint(iy)) * p.W + uint(ix));
            }
            Bs[kk][ln] = v;
        }
        barrier();
        for (uint kk = 0u; kk < TK; kk++) {
            float a[4], bb[4];
            for (uint i = 0u; i < 4u; i++)
                a[i] = As[kk][tm + i];
            for (uint j = 0u; j < 4u; j++)
                bb[j] = Bs[kk][tn + j];
            for (uint i = 0u; i < 4u; i++)
                for (uint j = 0u; j < 4u; j++)
                    acc[i][j] = fma(a[i], bb[j], acc[i][j]);
        }
        barrier();
    }

    for (uint i = 0u; i < 4u; i++) {
        uint o = m0 + tm + i;
        if (o >= p.O) continue;
        float bv = p.bias != 0ul ? lf_load(p.bias, b_dt, o) : 0.0;
        for (uint j = 0u; j < 4u; j++) {
            uint n = n0 + tn + j;
            if (n < P) lf_store(p.y, y_dt, (b * p.O + o) * P + n, acc[i][j] + bv);
        }
    }
}
