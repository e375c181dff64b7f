/*
** cpu_profile.c - where the CPU backend's time goes: with
** LCMFLOW_OP_PROFILE=1 every op entry adds its wall time (and, for the
** compute-bound ops, its FLOPs) to its class; the table goes to stderr when
** the device closes.  The CPU backend runs each op to completion, so these
** are the real times, not a serialised estimate.
*/
#include "cpu_profile.h"

#include "cpu_kernels.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const names[LF_CPU_PROF_COUNT] = {
    "gemm / linear", "conv 3x3",    "conv 1x1", "conv other", "group norm", "layer norm",
    "attention",     "softmax",     "unary",    "geglu",      "binary",     "concat/resize/permute",
    "lora merge",    "weight prep", "other",
};

static struct {
    double seconds, flops;
    long calls;
} table[LF_CPU_PROF_COUNT][2]; /* [class][computed in bf16] */
static int state;              /* 0 unknown, 1 on, -1 off */

bool lf_cpu_profiling(void)
{
    if (!state) {
        const char *env = getenv("LCMFLOW_OP_PROFILE");
        state = env && *env && *env != '0' ? 1 : -1;
    }
    return state > 0;
}

double lf_cpu_prof_start(void)
{
    return lf_cpu_profiling() ? omp_get_wtime() : 0;
}

void lf_cpu_prof_add_bf16(enum lf_cpu_prof what, double start, double flops, bool bf16)
{
    if (!lf_cpu_profiling()) return;
#pragma omp critical(lf_cpu_profile)
    {
        table[what][bf16].seconds += omp_get_wtime() - start;
        table[what][bf16].flops += flops;
        table[what][bf16].calls++;
    }
}

void lf_cpu_prof_add(enum lf_cpu_prof what, double start, double flops)
{
    lf_cpu_prof_add_bf16(what, start, flops, false);
}

void lf_cpu_prof_report(void)
{
    if (!lf_cpu_profiling()) return;
    double total = 0, bf16_flops = 0;
    for (int i = 0; i < LF_CPU_PROF_COUNT; i++) {
        total += table[i][0].seconds + table[i][1].seconds;
        bf16_flops += table[i][1].flops;
    }
    if (total <= 0) return;
    double peak[2] = {lf_cpu_kernels()->fma_peak(0.5, lf_cpu_threads()),
                      bf16_flops > 0 ? lf_cpu_bf16_peak(0.5, lf_cpu_threads()) : 0};
    fprintf(stderr, "cpu op profile (%d threads, fp32 FMA peak now %.1f GFLOP/s", lf_cpu_threads(),
            peak[0]);
    if (peak[1] > 0) fprintf(stderr, ", bf16 dot-product peak %.1f", peak[1]);
    fprintf(stderr, "):\n  %-22s %8s %7s %6s %9s %7s\n", "op", "calls", "s", "%", "GFLOP/s",
            "% peak");
    for (int i = 0; i < LF_CPU_PROF_COUNT; i++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            if (!table[i][bf16].calls) continue;
            char name[40];
            snprintf(name, sizeof name, "%s%s", names[i], bf16 ? " (bf16)" : "");
            double seconds = table[i][bf16].seconds, flops = table[i][bf16].flops;
            double rate = flops / seconds * 1e-9;
            fprintf(stderr, "  %-22s %8ld %7.2f %6.1f", name, table[i][bf16].calls, seconds,
                    100 * seconds / total);
            if (flops > 0)
                fprintf(stderr, " %9.1f %7.1f\n", rate,
                        peak[bf16] > 0 ? 100 * rate / peak[bf16] : 0);
            else
                fprintf(stderr, "\n");
            table[i][bf16].seconds = table[i][bf16].flops = 0;
            table[i][bf16].calls = 0;
        }
    fprintf(stderr, "  %-22s %8s %7.2f\n", "total", "", total);
}
