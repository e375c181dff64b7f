#version 450
// attention, lavapipe variant: softmax(q k^T * scale) v per head, flash
// style.  A workgroup is one 8-lane subgroup and owns R query rows of one
// (batch, head); its 8 lanes split the keys (lane l takes keys l, l+8, ...)
// and each runs its own online softmax over its keys, in blocks of KB keys
// per lane (one rescale of the accumulators per block).  At the end the
// lanes' (max, sum, accumulator) triples are merged with subgroup
// reductions.  So no lane ever waits for another inside the key loop, every
// key/value load is a vec4, and each loaded value feeds R FMAs: the
// structure that llvmpipe runs fastest (PERF-NOTES.md: no shared
// memory, no barriers, few wide loads, many FMAs per load).
//
// Specialization constants: D (head dim), R (query rows per workgroup),
// KB (keys per lane per block), dtypes of q, k, v and the output.
// Push constants: as attention.comp (the dtype fields go unused).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 8) in;
#include "common.glsl"

layout(constant_id = 0) const uint D = 40;
layout(constant_id = 1) const uint R = 4;
layout(constant_id = 2) const uint KB = 2;
layout(constant_id = 3) const uint QT = 0;
layout(constant_id = 4) const uint KT = 0;
layout(constant_id = 5) const uint VT = 0;
layout(constant_id = 6) const uint OT = 0;
// vec4 loads need rows of whole vec4s (every row start is then aligned).
layout(constant_id = 7) const uint VEC = 1;
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
    uint q_dtype;     // the dtypes are the specialization constants here
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
    for (uint e = 0u; e < 4u; e++)
        if (c * 4u + e < D) r[e] = lf_load(addr, dtype, base + c * 4u + e);
    return r;
}

const float NEG_INF = -1.0 / 0.0;

void main()
{
    uint lane = gl_SubgroupInvocationID;
    uint row0 = gl_WorkGroupID.x * R, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    uint C = p.heads * D;
    uint kv0 = b * p.lk * C + h * D; // element index of key 0 of this head

    vec4 qv[R][D4];
    vec4 acc[R][D4];
    float m[R], l[R];
    uint limit[R]; // keys j < limit[r] are visible to row r
    for (uint r = 0u; r < R; r++) {
        uint row = min(row0 + r, p.lq - 1u); // rows past lq repeat the last one
        uint qbase = (b * p.lq + row) * C + h * D;
        for (uint c = 0u; c < D4; c++) {
            qv[r][c] = load4(p.q, QT, qbase, c) * p.scale_log2;
            acc[r][c] = vec4(0.0);
        }
        m[r] = NEG_INF;
        l[r] = 0.0;
        limit[r] = p.causal != 0u ? min(p.lk, row + 1u) : p.lk;
    }
    uint kend = 0u;
    for (uint r = 0u; r < R; r++) kend = max(kend, limit[r]);

    for (uint j0 = 0u; j0 < kend; j0 += 8u * KB) {
        float s[R][KB];
        for (uint kk = 0u; kk < KB; kk++) {
            uint j = j0 + kk * 8u + lane;
            uint kbase = kv0 + min(j, p.lk - 1u) * C;
            for (uint r = 0u; r < R; r++) s[r][kk] = 0.0;
            for (uint c = 0u; c < D4; c++) {
                vec4 kc = load4(p.k, KT, kbase, c);
                for (uint r = 0u; r < R; r++) s[r][kk] += dot(qv[r][c], kc);
            }
            for (uint r = 0u; r < R; r++)
                if (j >= limit[r]) s[r][kk] = NEG_INF;
        }
        float pr[R][KB];
        for (uint r = 0u; r < R; r++) {
            float mx = m[r];
            for (uint kk = 0u; kk < KB; kk++) mx = max(mx, s[r][kk]);
            // A lane that has seen no visible key keeps -inf: subtract 0
            // then, so exp2 gives 0 instead of NaN.
            float base = mx == NEG_INF ? 0.0 : mx;
            float corr = exp2(m[r] - base);
            float sum = 0.0;
            for (uint kk = 0u; kk < KB; kk++) {
                pr[r][kk] = exp2(s[r][kk] - base);
                sum += pr[r][kk];
            }
            l[r] = l[r] * corr + sum;
            m[r] = mx;
            for (uint c = 0u; c < D4; c++) acc[r][c] *= corr;
        }
        for (uint kk = 0u; kk < KB; kk++) {
            uint j = j0 + kk * 8u + lane;
            uint vbase = kv0 + min(j, p.lk - 1u) * C;
            for (uint c = 0u; c < D4; c++) {
                vec4 vc = load4(p.v, VT, vbase, c);
                for (uint r = 0u; r < R; r++) acc[r][c] += pr[r][kk] * vc;
            }
        }
    }

    // Merge the lanes: rescale each to the common max, then sum.
    for (uint r = 0u; r < R; r++) {
        float mall = subgroupMax(m[r]);
        float w = exp2(m[r] - mall);
        float lall = subgroupAdd(l[r] * w);
        float inv = 1.0 / lall;
        uint row = row0 + r;
        uint obase = (b * p.lq + row) * C + h * D;
        for (uint c = 0u; c < D4; c++) {
            vec4 a = subgroupAdd(acc[r][c] * w) * inv;
            // Lane c % 8 writes chunk c, so the stores spread over lanes.
            if (row < p.lq && lane == c % 8u) {
                for (uint e = 0u; e < 4u; e++)
                    if (c * 4u + e < D) lf_store(p.o, OT, obase + c * 4u + e, a[e]);
            }
        }
    }
}
