/*
** rng.h - PyTorch's CPU random generator, reproduced exactly.
**
** A seed gives the same noise as the reference tools:
** torch.randn(shape, generator=torch.Generator().manual_seed(seed)) on the
** CPU in float32.  The generator is MT19937 seeded with the low 32 bits of
** the seed.  torch.randn takes one of two paths by element count:
**
**   count >= 16: all count float uniforms ((u32 & 0xffffff) * 2^-24) are
**     drawn first, then each full block of 16 is turned into normals by
**     Box-Muller on the pairs (i, i + 8) in float; when count % 16 != 0 the
**     last 16 elements are redrawn from 16 new uniforms and transformed
**     again.  torch evaluates log/sin/cos with SIMD code here, so results
**     may differ from it in the last bit (within 1e-6).
**   count < 16: one double Box-Muller per element from two 53-bit double
**     uniforms, whose second value is cached in the generator and used by
**     the next scalar draw (even one in a later call).  Bit-exact.
**
** The state lives in a caller-owned struct, so one generator can draw the
** initial noise and then every step's noise, in the reference order.
**
**     struct lf_rng rng;
**     lf_rng_init(&rng, 42);
**     lf_rng_randn(&rng, latents, 4 * 64 * 64);
*/
#ifndef LCMFLOW_RNG_H
#define LCMFLOW_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_RNG_MT_N 624

/* Caller-owned; set up with lf_rng_init.  Copying the struct forks the
** stream. */
struct lf_rng {
    uint32_t mt[LF_RNG_MT_N];
    int index; /* next word of mt; LF_RNG_MT_N means "twist first" */
    bool has_cached_normal;
    double cached_normal; /* the scalar path's second Box-Muller value */
};

/* torch.Generator().manual_seed(seed): only the low 32 bits matter. */
void lf_rng_init(struct lf_rng *rng, uint64_t seed);

/* Raw draws: the next MT19937 word, and two of them as (first << 32) | second. */
uint32_t lf_rng_next_u32(struct lf_rng *rng);
uint64_t lf_rng_next_u64(struct lf_rng *rng);

/* Uniforms in [0, 1) as torch makes them: 24 bits for float, 53 for double. */
float lf_rng_uniform_f32(struct lf_rng *rng);
double lf_rng_uniform_f64(struct lf_rng *rng);

/* torch.randn of count elements (any shape with that many elements) into
** out, continuing the generator's stream. */
void lf_rng_randn(struct lf_rng *rng, float *out, size_t count);

#endif
