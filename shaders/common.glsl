// common.glsl - shared declarations for every lcmflow compute shader.
//
// Tensors are reached through buffer device addresses passed in push
// constants (GL_EXT_buffer_reference), so no descriptor sets are needed and
// no tensor is limited by maxStorageBufferRange.  Element indices are 32-bit
// (a tensor holds fewer than 2^32 elements: maxBufferSize bounds it anyway).
//
// dtype codes match enum lf_dtype: 0 = f32, 1 = f16.
// Dispatch convention: a 1-D grid of N invocations is laid out as
// (groups_x, groups_y) with groups_x = 65535 whenever groups_y > 1;
// lf_global_index() undoes it.
// Declare the local size (layout(local_size_x = ...) in;) BEFORE including
// this file: glslang gives gl_WorkGroupSize = (1,1,1) to functions compiled
// ahead of the declaration.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#extension GL_EXT_shader_16bit_storage : require

#define LF_F32 0u
#define LF_F16 1u

layout(buffer_reference, std430, buffer_reference_align = 4) buffer LfF32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer LfF16 { float16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer LfI32 { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer LfVec4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer LfF16Vec4 { f16vec4 v[]; };

uint lf_global_index()
{
    return gl_WorkGroupID.y * (65535u * gl_WorkGroupSize.x) + gl_GlobalInvocationID.x;
}

float lf_load(uint64_t base, uint dtype, uint i)
{
    if (dtype == LF_F16)
        return float(LfF16(base).v[i]);
    return LfF32(base).v[i];
}

void lf_store(uint64_t base, uint dtype, uint i, float x)
{
    if (dtype == LF_F16)
        LfF16(base).v[i] = float16_t(clamp(x, -65504.0, 65504.0));
    else
        LfF32(base).v[i] = x;
}

// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), since
// GLSL has no erf and GELU (unary, geglu) must be the exact one.
float lf_erf(float x)
{
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 +
              t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 +
              t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}
