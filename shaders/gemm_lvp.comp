#version 450
// gemm_lvp: GEMM tuned for lavapipe (llvmpipe), after PERF-NOTES.md.
//
// A workgroup is one 8-lane subgroup computing a TM x (32*TNV) tile of C.
// Lane l owns the columns n0 + 4*l + 32*j (j < TNV, a vec4 each) of every
// row of the tile and keeps TM x TNV vec4 accumulators (register blocking).
// Per step of 4 along K each lane reads its vec4s of B; the A values every
// lane needs are shared in one of two ways:
//  - texel variant (BIND_TEXEL, UNIFORM_A): every lane fetches the same A
//    texels - on llvmpipe a texel fetch is a gather, cheap even when all
//    lanes ask for the same texel;
//  - address and storage-buffer variants: each lane loads TM/8 vec4s of A
//    and subgroupBroadcast from a constant lane passes them round (on
//    llvmpipe 22.3 each broadcast is a short loop over the lanes, still far
//    cheaper than every lane loading through an address).
// No shared memory and no barriers: on llvmpipe both cost far more than
// they save.  (llvmpipe 22.3 splits fma() into a multiply and an add; the
// accumulators spill partly, which bounds this kernel near 20 GFLOP per
// CPU-second.)
//
// Shape requirements (the host falls back to the portable shader
// otherwise): K % 4 == 0, N % 4 == 0, and M % 4 == 0 when TRANS_A, so that
// every vec4 is aligned.  Any M and any N tile edge are handled by clamping
// the loaded rows/columns into range and masking the stores.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 8) in;
#include "common.glsl"
#include "gemm_common.glsl"

#ifndef TM
#define TM 16
#endif
#ifndef TNV
#define TNV 2
#endif
#define AV (TM / 8) // vec4s of A each lane loads per K step

// Loads of 4 consecutive elements from element i (i % 4 == 0).  Three ways
// to reach A, B and bias: buffer addresses (the default), uniform texel
// buffers (BIND_TEXEL: RGBA32F or RGBA16F texels, so f16 needs no branch)
// or storage buffers (BIND_SSBO), bound at set 0, bindings 0, 1, 2.
// llvmpipe turns a load through an address into one loop over the 8 lanes
// per component, and a storage-buffer load into one loop per vector, while
// a texel fetch becomes a gather: hence the descriptor variants.
#if defined(BIND_TEXEL)
layout(set = 0, binding = 0) uniform samplerBuffer tex_a;
layout(set = 0, binding = 1) uniform samplerBuffer tex_b;
layout(set = 0, binding = 2) uniform samplerBuffer tex_bias;
#define LOAD_A4(i)    texelFetch(tex_a, int((i) >> 2))
#define LOAD_B4(i)    texelFetch(tex_b, int((i) >> 2))
#define LOAD_BIAS4(i) texelFetch(tex_bias, int((i) >> 2))
#define UNIFORM_A
#elif defined(BIND_SSBO)
layout(set = 0, binding = 0, std430) readonly buffer SA32 { vec4 v[]; } sa32;
layout(set = 0, binding = 0, std430) readonly buffer SA16 { f16vec4 v[]; } sa16;
layout(set = 0, binding = 1, std430) readonly buffer SB32 { vec4 v[]; } sb32;
layout(set = 0, binding = 1, std430) readonly buffer SB16 { f16vec4 v[]; } sb16;
layout(set = 0, binding = 2, std430) readonly buffer SC32 { vec4 v[]; } sc32;
layout(set = 0, binding = 2, std430) readonly buffer SC16 { f16vec4 v[]; } sc16;
#define LOAD_A4(i)    (A_DT == LF_F16 ? vec4(sa16.v[(i) >> 2]) : sa32.v[(i) >> 2])
#define LOAD_B4(i)    (B_DT == LF_F16 ? vec4(sb16.v[(i) >> 2]) : sb32.v[(i) >> 2])
// An if, not ?:, so that only the view of the bias's own dtype is read.
vec4 load_bias4(uint i)
{
    if ((p.flags & GEMM_BIAS_F16) != 0u)
        return vec4(sc16.v[i >> 2]);
    return sc32.v[i >> 2];
}
#define LOAD_BIAS4(i) load_bias4(i)
#else
vec4 load4(uint64_t base, uint dt, uint i)
{
    if (dt == LF_F16)
        return vec4(LfF16Vec4(base).v[i >> 2]);
    return LfVec4(base).v[i >> 2];
}
#define LOAD_A4(i)    load4(p.a, A_DT, i)
#define LOAD_B4(i)    load4(p.b, B_DT, i)
#define LOAD_BIAS4(i) load4(p.bias, (p.flags & GEMM_BIAS_F16) != 0u ? LF_F16 : LF_F32, i)
#endif

