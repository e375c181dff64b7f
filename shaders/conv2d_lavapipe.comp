#version 450
// conv2d_lavapipe: NCHW convolution tuned for lavapipe (llvmpipe), after
// PERF-NOTES.md: a workgroup is one 8-lane subgroup, no shared memory and no
// barriers; registers block an implicit GEMM tile of TO output channels x
// 8 * PL output positions.
//
// llvmpipe turns every load whose address differs between lanes (and, in
// Mesa 22.3, even a uniform one) into a loop over the 8 lanes, one scalar
// load per lane and component, so the loads, not the FMAs, bound the speed.
// Hence:
// - lane l owns PL consecutive output positions of one output row and
//   keeps TO x PL accumulators;
// - the weights come pre-packed (conv2d_pack_weights.comp) so that lane l
//   reads the KSIZE x KSIZE weights of its TO / 8 output channels for one
//   input channel as a few 64-bit loads; the other lanes get them through
//   subgroupBroadcast with a constant lane (a register shuffle);
// - per kernel row a lane reads the (PL - 1) * STRIDE + KSIZE inputs its
//   positions need once, as pairs (64-bit loads of two f32, 32-bit loads of
//   two f16; W must be even), and reuses them for every kx;
// - out-of-range reads go to a clamped address and are replaced by zero
//   (no divergent control flow around loads).
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
#define KK    (KSIZE * KSIZE)
#define WIN   ((PL - 1) * STRIDE + KSIZE)   // inputs one lane needs per row
#define NPAIR ((WIN + 2) / 2)              // pairs covering them at either parity
#define OPL   (TO / 8)                     // output channels whose weights a lane loads
#define WSTR  (((OPL * KK + 3) / 4) * 4)   // packed weights per (lane, c), see pack shader
#define PV    (PL / 4)

layout(constant_id = 0) const uint X_DT = 0u; // also the output's dtype
layout(constant_id = 1) const uint W_DT = 0u; // of the packed weights

