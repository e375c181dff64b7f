/*
** cpu_isa.c - which kernel set runs (cpu_kernels.h), the CPU's features,
** and the thread count of the OpenMP pool shared with oneDNN.
*/
#include "cpu_kernels.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

static bool has_avx2(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

bool lf_cpu_has_avx512_bf16(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

bool lf_cpu_has_native_bf16(void)
{
    const char *pretend = getenv("LCMFLOW_CPU_NO_BF16");
    if (pretend && *pretend && strcmp(pretend, "0")) return false;
    bool cpu = lf_cpu_has_avx512_bf16();
#if defined(__x86_64__) && defined(__GNUC__)
    /* AMX-BF16: cpuid leaf 7 sub-leaf 0, EDX bit 22 (GCC 12 has no name for
    ** it in __builtin_cpu_supports). */
    unsigned a = 7, b = 0, c = 0, d = 0;
    __asm__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    cpu = cpu || (d >> 22 & 1u);
#endif
    /* oneDNN's own view too: its ISA may be capped (ONEDNN_MAX_CPU_ISA),
    ** and then it emulates bf16 as it would on a CPU without it. */
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return cpu && (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

const struct lf_cpu_kernels *lf_cpu_kernels_named(const char *isa)
{
    if (!isa) return NULL;
    if (!strcmp(isa, "portable")) return &lf_cpu_kernels_portable;
    if (!strcmp(isa, "avx2")) return has_avx2() ? &lf_cpu_kernels_avx2 : NULL;
    if (!strcmp(isa, "avx512")) return has_avx512() ? &lf_cpu_kernels_avx512 : NULL;
    return NULL;
}

const struct lf_cpu_kernels *lf_cpu_kernels(void)
{
    static const struct lf_cpu_kernels *chosen;
    const struct lf_cpu_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (k) return k;
    const char *env = getenv("LCMFLOW_CPU_ISA");
    k = env && *env ? lf_cpu_kernels_named(env) : NULL;
    if (!k)
        k = has_avx512() ? &lf_cpu_kernels_avx512
            : has_avx2() ? &lf_cpu_kernels_avx2
                         : &lf_cpu_kernels_portable;
    __atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
    return k;
}

const char *lf_cpu_features_text(char *buf, size_t size)
{
    bool native = lf_cpu_has_native_bf16();
    snprintf(buf, size, "%s%s%s%s", has_avx512() ? "AVX-512 " : "",
             lf_cpu_has_avx512_bf16() ? "AVX512_BF16 " : "", has_avx2() ? "AVX2 FMA" : "baseline",
             native ? ", bf16 native" : ", bf16 emulated");
    return buf;
}

#ifdef LF_NO_BF16_PEAK
double lf_cpu_bf16_peak(double seconds, int threads)
{
    return 0;
}
#endif

static int default_threads(void)
{
    const char *env = getenv("LCMFLOW_THREADS");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : omp_get_num_procs();
}

static int threads_now;

void lf_cpu_set_threads(int n)
{
    threads_now = n > 0 ? n : default_threads();
    omp_set_num_threads(threads_now);
}

int lf_cpu_threads(void)
{
    if (!threads_now) lf_cpu_set_threads(0);
    return threads_now;
}
