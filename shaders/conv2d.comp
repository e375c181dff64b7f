#version 450
// conv2d (portable): NCHW direct convolution, one output element per
// invocation, f32 accumulation.  Correct on every device and for every
// kernel size, stride and padding; the tuned variants fall back to it.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;    // [B, C, H, W]
    uint64_t w;    // [O, C, KH, KW]
    uint64_t bias; // [O] or 0
    uint64_t y;    // [B, O, Ho, Wo]
    uint count;
    uint dtypes; // x | w << 4 | bias << 8 | y << 12
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

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint x_dt = p.dtypes & 15u, w_dt = (p.dtypes >> 4) & 15u;
    uint b_dt = (p.dtypes >> 8) & 15u, y_dt = (p.dtypes >> 12) & 15u;
    uint ox = i % p.Wo;
    uint r = i / p.Wo;
    uint oy = r % p.Ho;
    r /= p.Ho;
    uint o = r % p.O;
    uint b = r / p.O;
    int iy0 = int(oy * p.stride) - p.pad_top;
    int ix0 = int(ox * p.stride) - p.pad_left;
    float acc = p.bias != 0ul ? lf_load(p.bias, b_dt, o) : 0.0;
    uint ksize = p.KH * p.KW;
    for (uint c = 0u; c < p.C; c++) {
        uint xbase = (b * p.C + c) * p.H * p.W;
        uint wbase = (o * p.C + c) * ksize;
        for (uint ky = 0u; ky < p.KH; ky++) {
            int iy = iy0 + int(ky);
            if (iy < 0 || iy >= int(p.H)) continue;
            for (uint kx = 0u; kx < p.KW; kx++) {
                int ix = ix0 + int(kx);
                if (ix < 0 || ix >= int(p.W)) continue;
                acc += lf_load(p.x, x_dt, xbase + uint(iy) * p.W + uint(ix)) *
                       lf_load(p.w, w_dt, wbase + ky * p.KW + kx);
            }
        }
    }
    lf_store(p.y, y_dt, i, acc);
}
