/*
** rng.c - MT19937 and torch.randn's two normal paths (see rng.h).
*/
#include "lcmflow/rng.h"

#include <math.h>

/* c10::pi<double> */
#define LF_PI 3.14159265358979323846

#define MT_M      397
#define MT_MATRIX 0x9908b0dfu
#define MT_UPPER  0x80000000u
#define MT_LOWER  0x7fffffffu

void lf_rng_init(struct lf_rng *rng, uint64_t seed)
{
    rng->mt[0] = (uint32_t)(seed & 0xffffffffu);
    for (int i = 1; i < LF_RNG_MT_N; i++)
        rng->mt[i] = 1812433253u * (rng->mt[i - 1] ^ (rng->mt[i - 1] >> 30)) + (uint32_t)i;
    rng->index = LF_RNG_MT_N;
    rng->has_cached_normal = false;
    rng->cached_normal = 0.0;
}

static void twist(struct lf_rng *rng)
{
    uint32_t *mt = rng->mt;
    for (int i = 0; i < LF_RNG_MT_N; i++) {
        uint32_t y = (mt[i] & MT_UPPER) | (mt[(i + 1) % LF_RNG_MT_N] & MT_LOWER);
        mt[i] = mt[(i + MT_M) % LF_RNG_MT_N] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX : 0u);
    }
    rng->index = 0;
}

uint32_t lf_rng_next_u32(struct lf_rng *rng)
{
    if (rng->index >= LF_RNG_MT_N) twist(rng);
    uint32_t y = rng->mt[rng->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t lf_rng_next_u64(struct lf_rng *rng)
{
    uint64_t hi = lf_rng_next_u32(rng);
    return (hi << 32) | lf_rng_next_u32(rng);
}

float lf_rng_uniform_f32(struct lf_rng *rng)
{
    return (float)(lf_rng_next_u32(rng) & 0xffffffu) * 0x1p-24f;
}

double lf_rng_uniform_f64(struct lf_rng *rng)
{
    return (double)(lf_rng_next_u64(rng) & ((UINT64_C(1) << 53) - 1)) * 0x1p-53;
}

/* torch's normal_fill_16: Box-Muller on the pairs (j, j + 8), all in float
** as its AVX2 kernel does (2*pi rounded to float, times u2 in float). */
static void normal_fill_16(float *d)
{
    const float two_pi = (float)(2.0 * LF_PI);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = two_pi * u2;
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

/* at::normal_distribution<double> with the generator's one-value cache. */
static double normal_scalar(struct lf_rng *rng)
{
    if (rng->has_cached_normal) {
        rng->has_cached_normal = false;
        return rng->cached_normal;
    }
    double u1 = lf_rng_uniform_f64(rng);
    double u2 = lf_rng_uniform_f64(rng);
    double r = sqrt(-2.0 * log(1.0 - u2));
    double theta = 2.0 * LF_PI * u1;
    rng->cached_normal = r * sin(theta);
    rng->has_cached_normal = true;
    return r * cos(theta);
}

void lf_rng_randn(struct lf_rng *rng, float *out, size_t count)
{
    if (count < 16) {
        for (size_t i = 0; i < count; i++)
            out[i] = (float)normal_scalar(rng);
        return;
    }
    for (size_t i = 0; i < count; i++)
        out[i] = lf_rng_uniform_f32(rng);
    for (size_t i = 0; i + 16 <= count; i += 16)
        normal_fill_16(out + i);
    if (count % 16 != 0) {
        /* torch redraws the last 16 and transforms them again. */
        float *tail = out + count - 16;
        for (int i = 0; i < 16; i++)
            tail[i] = lf_rng_uniform_f32(rng);
        normal_fill_16(tail);
    }
}
