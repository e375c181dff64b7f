/*
** cli_bench_peak.c - `lcmflow bench peak`: the machine's fp32 FMA peak
** (all threads, then one) and its bf16 dot-product peak where it has one, measured in the same run
*as whatever it is
** compared with, so fractions of peak mean something on a shared machine.
*/
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LF_HAVE_CPU_BACKEND
#include "cpu_kernels.h"

double lf_cli_fp32_peak(double seconds)
{
    return lf_cpu_kernels()->fma_peak(seconds, lf_cpu_threads());
}

int lf_cli_bench_peak(int argc, char **argv)
{
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: lcmflow bench peak [--seconds S] [--threads N]\n");
            return 2;
        }
    }
    if (!(seconds > 0 && seconds <= 600)) {
        fprintf(stderr, "lcmflow bench peak: --seconds takes 0 < S <= 600\n");
        return 2;
    }
    const struct lf_cpu_kernels *k = lf_cpu_kernels();
    char features[128];
    int threads = lf_cpu_threads();
    printf("cpu:      %s; kernels %s\n", lf_cpu_features_text(features, sizeof features), k->isa);
    double all = k->fma_peak(seconds, threads);
    double one = k->fma_peak(seconds, 1);
    printf("fp32 FMA peak, %d thread%s: %.1f GFLOP/s\n", threads, threads == 1 ? "" : "s", all);
    printf("fp32 FMA peak, 1 thread:  %.1f GFLOP/s\n", one);
    double bf16 = lf_cpu_bf16_peak(seconds, threads);
    if (bf16 > 0)
        printf("bf16 dot-product peak (AVX512_BF16), %d thread%s: %.1f GFLOP/s\n", threads,
               threads == 1 ? "" : "s", bf16);
    printf("bf16:     %s\n", lf_cpu_has_native_bf16()
                                 ? "native: dtype auto picks bf16 on the CPU backend"
                                 : "not native (emulated by oneDNN): dtype auto picks f32");
    return 0;
}
#else
double lf_cli_fp32_peak(double seconds)
{
    return 0;
}

int lf_cli_bench_peak(int argc, char **argv)
{
    fprintf(stderr, "lcmflow bench peak: this build has no CPU backend (oneDNN not found)\n");
    return 1;
}
#endif
