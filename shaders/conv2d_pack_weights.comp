#version 450
// conv2d_pack_weights: reorders conv weights [O, C, KK] (KK = KH * KW) for
// conv2d_lavapipe.comp into [ceil(O / TO), C, 8 lanes, WSTR]: for each
// output tile and input channel, lane l's slot holds the KK weights of its
// OPL = TO / 8 output channels (o = tile * TO + l * OPL + r at r * KK + k),
// zero-padded to WSTR (a multiple of 4, so a slot is 8-byte aligned in f16
// and f32).  Channels past O are zero.  Same dtype in and out.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t w;
    uint64_t packed;
    uint count; // packed elements
    uint dtype;
    uint C;
    uint O;
    uint KK;
    uint TO;
    uint WSTR;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint j = i % p.WSTR;
    uint r = i / p.WSTR;
    uint lane = r % 8u;
    r /= 8u;
    uint c = r % p.C;
    uint tile = r / p.C;
    uint opl = p.TO / 8u;
    float v = 0.0;
    if (j < opl * p.KK) {
        uint o = tile * p.TO + lane * opl + j / p.KK;
        if (o < p.O) v = lf_load(p.w, p.dtype, (o * p.C + c) * p.KK + j % p.KK);
    }
    lf_store(p.packed, p.dtype, i, v);
}
