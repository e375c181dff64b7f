#version 450
// attention, lavapipe variant: softmax(q k^T * scale) v per head, flash
// style.  A workgroup is one 8-lane subgroup and owns 8*R query rows of one
// (batch, head): lane l holds rows row0 + r*8 + l (r < R) with their running
// max, sum and f32 accumulators.  The keys go by in blocks of 8: lane c
// loads key j0 + c and its value, and then, key by key, every lane takes
// that key's elements from lane c with subgroupBroadcast (a uniform lane:
// llvmpipe extracts one element and splats it).  So each loaded element
// feeds 8 * R FMAs.  That is the structure llvmpipe runs fastest
// (PERF-NOTES.md): a global load there is a loop over the lanes, one scalar
// per lane, while a broadcast is one shuffle; no shared memory, no barriers.
// The max of online softmax costs: llvmpipe runs an `if` under a lane mask,
// not as a branch, so a per-key rescale runs on every key (a fifth of the
// time).  So blocks whose scores provably cannot pass the running max by
// much (|q| |k| bound) skip max tracking entirely, and only the other
// blocks (the first; later ones where keys grow) rescale, lazily: measured
// 20 % of OpenBLAS instead of 13 % at SD's 4096 x 4096 x 8 x 40.
//
// Specialization constants: D (head dim), R (rows per lane), dtypes of q,
// k, v and the output, VEC (rows are whole vec4s: vector loads), FAST.
// Push constants: as attention.comp (the dtype fields go unused).
// All loops but the key loops (blocks and the keys of a block: at most
// about 1.5 Lk iterations in all, when every block is careful) are unrolled: see attention.comp on llvmpipe's limit
// of 65535 loop iterations per invocation.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 8) in;
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint D = 40;
layout(constant_id = 1) const uint R = 4;
layout(constant_id = 2) const uint QT = 0;
layout(constant_id = 3) const uint KT = 0;
layout(constant_id = 4) const uint VT = 0;
layout(constant_id = 5) const uint OT = 0;
layout(constant_id = 6) const uint VEC = 1;
// 0: every block the careful way (half the code: LLVM compiles wide heads
// for seconds per copy, and R = 1 there gains less from the fast blocks).
layout(constant_id = 7) const uint FAST = 1;
const uint D4 = (D + 3u) / 4u;

layout(push_constant) uniform Params {
    uint64_t q;
    uint64_t k;
    uint64_t v;
    uint64_t o;
    uint lq;
    uint lk;
    uint heads;
    uint causal;
    float scale_log2; // scale * log2(e): scores are taken in base 2
    uint q_dtype;     // the dtypes are specialization constants here
    uint k_dtype;
    uint v_dtype;
    uint o_dtype;
} p;

// Elements c*4 .. c*4+3 of the row starting at element `base`; zero past D.
vec4 load4(uint64_t addr, uint dtype, uint base, uint c)
{
    if (VEC != 0u) {
        if (dtype == LF_F16) return vec4(LfF16Vec4(addr).v[(base >> 2) + c]);
        return LfVec4(addr).v[(base >> 2) + c];
    }
    vec4 r = vec4(0.0);
    [[unroll]] for (uint e = 0u; e < 4u; e++)
        if (c * 4u + e < D) r[e] = lf_load(addr, dtype, base + c * 4u + e);
    return r;
}

const float NEG_INF = -1.0 / 0.0;
const float RESCALE_AT = 8.0;
const float FAST_MARGIN = 60.0;

