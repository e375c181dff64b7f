// gemm_common.glsl - what every GEMM variant shares: the push constants and
// the specialization constants that select dtypes, transposes and bias.
//
// C[z][m][n] = sum_k A[z][m][k] * B[z][k][n] (+ bias[n]), where A is stored
// [M, K] or, when TRANS_A, [K, M]; B is stored [K, N] or, when TRANS_B,
// [N, K].  z is gl_WorkGroupID.z; a batch stride of 0 broadcasts an operand.
// Rows are gl_WorkGroupID.y tiles plus m_offset, so grids taller than 65535
// tiles are split into several dispatches by the host.
// Dtypes are specialization constants so that the per-element branches fold
// away at pipeline creation (llvmpipe would otherwise run both sides).

layout(constant_id = 0) const uint A_DT = 0;
layout(constant_id = 1) const uint B_DT = 0;
layout(constant_id = 2) const uint C_DT = 0;
layout(constant_id = 3) const uint BIAS_DT = 0;
layout(constant_id = 4) const uint TRANS_A = 0;
layout(constant_id = 5) const uint TRANS_B = 0;
layout(constant_id = 6) const uint HAS_BIAS = 0;

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
    uint pad;
} p;

// Index of A[m][k] / B[k][n] in their storage (batch offset excluded).
uint gemm_a_index(uint m, uint k)
{
    return TRANS_A != 0u ? k * p.M + m : m * p.K + k;
}

uint gemm_b_index(uint k, uint n)
{
    return TRANS_B != 0u ? n * p.K + k : k * p.N + n;
}

float gemm_load_a(uint base, uint m, uint k)
{
    return lf_load(p.a, A_DT, base + gemm_a_index(m, k));
}

float gemm_load_b(uint base, uint k, uint n)
{
    return lf_load(p.b, B_DT, base + gemm_b_index(k, n));
}

float gemm_bias(uint n)
{
    return HAS_BIAS != 0u ? lf_load(p.bias, BIAS_DT, n) : 0.0;
}
