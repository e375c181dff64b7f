/*
** cpu_kern_peak.c - the machine's fp32 FMA peak as this instruction set
** reaches it: every thread runs independent chains of 16-wide FMAs (enough
** chains to cover the FMA latency on two pipes) for the time asked;
** compiled once per set (cpu_kern_isa.h).
*/
#include "cpu_kern_isa.h"

#include <omp.h>

#define CHAINS 12

typedef float v16 __attribute__((vector_size(64)));

double LF_ISA_FN(lf_cpu_fma_peak)(double seconds, int threads)
{
    double flops = 0, start = omp_get_wtime(), stop = start + seconds;
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops, sink)
    {
        v16 acc[CHAINS], a = (v16){0} + 0.999999f, b = (v16){0} + 1e-7f;
        for (int c = 0; c < CHAINS; c++)
            acc[c] = (v16){0} + (float)c;
        while (omp_get_wtime() < stop) {
            for (int it = 0; it < 4096; it++)
                for (int c = 0; c < CHAINS; c++)
                    acc[c] = acc[c] * a + b;
            flops += 4096.0 * CHAINS * 16 * 2;
        }
        for (int c = 0; c < CHAINS; c++)
            for (int l = 0; l < 16; l++)
                sink += acc[c][l];
    }
    double elapsed = omp_get_wtime() - start;
    return sink == -1.0f ? 0 : flops / elapsed * 1e-9; /* sink keeps the loop alive */
}
