/*
** cpu_kernels.h - the CPU backend's own kernels, on host f32 arrays.
**
** The kernels of struct lf_cpu_kernels are written once in plain C for the
** compiler to vectorise (cpu_kern_*.c) and compiled once per instruction
** set: AVX-512, AVX2 + FMA, and portable (the x86-64 baseline, or whatever
** the target is).  lf_cpu_kernels() picks the best set this CPU runs, or
** the one LCMFLOW_CPU_ISA names (portable, avx2, avx512), so tests can
** exercise each.  They thread with OpenMP, the runtime oneDNN uses here, so
** both share one pool (lf_cpu_set_threads).
**
** Arrays are contiguous and row-major; outputs never alias inputs unless
** an entry says so.  Ownership: the caller's, always.
*/
#ifndef LF_CPU_KERNELS_H
#define LF_CPU_KERNELS_H

#include "lcmflow/ops.h"

#include <stdbool.h>
#include <stdint.h>

/* y = a fn b over a 4-dim shape; a_stride/b_stride in elements, 0 where a
** dimension is broadcast. */
struct lf_cpu_broadcast {
    int64_t shape[4];
    int64_t a_stride[4];
    int64_t b_stride[4];
};

/* Attention arguments: q [B, Lq, H*D], k and v [B, Lk, H*D], y like q; all
** f32, or all bf16 (converted while packed into the f32 tiles, y rounded).
** Computes the query rows [q_begin, q_end) of every batch item (q_end 0:
** all), so a caller can slice the work.  pack: caller-owned scratch of
** lf_cpu_attention_pack_floats(a) floats (64-byte aligned) for the keys and
** values in tile form; the kernel fills it when packed is false, and slices
** after the first pass packed = true to reuse it. */
struct lf_cpu_attention {
    const void *q, *k, *v;
    void *y;
    int64_t batch, lq, lk, heads, head_dim;
    float scale;
    bool causal, bf16;
    int64_t q_begin, q_end;
    float *pack;
    bool packed;
};

/* Query rows and keys per tile of the attention kernel. */
#define LF_CPU_ATTN_TQ 64
#define LF_CPU_ATTN_TK 64

/* Per (batch, head, block of TK keys): K^T [Dp][TK] then V [TK][Dp], Dp the
** head dim rounded up to 16. */
static inline size_t lf_cpu_attention_pack_floats(const struct lf_cpu_attention *a)
{
    int64_t dp = (a->head_dim + 15) / 16 * 16,
            blocks = (a->lk + LF_CPU_ATTN_TK - 1) / LF_CPU_ATTN_TK;
    return (size_t)(a->batch * a->heads * blocks * 2 * dp * LF_CPU_ATTN_TK);
}

/* unary fn code meaning x itself (then y = x * scale + shift). */
#define LF_CPU_UNARY_IDENTITY 100u

struct lf_cpu_kernels {
    const char *isa; /* "avx512", "avx2", "portable" */
    /* y = fn(x) * scale + shift, fn an enum lf_unary or LF_CPU_UNARY_IDENTITY;
    ** y may be x. */
    void (*unary)(const float *x, float *y, int64_t n, unsigned fn, float scale, float shift);
    void (*binary)(const float *a, const float *b, float *y, const struct lf_cpu_broadcast *bc,
                   enum lf_binary fn);
    /* x [rows, 2n] -> y [rows, n]: x[:, :n] * gelu(x[:, n:]). */
    void (*geglu)(const float *x, float *y, int64_t rows, int64_t n);
    /* x, y [B, C, S]; gamma/beta [C] or NULL. */
    void (*group_norm)(const float *x, const float *gamma, const float *beta, int64_t batch,
                       int64_t channels, int64_t spatial, int64_t groups, float eps, bool silu,
                       float *y);
    /* x, y [rows, cols]; gamma/beta [cols] or NULL. */
    void (*layer_norm)(const float *x, const float *gamma, const float *beta, int64_t rows,
                       int64_t cols, float eps, float *y);
    void (*softmax)(const float *x, float *y, int64_t rows, int64_t cols);
    /* Flash-style: never more than a tile of scores.  false when its
    ** per-thread scratch could not be allocated. */
    bool (*attention)(const struct lf_cpu_attention *a);
    void (*f16_to_f32)(const uint16_t *x, float *y, int64_t n);
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    /* bf16 <-> f32, round to nearest even (NaN kept a NaN). */
    void (*bf16_to_f32)(const uint16_t *x, float *y, int64_t n);
    void (*f32_to_bf16)(const float *x, uint16_t *y, int64_t n);
    /* The memory-bound kernels above on bf16 arrays (f32 math inside,
    ** results rounded to nearest even): same arguments, bf16 x / a / b / y.
    ** unary_bf16's y may be x. */
    void (*unary_bf16)(const uint16_t *x, uint16_t *y, int64_t n, unsigned fn, float scale,
                       float shift);
    void (*binary_bf16)(const uint16_t *a, const uint16_t *b, uint16_t *y,
                        const struct lf_cpu_broadcast *bc, enum lf_binary fn);
    void (*geglu_bf16)(const uint16_t *x, uint16_t *y, int64_t rows, int64_t n);
    void (*group_norm_bf16)(const uint16_t *x, const float *gamma, const float *beta, int64_t batch,
                            int64_t channels, int64_t spatial, int64_t groups, float eps, bool silu,
                            uint16_t *y);
    /* GFLOP/s of independent f32 FMA chains on threads threads for about
    ** seconds: the machine's peak for this instruction set. */
    double (*fma_peak)(double seconds, int threads);
};

