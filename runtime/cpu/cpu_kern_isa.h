/*
** cpu_kern_isa.h - names of the kernels compiled once per instruction set.
** Each cpu_kern_*.c is built with -DLF_ISA=portable|avx2|avx512 and the
** matching -m flags; LF_ISA_FN(name) appends the set's name, so the three
** builds link side by side and meet only in their struct lf_cpu_kernels
** (cpu_kernels.h).
*/
#ifndef LF_CPU_KERN_ISA_H
#define LF_CPU_KERN_ISA_H

#include "cpu_kernels.h"

#ifndef LF_ISA
#error "compile with -DLF_ISA=portable|avx2|avx512"
#endif

#define LF_ISA_CAT2(a, b) a##_##b
#define LF_ISA_CAT(a, b)  LF_ISA_CAT2(a, b)
#define LF_ISA_FN(name)   LF_ISA_CAT(name, LF_ISA)

/* Elements per parallel chunk of the elementwise kernels. */
#define LF_CPU_CHUNK 16384

void LF_ISA_FN(lf_cpu_unary)(const float *x, float *y, int64_t n, unsigned fn, float scale,
                             float shift);
void LF_ISA_FN(lf_cpu_binary)(const float *a, const float *b, float *y,
                              const struct lf_cpu_broadcast *bc, enum lf_binary fn);
void LF_ISA_FN(lf_cpu_geglu)(const float *x, float *y, int64_t rows, int64_t n);
void LF_ISA_FN(lf_cpu_group_norm)(const float *x, const float *gamma, const float *beta,
                                  int64_t batch, int64_t channels, int64_t spatial, int64_t groups,
                                  float eps, bool silu, float *y);
void LF_ISA_FN(lf_cpu_layer_norm)(const float *x, const float *gamma, const float *beta,
                                  int64_t rows, int64_t cols, float eps, float *y);
void LF_ISA_FN(lf_cpu_softmax)(const float *x, float *y, int64_t rows, int64_t cols);
bool LF_ISA_FN(lf_cpu_attention)(const struct lf_cpu_attention *a);
void LF_ISA_FN(lf_cpu_f16_to_f32)(const uint16_t *x, float *y, int64_t n);
void LF_ISA_FN(lf_cpu_f32_to_f16)(const float *x, uint16_t *y, int64_t n);
void LF_ISA_FN(lf_cpu_unary_bf16)(const uint16_t *x, uint16_t *y, int64_t n, unsigned fn,
                                  float scale, float shift);
void LF_ISA_FN(lf_cpu_binary_bf16)(const uint16_t *a, const uint16_t *b, uint16_t *y,
                                   const struct lf_cpu_broadcast *bc, enum lf_binary fn);
void LF_ISA_FN(lf_cpu_geglu_bf16)(const uint16_t *x, uint16_t *y, int64_t rows, int64_t n);
void LF_ISA_FN(lf_cpu_group_norm_bf16)(const uint16_t *x, const float *gamma, const float *beta,
                                       int64_t batch, int64_t channels, int64_t spatial,
                                       int64_t groups, float eps, bool silu, uint16_t *y);
void LF_ISA_FN(lf_cpu_bf16_to_f32)(const uint16_t *x, float *y, int64_t n);
void LF_ISA_FN(lf_cpu_f32_to_bf16)(const float *x, uint16_t *y, int64_t n);
double LF_ISA_FN(lf_cpu_fma_peak)(double seconds, int threads);

#endif
