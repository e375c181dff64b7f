/*
** cpu_math.h - scalar math written for the compiler to vectorise (no libm
** calls, no branches but selects), used inside the CPU kernels' loops.
** Accuracy: lf_cpu_exp about 2 ulp over [-87, 88] (0 below -87; e^88 above 88).
*/
#ifndef LF_CPU_MATH_H
#define LF_CPU_MATH_H

#include <stdint.h>
#include <string.h>

/* e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; e^r by its
** Taylor series to r^7 (truncation below 6e-9 relative). */
static inline float lf_cpu_exp(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;         /* ln 2 with 12 low bits clear */
    const float ln2_lo = 1.42860682030941723212e-6f; /* ln 2 - ln2_hi */
    const float round_magic = 12582912.0f;           /* 1.5 * 2^23 */
    float xc = x > 88.0f ? 88.0f : x;
    xc = xc < -87.0f ? -87.0f : xc;
    float n = (xc * log2e + round_magic) - round_magic;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

/* x * sigmoid(a x) = x / (1 + e^(-a x)). */
static inline float lf_cpu_xsigmoid(float x, float a)
{
    return x / (1.0f + lf_cpu_exp(-a * x));
}

/* The standard normal CDF: Phi(-|x|) = erfc(z) / 2 with z = |x| / sqrt 2,
** erfc(z) = e^(-z^2) g(t), t = 1 / (1 + z / 2), and g a degree-11
** polynomial in t fitted for this project (mpmath chebyfit on t in
** [1/6, 1], i.e. z in [0, 10]; 9e-9 relative).  GELU through it is within
** 4e-7 absolute of the exact erf GELU everywhere (f32 rounding). */
static inline float lf_cpu_phi(float x)
{
    float z = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float g = 0.013353338728f;
    g = g * t + -0.050878235088f;
    g = g * t + -0.0062566584767f;
    g = g * t + 0.33524587014f;
    g = g * t + -0.67256165322f;
    g = g * t + 0.49389686692f;
    g = g * t + -0.16777174708f;
    g = g * t + 0.25994283089f;
    g = g * t + 0.22848065069f;
    g = g * t + 0.28465127472f;
    g = g * t + 0.28189033043f;
    g = g * t + 7.1317068497e-6f;
    float tail = 0.5f * lf_cpu_exp(-z * z) * g;
    return x < 0 ? tail : 1.0f - tail;
}

/* Exact (erf) GELU: x Phi(x). */
static inline float lf_cpu_gelu(float x)
{
    return x * lf_cpu_phi(x);
}

/* bf16 <-> f32 over a short run: a bf16 is the top half of an f32 (memcpy
** keeps the type punning defined); f32 -> bf16 rounds to nearest even and
** keeps a NaN a NaN. */
static inline float lf_bf16_value(const uint16_t *x)
{
    uint32_t v = (uint32_t)*x << 16;
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static inline void bf16_load(const uint16_t *x, float *y, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)x[i] << 16;
        memcpy(&y[i], &v, sizeof v);
    }
}

static inline void bf16_store(const float *x, uint16_t *y, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &x[i], sizeof v);
        uint32_t r = (v + 0x7fffu + ((v >> 16) & 1u)) >> 16;
        y[i] = (uint16_t)((v & 0x7fffffffu) > 0x7f800000u ? (v >> 16) | 0x40u : r);
    }
}

#endif