extern const struct lf_cpu_kernels lf_cpu_kernels_portable;
extern const struct lf_cpu_kernels lf_cpu_kernels_avx2;
extern const struct lf_cpu_kernels lf_cpu_kernels_avx512;

/* The set in use: LCMFLOW_CPU_ISA if set (and this CPU runs it), else the
** best this CPU runs.  Never NULL. */
const struct lf_cpu_kernels *lf_cpu_kernels(void);

/* The named set ("portable", "avx2", "avx512"), NULL when unknown or when
** this CPU lacks the instructions. */
const struct lf_cpu_kernels *lf_cpu_kernels_named(const char *isa);

/* The CPU's features as a short text ("AVX-512 (F BW DQ VL), AVX512_BF16,
** AVX2, FMA") into buf. */
const char *lf_cpu_features_text(char *buf, size_t size);
bool lf_cpu_has_avx512_bf16(void);

/* Whether bf16 runs natively: the CPU has AVX512_BF16 or AMX-BF16 (cpuid)
** and oneDNN's ISA reaches them.  LCMFLOW_CPU_NO_BF16=1 pretends it does
** not (read on each call), so tests see dtype auto decide both ways. */
bool lf_cpu_has_native_bf16(void);

/* GFLOP/s of independent AVX512_BF16 dot-product chains (vdpbf16ps) on
** threads threads for about seconds: the machine's bf16 peak; 0 where the
** CPU or the compiler lacks AVX512_BF16. */
double lf_cpu_bf16_peak(double seconds, int threads);

/* Threads of the shared OpenMP pool: LCMFLOW_THREADS, else all cores, until
** set; n <= 0 restores the default. */
void lf_cpu_set_threads(int n);
int lf_cpu_threads(void);

/* {======================================================== plain kernels
** (cpu_layout.c; memory-bound, compiled once) */

/* Broadcast shape of a (rank ra) and b (rank rb), right-aligned, into bc
** with dimensions of size 1 merged away where possible.  Shapes assumed
** compatible (the front checked). */
void lf_cpu_broadcast_init(int ra, const int64_t *sa, int rb, const int64_t *sb,
                           struct lf_cpu_broadcast *bc);

/* Along axis: a [.., na, inner] and b [.., nb, inner] -> y [.., na + nb, inner]
** given outer = product of the dims before axis; element size esize. */
void lf_cpu_concat(const void *a, const void *b, void *y, int64_t outer, int64_t na, int64_t nb,
                   int64_t inner, size_t esize);

/* x [planes, h, w] -> y [planes, oh, ow], source floor(dst * in / out). */
void lf_cpu_resize_nearest(const void *x, void *y, int64_t planes, int64_t h, int64_t w, int64_t oh,
                           int64_t ow, size_t esize);

/* y.shape[i] = shape[perm[i]]. */
void lf_cpu_permute(const void *x, void *y, int rank, const int64_t *shape, const int *perm,
                    size_t esize);

/* t [batch] -> y [batch, dim] as ops.h documents. */
void lf_cpu_timestep_embedding(const float *t, float *y, int64_t batch, int dim,
                               bool flip_sin_to_cos, float shift, float max_period);

void lf_cpu_fill(float *x, int64_t n, float value);

/* Host memory, 64-byte aligned (2 MiB and huge pages from 4 MiB); free()
** releases it (cpu_memory.c). */
void *lf_cpu_host_alloc(size_t bytes);
/* A block for a buffer or the pool: small ones carved from arenas in huge
** pages.  Only lf_cpu_block_free releases it (it takes any host_alloc'd or
** malloc'd memory too, so a block's origin need not be tracked). */
void *lf_cpu_block_new(size_t bytes);
void lf_cpu_block_free(void *p);
struct lf_device;
/* Gives a block no buffer holds any more (cap bytes, already uncounted) to
** the pool of idle blocks, for the next tensor to reuse. */
void lf_cpu_block_idle(struct lf_device *device, void *data, uint64_t cap);
/* An idle block of at least bytes (*cap bytes) or a new one; NULL when out
** of memory.  Not counted: the caller counts it when a buffer holds it.
** device NULL: no pool (lf_cpu_block_new; lf_cpu_block_idle frees it). */
void *lf_cpu_block_take(struct lf_device *device, uint64_t bytes, uint64_t *cap);

#endif
