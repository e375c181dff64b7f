#version 450
// attention: softmax(q k^T * scale) v per head, flash style: the scores are
// never stored; each query row keeps a running max, sum and accumulator
// (online softmax) in f32 while it walks over the keys.
//
// Portable variant: one invocation per query row, keys read straight from
// memory.  With -DTILED (the GPU variant) a workgroup of 64 rows loads TK
// keys and values at a time into shared memory and all rows use them.
//
// q [B, Lq, H*D], k and v [B, Lk, H*D], out [B, Lq, H*D].  Grid:
// (ceil(Lq / 64), H, B).  Specialization constants: D, TK (TILED only) and
// the dtypes of q, k, v and the output.
//
// Every loop whose trip count depends only on specialization constants is
// unrolled: llvmpipe (Mesa 22) ends a shader invocation's loops after 65535
// iterations counted over ALL its loops together (LP_MAX_TGSI_LOOP_ITERATIONS),
// so only the key loops (<= 65535 iterations for Lk <= 9216, D <= 160) may
// stay loops.
layout(local_size_x = 64) in;
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint D = 64;
// dtypes as specialization constants, so no load branches on them.
layout(constant_id = 2) const uint QT = 0;
layout(constant_id = 3) const uint KT = 0;
layout(constant_id = 4) const uint VT = 0;
layout(constant_id = 5) const uint OT = 0;

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
    uint q_dtype; // the dtypes are specialization constants 2..5
    uint k_dtype;
    uint v_dtype;
    uint o_dtype;
} p;

#ifdef TILED
layout(constant_id = 1) const uint TK = 16;
shared float ks[TK * D];
shared float vs[TK * D];
#endif

void main()
{
    uint row = gl_GlobalInvocationID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    uint C = p.heads * D;
    uint kv0 = b * p.lk * C + h * D; // element index of key 0 of this head
    bool in_rows = row < p.lq;
    uint qbase = (b * p.lq + min(row, p.lq - 1u)) * C + h * D;

    float qr[D], acc[D];
    [[unroll]] for (uint d = 0u; d < D; d++) {
        qr[d] = lf_load(p.q, QT, qbase + d) * p.scale_log2;
        acc[d] = 0.0;
    }
    float m = -1.0 / 0.0, l = 0.0;
    uint limit = p.causal != 0u ? min(p.lk, row + 1u) : p.lk;

#ifdef TILED
    // Every row of the workgroup walks the tiles the last row needs, so the
    // barriers stay in uniform control flow.
    uint last = min(gl_WorkGroupID.x * 64u + 63u, p.lq - 1u);
    uint kend = p.causal != 0u ? min(p.lk, last + 1u) : p.lk;
    for (uint t0 = 0u; t0 < kend; t0 += TK) {
        barrier();
        // Not unrolled (code size); it adds Lk * D / 64 iterations in all.
        for (uint i = 0u; i < (TK * D + 63u) / 64u; i++) {
            uint e = i * 64u + gl_LocalInvocationID.x;
            if (e >= TK * D) break;
            uint jj = e / D, d = e - jj * D;
            bool in_range = t0 + jj < p.lk;
            uint src = kv0 + (t0 + jj) * C + d;
            ks[e] = in_range ? lf_load(p.k, KT, src) : 0.0;
            vs[e] = in_range ? lf_load(p.v, VT, src) : 0.0;
        }
        barrier();
        uint n = limit > t0 ? min(TK, limit - t0) : 0u;
        for (uint jj = 0u; jj < n; jj++) {
            float s = 0.0;
            [[unroll]] for (uint d = 0u; d < D; d++) s += qr[d] * ks[jj * D + d];
            float mn = max(m, s);
            float corr = exp2(m - mn), pj = exp2(s - mn);
            l = l * corr + pj;
            [[unroll]] for (uint d = 0u; d < D; d++) acc[d] = acc[d] * corr + pj * vs[jj * D + d];
            m = mn;
        }
    }
#else
    for (uint j = 0u; j < limit; j++) {
        uint kbase = kv0 + j * C;
        float s = 0.0;
        [[unroll]] for (uint d = 0u; d < D; d++) s += qr[d] * lf_load(p.k, KT, kbase + d);
        float mn = max(m, s);
        float corr = exp2(m - mn), pj = exp2(s - mn);
        l = l * corr + pj;
        [[unroll]] for (uint d = 0u; d < D; d++)
            acc[d] = acc[d] * corr + pj * lf_load(p.v, VT, kbase + d);
        m = mn;
    }
#endif
    if (!in_rows) return;
    float inv = 1.0 / l;
    uint obase = (b * p.lq + row) * C + h * D;
    [[unroll]] for (uint d = 0u; d < D; d++) lf_store(p.o, OT, obase + d, acc[d] * inv);
}
