// gemm_common.glsl - what every GEMM variant shares: the push constants and
// the specialization constants that select dtypes, transposes and bias.
//
// C[z][m][n] = sum_k A[z][m][k] * B[z][k][n] (+ bias[n]), where A is stored
// [M, K] or, when TRANS_A, [K, M]; B is stored [K, N] or, when TRANS_B,
// [N, K].  z is gl_WorkGroupID.z; a batch stride of 0 broadcasts an operand.
// Rows are gl_WorkGroupID.y tiles plus m_offset, so grids taller than 65535
// tiles are split into several dispatches by the host.
// In the lavapipe kernels the operand dtypes and transposes are
// specialization constants, so that the per-element branches of the K loop
// fold away at pipeline creation (llvmpipe would otherwise run both sides).
// The portable and tiled kernels (GEMM_RUNTIME_FLAGS) read them from the
// push constants' flags instead: one pipeline each, quick to build, and on
// GPUs a uniform branch costs nothing.  What is used once per output (C's
// dtype, the bias) always comes in the flags.

layout(constant_id = 0) const uint A_DT = 0;
layout(constant_id = 1) const uint B_DT = 0;
layout(constant_id = 2) const uint TRANS_A = 0;
layout(constant_id = 3) const uint TRANS_B = 0;

layout(push_constant) uniform Params {
    uint64_t a;
    uint64_t b;
    uint64_t bias;
    uint64_t c;
    uint M;
    uint N;
    uint K;
    uint m_offset;
    uint a_bstride; // elements between batches (0: broadcast)
    uint b_bstride;
    uint c_bstride;
    uint flags; // GEMM_HAS_BIAS, GEMM_C_F16, GEMM_BIAS_F16
} p;

#define GEMM_HAS_BIAS 1u
#define GEMM_C_F16    2u
#define GEMM_BIAS_F16 4u
#define GEMM_A_F16    8u
#define GEMM_B_F16    16u
#define GEMM_TRANS_A  32u
#define GEMM_TRANS_B  64u

#ifdef GEMM_RUNTIME_FLAGS
#define GEMM_A_DT     ((p.flags & GEMM_A_F16) != 0u ? LF_F16 : LF_F32)
#define GEMM_B_DT     ((p.flags & GEMM_B_F16) != 0u ? LF_F16 : LF_F32)
#define GEMM_IS_TRANS_A ((p.flags & GEMM_TRANS_A) != 0u)
#define GEMM_IS_TRANS_B ((p.flags & GEMM_TRANS_B) != 0u)
#else
#define GEMM_A_DT     A_DT
#define GEMM_B_DT     B_DT
#define GEMM_IS_TRANS_A (TRANS_A != 0u)
#define GEMM_IS_TRANS_B (TRANS_B != 0u)
#endif

uint gemm_c_dtype()
{
    return (p.flags & GEMM_C_F16) != 0u ? LF_F16 : LF_F32;
}

// Index of A[m][k] / B[k][n] in their storage (batch offset excluded).
uint gemm_a_index(uint m, uint k)
{
    return GEMM_IS_TRANS_A ? k * p.M + m : m * p.K + k;
}

uint gemm_b_index(uint k, uint n)
{
    return GEMM_IS_TRANS_B ? n * p.K + k : k * p.N + n;
}

float gemm_load_a(uint base, uint m, uint k)
{
    return lf_load(p.a, GEMM_A_DT, base + gemm_a_index(m, k));
}

float gemm_load_b(uint base, uint k, uint n)
{
    return lf_load(p.b, GEMM_B_DT, base + gemm_b_index(k, n));
}

float gemm_bias(uint n)
{
    if ((p.flags & GEMM_HAS_BIAS) == 0u)
        return 0.0;
    return lf_load(p.bias, (p.flags & GEMM_BIAS_F16) != 0u ? LF_F16 : LF_F32, n);
}
