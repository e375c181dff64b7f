#version 450
// resize_nearest: NCHW nearest-neighbour resize, source index
// floor(dst * in / out) per axis (integer arithmetic, so 2 -> 3 gives 0, 0, 1).
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint count; // output elements
    uint x_dtype;
    uint y_dtype;
    uint in_h;
    uint in_w;
    uint out_h;
    uint out_w;
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint ox = i % p.out_w;
    uint rest = i / p.out_w;
    uint oy = rest % p.out_h;
    uint plane = rest / p.out_h; // b * C + c
    // 64-bit products: out * in can exceed 2^32 for huge sizes.
    uint iy = uint((uint64_t(oy) * p.in_h) / p.out_h);
    uint ix = uint((uint64_t(ox) * p.in_w) / p.out_w);
    uint src = (plane * p.in_h + iy) * p.in_w + ix;
    lf_store(p.y, p.y_dtype, i, lf_load(p.x, p.x_dtype, src));
}
