/*
** cpu_memory.c - host memory for the CPU backend: 64-byte aligned, and in
** 2 MiB pages where the kernel gives them, because first touching fresh
** memory costs a page fault per page (10 us per 4 KiB page was measured in
** this project's VM, against 12 GB/s in 2 MiB pages).  Large blocks are
** 2 MiB aligned with transparent huge pages requested; the pool's small
** blocks (lf_cpu_block_new) are carved from arenas in huge pages, which a
** model's hundreds of small weights and a LoRA's up/down matrices fill.
*/
#include "cpu_kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_FROM (4u << 20)
#define HUGE_PAGE (2u << 20)

static void advise_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    /* Only the whole huge pages: a tail in a huge page would make up to
    ** 2 MiB resident that nothing uses (0.5-1 GiB over a model's weights). */
    size_t whole = bytes / HUGE_PAGE * HUGE_PAGE;
    if (whole) madvise(p, whole, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
}

void *lf_cpu_host_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes >= HUGE_FROM) {
        size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        if (posix_memalign(&p, HUGE_PAGE, rounded)) return NULL;
        advise_huge(p, bytes);
        return p;
    }
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64)) return NULL;
    return p;
}

/* {======================================================== arenas
** Blocks are carved one after another from the newest arena; an arena
** goes back to the system when its last block is freed.  A freed block's
** room is not reused inside a live arena: the pool in front of this
** (cpu_backend.c) keeps freed blocks for the next tensor of their size, so
** blocks reach lf_cpu_block_free rarely. */

#define ARENA_SIZE (32u << 20)
#define ARENA_MAX  256 /* 8 GiB of small blocks; beyond that, malloc */

static struct arena {
    char *base;
    size_t used, live; /* bytes carved; blocks not yet freed */
} arenas[ARENA_MAX];
static int arena_count; /* the newest is arenas[arena_count - 1] */
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

/* Under AddressSanitizer every block is its own allocation, so that an
** overrun of one is caught rather than landing in the next. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENAS_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENAS_OFF 1
#endif
#endif
#ifndef ARENAS_OFF
#define ARENAS_OFF 0
#endif

void *lf_cpu_block_new(size_t bytes)
{
    if (bytes >= HUGE_FROM || ARENAS_OFF) return lf_cpu_host_alloc(bytes);
    size_t need = bytes ? (bytes + 63) / 64 * 64 : 64;
    void *p = NULL;
    pthread_mutex_lock(&arena_lock);
    struct arena *a = arena_count ? &arenas[arena_count - 1] : NULL;
    if ((!a || a->used + need > ARENA_SIZE) && arena_count < ARENA_MAX) {
        void *base = NULL;
        if (!posix_memalign(&base, HUGE_PAGE, ARENA_SIZE)) {
            advise_huge(base, ARENA_SIZE);
            a = &arenas[arena_count++];
            *a = (struct arena){base, 0, 0};
        }
    }
    if (a && a->used + need <= ARENA_SIZE) {
        p = a->base + a->used;
        a->used += need;
        a->live++;
    }
    pthread_mutex_unlock(&arena_lock);
    return p ? p : lf_cpu_host_alloc(bytes);
}

void lf_cpu_block_free(void *p)
{
    if (!p) return;
    pthread_mutex_lock(&arena_lock);
    for (int i = arena_count - 1; i >= 0; i--) {
        struct arena *a = &arenas[i];
        if ((char *)p < a->base || (char *)p >= a->base + ARENA_SIZE) continue;
        if (--a->live == 0) {
            free(a->base);
            arenas[i] = arenas[--arena_count]; /* the newest may move: any open one will do */
        }
        pthread_mutex_unlock(&arena_lock);
        return;
    }
    pthread_mutex_unlock(&arena_lock);
    free(p);
}