layout(buffer_reference, std430, buffer_reference_align = 8) buffer LfU64 { uint64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer LfU32 { uint v[]; };

layout(push_constant) uniform Params {
    uint64_t x;    // [B, C, H, W]
    uint64_t w;    // packed: [ceil(O / TO), C, 8, WSTR]
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
    uint bias_dtype; // a push constant, not a specialization: read once
} p;

// Elements e and e + 1 of x (e even).
vec2 load_pair(uint e)
{
    if (X_DT == LF_F16)
        return unpackHalf2x16(LfU32(p.x).v[e >> 1]);
    uvec2 u = unpack32(LfU64(p.x).v[e >> 1]);
    return uintBitsToFloat(u);
}

void main()
{
    uint lane = gl_SubgroupInvocationID;
    // Positions run over a grid of Ho rows of Wo rounded up to PL, so that a
    // lane's PL positions share one output row; those past Wo are computed
    // (reading zeros or clamped inputs) and not stored.
    uint wo_pad = (p.Wo + PL - 1u) / PL * PL;
    uint g0 = gl_WorkGroupID.x * (8u * PL) + lane * PL;
    uint o0 = gl_WorkGroupID.y * TO;
    uint b = gl_WorkGroupID.z;
    uint oy = g0 / wo_pad;
    uint ox0 = g0 - oy * wo_pad;
    bool pvalid = oy < p.Ho;
    oy = min(oy, p.Ho - 1u);
    int iy0 = int(oy * STRIDE) - p.pad_top;
    int ix0 = int(ox0 * STRIDE) - p.pad_left;
    int e0 = ix0 - (ix0 & 1); // first pair, even
    bool odd = (ix0 & 1) != 0;

    vec4 acc[TO][PV];
    [[unroll]] for (uint o = 0u; o < TO; o++) {
        uint oc = min(o0 + o, p.O - 1u);
        float bv = 0.0;
        if (p.bias != 0ul)
            bv = lf_load(p.bias, p.bias_dtype, oc);
        [[unroll]] for (uint q = 0u; q < PV; q++) acc[o][q] = vec4(bv);
    }

    uint wlane = (gl_WorkGroupID.y * p.C * 8u + lane) * WSTR; // + c * 8 * WSTR
    for (uint c = 0u; c < p.C; c++) {
        // This lane's weights: wr[r * KK + k] of output channel o0 + lane * OPL + r.
        float wr[WSTR];
        uint wi = wlane + c * 8u * WSTR;
        if (W_DT == LF_F16) {
            [[unroll]] for (uint j = 0u; j < WSTR / 4u; j++) {
                uvec2 u = unpack32(LfU64(p.w).v[(wi >> 2) + j]);
                vec2 a = unpackHalf2x16(u.x), bb = unpackHalf2x16(u.y);
                wr[4u * j] = a.x;
                wr[4u * j + 1u] = a.y;
                wr[4u * j + 2u] = bb.x;
                wr[4u * j + 3u] = bb.y;
            }
        } else {
            [[unroll]] for (uint j = 0u; j < WSTR / 2u; j++) {
                vec2 a = uintBitsToFloat(unpack32(LfU64(p.w).v[(wi >> 1) + j]));
                wr[2u * j] = a.x;
                wr[2u * j + 1u] = a.y;
            }
        }
        // The inputs of all kernel rows: win[ky][j] = x[iy0 + ky][ix0 + j].
        uint plane = (b * p.C + c) * p.H;
        float win[KSIZE][WIN];
        [[unroll]] for (uint ky = 0u; ky < KSIZE; ky++) {
            int iy = iy0 + int(ky);
            bool rowok = pvalid && iy >= 0 && iy < int(p.H);
            uint row = (plane + uint(clamp(iy, 0, int(p.H) - 1))) * p.W;
            float all[2 * NPAIR];
            [[unroll]] for (uint m = 0u; m < NPAIR; m++) {
                int e = e0 + int(2u * m);
                vec2 v = load_pair(row + uint(clamp(e, 0, int(p.W) - 2)));
                bool ok = rowok && e >= 0 && e < int(p.W);
                all[2u * m] = ok ? v.x : 0.0;
                all[2u * m + 1u] = ok ? v.y : 0.0;
            }
            [[unroll]] for (uint j = 0u; j < WIN; j++) win[ky][j] = odd ? all[j + 1u] : all[j];
        }
        // One output channel at a time, so that its PL accumulators stay in
        // registers across the KK taps (the inputs are re-read from the
        // stack as FMA memory operands).
        [[unroll]] for (uint o = 0u; o < TO; o++) {
            [[unroll]] for (uint t = 0u; t < KK; t++) {
                const uint ky = t / KSIZE, kx = t % KSIZE;
                float wv = subgroupBroadcast(wr[(o % OPL) * KK + t], o / OPL);
                [[unroll]] for (uint q = 0u; q < PV; q++)
                    acc[o][q] = fma(vec4(wv),
                                    vec4(win[ky][(4u * q) * STRIDE + kx],
                                         win[ky][(4u * q + 1u) * STRIDE + kx],
                                         win[ky][(4u * q + 2u) * STRIDE + kx],
                                         win[ky][(4u * q + 3u) * STRIDE + kx]),
                                    acc[o][q]);
            }
        }
    }

    if (!pvalid) return;
    [[unroll]] for (uint o = 0u; o < TO; o++) {
        if (o0 + o >= p.O) break;
        uint base = ((b * p.O + o0 + o) * p.Ho + oy) * p.Wo + ox0;
        [[unroll]] for (uint j = 0u; j < PL; j++) {
            if (ox0 + j >= p.Wo) break;
            float v = acc[o][j / 4u][j % 4u];
            if (X_DT == LF_F16)
                LfF16(p.y).v[base + j] = float16_t(clamp(v, -65504.0, 65504.0));
            else
                LfF32(p.y).v[base + j] = v;
        }
    }
}