void main()
{
    uint lane = gl_SubgroupInvocationID;
    uint z = gl_WorkGroupID.z;
    uint m0 = p.m_offset + gl_WorkGroupID.y * TM;
    uint n0 = gl_WorkGroupID.x * (32u * TNV) + 4u * lane;
    uint abase = z * p.a_bstride, bbase = z * p.b_bstride;

    // Columns this lane loads, clamped so that edge tiles read valid memory.
    uint ncol[TNV];
    [[unroll]] for (int j = 0; j < TNV; j++)
        ncol[j] = min(n0 + 32u * j, p.N - 4u);

    vec4 acc[TM][TNV];
    [[unroll]] for (int r = 0; r < TM; r++)
        [[unroll]] for (int j = 0; j < TNV; j++)
            acc[r][j] = vec4(0.0);

#ifdef UNIFORM_A
    // Every lane fetches the same A texels.  A texel fetch at a uniform
    // coordinate is a plain gather on llvmpipe, while subgroupBroadcast is
    // a loop over the lanes: for texel reads this is the cheaper way to
    // share A.  Not transposed: row r's 4 k per fetch; transposed ([K, M]):
    // 4 rows at one k per fetch.
    uint arow[TM];
    [[unroll]] for (int r = 0; r < TM; r++) {
        if (TRANS_A != 0u)
            arow[r] = abase + min(m0 + 4u * (r / 4), p.M - 4u);
        else
            arow[r] = abase + min(m0 + r, p.M - 1u) * p.K;
    }
#else
    // The A elements each lane loads per K step, shared by subgroupBroadcast
    // from a constant lane.  Not transposed: rows lane + 8*i, 4 consecutive
    // k.  Transposed ([K, M]): item q = lane + 8*i is k = q / (TM/4), rows
    // 4 * (q % (TM/4)) .. +3.
    uint aidx[AV];
    [[unroll]] for (int i = 0; i < AV; i++) {
        uint q = lane + 8u * i;
        if (TRANS_A != 0u) {
            uint m = min(m0 + 4u * (q % (TM / 4)), p.M - 4u);
            aidx[i] = abase + (q / (TM / 4)) * p.M + m;
        } else {
            uint m = min(m0 + q, p.M - 1u);
            aidx[i] = abase + m * p.K;
        }
    }
    uint astep = TRANS_A != 0u ? 4u * p.M : 4u;
#endif

    for (uint k0 = 0u; k0 < p.K; k0 += 4u) {
        // bv[kk][j]: B[k0 + kk][ncol[j] .. +3].
        vec4 bv[4][TNV];
        [[unroll]] for (int j = 0; j < TNV; j++) {
            if (TRANS_B != 0u) {
                vec4 t[4];
                [[unroll]] for (int c = 0; c < 4; c++)
                    t[c] = LOAD_B4(bbase + (ncol[j] + c) * p.K + k0);
                [[unroll]] for (int kk = 0; kk < 4; kk++)
                    bv[kk][j] = vec4(t[0][kk], t[1][kk], t[2][kk], t[3][kk]);
            } else {
                [[unroll]] for (int kk = 0; kk < 4; kk++)
                    bv[kk][j] = LOAD_B4(bbase + (k0 + kk) * p.N + ncol[j]);
            }
        }

#ifdef UNIFORM_A
        if (TRANS_A != 0u) {
            [[unroll]] for (int g = 0; g < TM / 4; g++) {
                [[unroll]] for (int kk = 0; kk < 4; kk++) {
                    vec4 a4 = LOAD_A4(arow[4 * g] + (k0 + kk) * p.M);
                    [[unroll]] for (int i = 0; i < 4; i++)
                        [[unroll]] for (int j = 0; j < TNV; j++)
                            acc[4 * g + i][j] = fma(vec4(a4[i]), bv[kk][j], acc[4 * g + i][j]);
                }
            }
        } else {
            [[unroll]] for (int r = 0; r < TM; r++) {
                vec4 a4 = LOAD_A4(arow[r] + k0);
                [[unroll]] for (int kk = 0; kk < 4; kk++)
                    [[unroll]] for (int j = 0; j < TNV; j++)
                        acc[r][j] = fma(vec4(a4[kk]), bv[kk][j], acc[r][j]);
            }
        }
#else
        vec4 av[AV];
        [[unroll]] for (int i = 0; i < AV; i++)
            av[i] = LOAD_A4(aidx[i]);
        [[unroll]] for (int i = 0; i < AV; i++)
            aidx[i] += astep;
        [[unroll]] for (int r = 0; r < TM; r++) {
            [[unroll]] for (int kk = 0; kk < 4; kk++) {
                float a;
                if (TRANS_A != 0u) {
                    const int q = kk * (TM / 4) + r / 4;
                    a = subgroupBroadcast(av[q / 8][r % 4], q % 8);
                } else {
                    a = subgroupBroadcast(av[r / 8][kk], r % 8);
                }
                [[unroll]] for (int j = 0; j < TNV; j++)
                    acc[r][j] = fma(vec4(a), bv[kk][j], acc[r][j]);
            }
        }
#endif
    }

    [[unroll]] for (int j = 0; j < TNV; j++) {
        uint n = n0 + 32u * j;
        if (n >= p.N) continue;
        vec4 bias = vec4(0.0);
        if ((p.flags & GEMM_HAS_BIAS) != 0u)
            bias = LOAD_BIAS4(n);
        [[unroll]] for (int r = 0; r < TM; r++) {
            uint m = m0 + r;
            if (m >= p.M) continue;
            uint ci = z * p.c_bstride + m * p.N + n;
            vec4 v = acc[r][j] + bias;
            if ((p.flags & GEMM_C_F16) != 0u)
                LfF16Vec4(p.c).v[ci >> 2] = f16vec4(clamp(v, -65504.0, 65504.0));
            else
                LfVec4(p.c).v[ci >> 2] = v;
        }
    }
}
