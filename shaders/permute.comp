#version 450
// permute: out[i] = x[j] where the output index i is split into 4 coordinates
// (right-aligned, unused leading dims of size 1) and j = sum coord[d] *
// stride[d], stride[d] being the input's element stride of the dimension
// that becomes output dimension d.
layout(local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Params {
    uint64_t x;
    uint64_t y;
    uint count;
    uint x_dtype;
    uint y_dtype;
    uint pad;
    uvec4 shape;  // output shape
    uvec4 stride; // input strides in output order
} p;

void main()
{
    uint i = lf_global_index();
    if (i >= p.count) return;
    uint rest = i;
    uint j = 0u;
    for (int d = 3; d >= 0; d--) {
        uint c = rest % p.shape[d];
        rest /= p.shape[d];
        j += c * p.stride[d];
    }
    lf_store(p.y, p.y_dtype, i, lf_load(p.x, p.x_dtype, j));
}