void main()
{
    uint lane = gl_SubgroupInvocationID;
    uint row0 = gl_WorkGroupID.x * 8u * R, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    uint C = p.heads * D;
    uint kv0 = b * p.lk * C + h * D; // element index of key 0 of this head

    vec4 qv[R][D4];
    vec4 acc[R][D4];
    float m[R], l[R];
    float qn[R];   // |q row| (scaled): bounds its scores with |k|
    uint limit[R]; // keys j < limit[r] are visible to row r
    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint row = min(row0 + r * 8u + lane, p.lq - 1u); // rows past lq repeat the last
        uint qbase = (b * p.lq + row) * C + h * D;
        [[unroll]] for (uint c = 0u; c < D4; c++) {
            qv[r][c] = load4(p.q, QT, qbase, c) * p.scale_log2;
            acc[r][c] = vec4(0.0);
        }
        float n2 = 0.0;
        [[unroll]] for (uint c = 0u; c < D4; c++) n2 += dot(qv[r][c], qv[r][c]);
        qn[r] = sqrt(n2);
        m[r] = NEG_INF;
        l[r] = 0.0;
        limit[r] = p.causal != 0u ? min(p.lk, row + 1u) : p.lk;
    }
    // The last key any row of the workgroup sees (uniform, so the loop is).
    uint last_row = min(row0 + 8u * R - 1u, p.lq - 1u);
    uint kend = p.causal != 0u ? min(p.lk, last_row + 1u) : p.lk;

    // Blocks of 8 keys.  |score| <= |q| |k| (Cauchy-Schwarz): while no
    // score of a block can pass the running max by more than FAST_MARGIN,
    // the block needs no max tracking (weights stay below 2^FAST_MARGIN),
    // and the inner loop runs such blocks back to back.  A block that might
    // goes the careful way (the first one always: the max starts at -inf).
    // The conditions are uniform, so each loop ends for all lanes at once.
    uint j0 = 0u;
    while (j0 < kend) {
        for (; FAST != 0u && j0 < kend; j0 += 8u) {
            uint kbase = kv0 + min(j0 + lane, p.lk - 1u) * C;
            vec4 kr[D4], vr[D4];
            float kn2 = 0.0;
            [[unroll]] for (uint c = 0u; c < D4; c++) {
                kr[c] = load4(p.k, KT, kbase, c);
                kn2 += dot(kr[c], kr[c]);
            }
            float kmax = sqrt(subgroupMax(kn2));
            bool fast = true;
            [[unroll]] for (uint r = 0u; r < R; r++)
                fast = fast && qn[r] * kmax <= m[r] + FAST_MARGIN;
            if (!subgroupAll(fast)) break;
            [[unroll]] for (uint c = 0u; c < D4; c++) vr[c] = load4(p.v, VT, kbase, c);
            uint tend = min(8u, kend - j0);
            [[dont_unroll]] for (uint t = 0u; t < tend; t++) {
                uint j = j0 + t;
                float s[R];
                [[unroll]] for (uint r = 0u; r < R; r++) s[r] = 0.0;
                [[unroll]] for (uint c = 0u; c < D4; c++) {
                    vec4 kc = subgroupBroadcast(kr[c], t);
                    [[unroll]] for (uint r = 0u; r < R; r++) s[r] += dot(qv[r][c], kc);
                }
                float pr[R];
                [[unroll]] for (uint r = 0u; r < R; r++)
                    pr[r] = j < limit[r] ? exp2(s[r] - m[r]) : 0.0;
                [[unroll]] for (uint r = 0u; r < R; r++) l[r] += pr[r];
                [[unroll]] for (uint c = 0u; c < D4; c++) {
                    vec4 vc = subgroupBroadcast(vr[c], t);
                    [[unroll]] for (uint r = 0u; r < R; r++) acc[r][c] += pr[r] * vc;
                }
            }
        }
        if (j0 < kend) {
            uint kbase = kv0 + min(j0 + lane, p.lk - 1u) * C;
            vec4 kr[D4], vr[D4];
            [[unroll]] for (uint c = 0u; c < D4; c++) {
                kr[c] = load4(p.k, KT, kbase, c);
                vr[c] = load4(p.v, VT, kbase, c);
            }
            uint tend = min(8u, kend - j0);
            [[dont_unroll]] for (uint t = 0u; t < tend; t++) {
                uint j = j0 + t;
                float s[R];
                [[unroll]] for (uint r = 0u; r < R; r++) s[r] = 0.0;
                [[unroll]] for (uint c = 0u; c < D4; c++) {
                    vec4 kc = subgroupBroadcast(kr[c], t);
                    [[unroll]] for (uint r = 0u; r < R; r++) s[r] += dot(qv[r][c], kc);
                }
                bool grow = false;
                [[unroll]] for (uint r = 0u; r < R; r++) {
                    if (j >= limit[r]) s[r] = NEG_INF;
                    grow = grow || s[r] > m[r] + RESCALE_AT;
                }
                // The running max may lag the true one by up to RESCALE_AT
                // (weights up to 2^RESCALE_AT): the accumulators are
                // rescaled only when a score jumps past it.
                if (subgroupAny(grow)) {
                    [[unroll]] for (uint r = 0u; r < R; r++) {
                        float mn = max(m[r], s[r]);
                        float corr = exp2(m[r] - mn); // 0 when m was -inf
                        l[r] *= corr;
                        [[unroll]] for (uint c = 0u; c < D4; c++) acc[r][c] *= corr;
                        m[r] = mn;
                    }
                }
                float pr[R];
                [[unroll]] for (uint r = 0u; r < R; r++)
                    pr[r] = s[r] == NEG_INF ? 0.0 : exp2(s[r] - m[r]);
                [[unroll]] for (uint r = 0u; r < R; r++) l[r] += pr[r];
                [[unroll]] for (uint c = 0u; c < D4; c++) {
                    vec4 vc = subgroupBroadcast(vr[c], t);
                    [[unroll]] for (uint r = 0u; r < R; r++) acc[r][c] += pr[r] * vc;
                }
            }
            j0 += 8u;
        }
    }

    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint row = row0 + r * 8u + lane;
        if (row >= p.lq) continue;
        float inv = 1.0 / l[r];
        uint obase = (b * p.lq + row) * C + h * D;
        [[unroll]] for (uint c = 0u; c < D4; c++)
            [[unroll]] for (uint e = 0u; e < 4u; e++)
                if (c * 4u + e < D) lf_store(p.o, OT, obase + c * 4u + e, acc[r][c][e] * inv);
    }
}
