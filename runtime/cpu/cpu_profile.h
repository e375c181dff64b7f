/*
** cpu_profile.h - per-op-class wall time of the CPU backend
** (LCMFLOW_OP_PROFILE=1; cpu_profile.c).
*/
#ifndef LF_CPU_PROFILE_H
#define LF_CPU_PROFILE_H

#include <stdbool.h>

enum lf_cpu_prof {
    LF_CPU_PROF_GEMM = 0,
    LF_CPU_PROF_CONV3,
    LF_CPU_PROF_CONV1,
    LF_CPU_PROF_CONV_OTHER,
    LF_CPU_PROF_GROUP_NORM,
    LF_CPU_PROF_LAYER_NORM,
    LF_CPU_PROF_ATTENTION,
    LF_CPU_PROF_SOFTMAX,
    LF_CPU_PROF_UNARY,
    LF_CPU_PROF_GEGLU,
    LF_CPU_PROF_BINARY,
    LF_CPU_PROF_LAYOUT,
    LF_CPU_PROF_LORA,
    LF_CPU_PROF_PREPARE,
    LF_CPU_PROF_OTHER,
    LF_CPU_PROF_COUNT
};

bool lf_cpu_profiling(void);
/* A start time (0 when not profiling) for lf_cpu_prof_add. */
double lf_cpu_prof_start(void);
void lf_cpu_prof_add(enum lf_cpu_prof what, double start, double flops);
/* The same for an op that computed on bf16 data (oneDNN's bf16 kernels): its
** rate is reported against the bf16 peak, in a row of its own. */
void lf_cpu_prof_add_bf16(enum lf_cpu_prof what, double start, double flops, bool bf16);
/* Prints the table to stderr and clears it (nothing when off or empty). */
void lf_cpu_prof_report(void);

#endif
