/*
** cpu_memory.c - host memory for the CPU backend: 64-byte aligned, and
** for large blocks 2 MiB aligned with transparent huge pages requested, so
** that first touching a fresh block costs a few faults, not one per 4 KiB
** page (in a VM each fault is expensive).
*/
#include "cpu_kernels.h"

#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_FROM (4u << 20)
#define HUGE_PAGE (2u << 20)

void *lf_cpu_host_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes >= HUGE_FROM) {
        size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        if (posix_memalign(&p, HUGE_PAGE, rounded)) return NULL;
#ifdef MADV_HUGEPAGE
        madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
        return p;
    }
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64)) return NULL;
    return p;
}
