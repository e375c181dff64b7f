/*
** cpu_kern_peak_bf16.c - the machine's bf16 peak: every thread runs
** independent chains of AVX512_BF16 dot products (vdpbf16ps: 32 bf16 pairs
** into 16 f32 sums, 64 FLOPs each), as oneDNN's bf16 kernels compute.
** Compiled with -mavx512bf16 only; run only where the CPU has it.
*/
#include "cpu_kernels.h"

#include <immintrin.h>
#include <omp.h>

#define CHAINS 12

double lf_cpu_bf16_peak(double seconds, int threads)
{
    if (!lf_cpu_has_avx512_bf16()) return 0;
    double flops = 0, start = omp_get_wtime(), stop = start + seconds;
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops, sink)
    {
        __m512 acc[CHAINS];
        __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
        __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7f), _mm512_set1_ps(-1e-7f));
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm512_set1_ps((float)c);
        while (omp_get_wtime() < stop) {
            /* unrolled so that the chains live in registers: a loop over acc[]
               kept them in memory, and the store-to-load latency was measured */
            for (int it = 0; it < 4096; it++)
#pragma GCC unroll 16 /* >= CHAINS: fully */
                for (int c = 0; c < CHAINS; c++)
                    acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
            flops += 4096.0 * CHAINS * 64;
        }
        for (int c = 0; c < CHAINS; c++)
            sink += _mm512_reduce_add_ps(acc[c]);
    }
    double elapsed = omp_get_wtime() - start;
    return sink == -1.0f ? 0 : flops / elapsed * 1e-9; /* sink keeps the loop alive */
}
