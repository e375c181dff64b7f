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
        /* Only the whole huge pages: a tail in a huge page would make up to
        ** 2 MiB resident that nothing uses (0.5-1 GiB over a model's weights). */
        size_t whole = bytes / HUGE_PAGE * HUGE_PAGE;
        if (whole) madvise(p, whole, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
        return p;
    }
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64)) return NULL;
    return p;
}
