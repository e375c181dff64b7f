#version 450
// conv2d_lavapipe: NCHW convolution tuned for lavapipe (llvmpipe), after
// PERF-NOTES.md: a workgroup is one 8-lane subgroup, no shared memory and no
// barriers; registers block an implicit GEMM tile of TO output channels x
// 8 * PL output positions.
//
// Lane l owns PL consecutive output positions of one output row (so Wo must
// be a multiple of PL) and keeps TO x PL accumulators.  Per input channel
// each lane loads the KSIZE x KSIZE weights of TO / 8 output channels; the
// other lanes get them through subgroupBroadcast with a constant lane, so
// each weight is loaded once per workgroup.  Per kernel row a lane loads
// the (PL - 1) * STRIDE + KSIZE input values its positions need once and
// reuses them for every kx.  Out-of-range reads go to a clamped address
// and are replaced by zero (no divergent loads).
//
// Built once per (KSIZE, STRIDE) by shaders/meson.build; dtypes are
// specialization constants so the loads are straight-line code.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 8) in;
#include "common.glsl"

#ifndef KSIZE
#define KSIZE 3
#endif
#ifndef STRIDE
#define STRIDE 1
#endif
#ifndef TO
#define TO 16
#endif
#ifndef PL
#define PL 8
#endif
#define KK   (KSIZE * KSIZE)
#define WIN  ((PL - 1) * STRIDE + KSIZE)
#define OPL  (TO / 8)
#define PV   (PL / 4)

layout(constant_id = 0) const uint X_DT = 0u; // also the output's dtype
layout(constant_id = 1) const uint W_DT = 0u;
layout(constant_id = 2) const uint B_DT = 0u;

layout(push_constant) uniform Params {
    uint64_t x;    // [B, C, H, W]
    uint64_t w;    // [O, C, KSIZE, KSIZE]
    uint64_t bias; // [O] or 0
    uint64_t y;    // [B, O, Ho, Wo]
    uint C;
    uint H;
    uint W;
    uint O;
    uint Ho;
    uint Wo;
    int pad_top;
    int pad_left;
} p;

float load_x(uint i)
{
    return X_DT == LF_F16 ? float(LfF16(p.x).v[i]) : LfF32(p.x).v[i];
}

float load_w(uint i)
{
    return W_DT == LF_F16 ? float(LfF16(p.w).v[i]) : LfF32(p.w).v[i];
}

void main()
{
    uint lane = gl_SubgroupInvocationID;
    uint P = p.Ho * p.Wo;
    uint p0 = gl_WorkGroupID.x * (8u * PL) + lane * PL;
    uint o0 = gl_WorkGroupID.y * TO;
    uint b = gl_WorkGroupID.z;
    bool pvalid = p0 < P;
    uint pc = min(p0, P - 1u);
    uint oy = pc / p.Wo;
    int iy0 = int(oy * STRIDE) - p.pad_top;
    int ix0 = int((pc - oy * p.Wo) * STRIDE) - p.pad_left;

    vec4 acc[TO][PV];
    [[unroll]] for (uint o = 0u; o < TO; o++) {
        uint oc = min(o0 + o, p.O - 1u);
        float bv = 0.0;
        if (p.bias != 0ul)
            bv = B_DT == LF_F16 ? float(LfF16(p.bias).v[oc]) : LfF32(p.bias).v[oc];
        [[unroll]] for (uint q = 0u; q < PV; q++) acc[o][q] = vec4(bv);
    }

    uint wbase[OPL];
    [[unroll]] for (uint r = 0u; r < OPL; r++)
        wbase[r] = min(o0 + lane * OPL + r, p.O - 1u) * p.C * KK;

    for (uint c = 0u; c < p.C; c++) {
        float wr[OPL][KK];
        [[unroll]] for (uint r = 0u; r < OPL; r++)
            [[unroll]] for (uint k = 0u; k < KK; k++) wr[r][k] = load_w(wbase[r] + c * KK + k);
        uint plane = (b * p.C + c) * p.H;
        [[unroll]] for (uint ky = 0u; ky < KSIZE; ky++) {
            int iy = iy0 + int(ky);
            bool rowok = pvalid && iy >= 0 && iy < int(p.H);
            uint row = (plane + uint(clamp(iy, 0, int(p.H) - 1))) * p.W;
            float win[WIN];
            [[unroll]] for (uint j = 0u; j < WIN; j++) {
                int ix = ix0 + int(j);
                float v = load_x(row + uint(clamp(ix, 0, int(p.W) - 1)));
                win[j] = (rowok && ix >= 0 && ix < int(p.W)) ? v : 0.0;
            }
            [[unroll]] for (uint kx = 0u; kx < KSIZE; kx++) {
                vec4 xv[PV];
                [[unroll]] for (uint q = 0u; q < PV; q++)
                    xv[q] = vec4(win[(4u * q) * STRIDE + kx], win[(4u * q + 1u) * STRIDE + kx],
                                 win[(4u * q + 2u) * STRIDE + kx], win[(4u * q + 3u) * STRIDE + kx]);
                [[unroll]] for (uint o = 0u; o < TO; o++) {
                    float wv = subgroupBroadcast(wr[o % OPL][ky * KSIZE + kx], o / OPL);
                    [[unroll]] for (uint q = 0u; q < PV; q++)
                        acc[o][q] = fma(vec4(wv), xv[q], acc[o][q]);
                }
            }
        }
    }

    if (!pvalid) return;
    [[unroll]] for (uint o = 0u; o < TO; o++) {
        if (o0 + o >= p.O) break;
        uint base = (b * p.O + o0 + o) * P + p0;
        [[unroll]] for (uint j = 0u; j < PL; j++) {
            float v = acc[o][j / 4u][j % 4u];
            if (X_DT == LF_F16)
                LfF16(p.y).v[base + j] = float16_t(clamp(v, -65504.0, 65504.0));
            else
                LfF32(p.y).v[base + j] = v;
        }
    }
}
