/*
** cpu_kern_elem.c - elementwise kernels (unary, broadcast binary, GEGLU,
** f16 conversions) and this instruction set's kernel table; compiled once
** per set (cpu_kern_isa.h).
**
** Everything vectorises but tanh (libm's tanhf; no model uses it in a hot
** loop).
*/
#include "cpu_kern_isa.h"
#include "cpu_math.h"

#include "lcmflow/tensor.h"

#include <math.h>
#include <string.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

static void unary_range(const float *x, float *y, int64_t n, unsigned fn, float scale, float shift)
{
    switch (fn) {
    case LF_UNARY_GELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = lf_cpu_gelu(x[i]) * scale + shift;
        break;
    case LF_UNARY_QUICK_GELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = lf_cpu_xsigmoid(x[i], 1.702f) * scale + shift;
        break;
    case LF_UNARY_SILU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = lf_cpu_xsigmoid(x[i], 1.0f) * scale + shift;
        break;
    case LF_UNARY_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] > 0 ? x[i] : 0.0f) * scale + shift;
        break;
    case LF_UNARY_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]) * scale + shift;
        break;
    default:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * scale + shift;
        break;
    }
}

void LF_ISA_FN(lf_cpu_unary)(const float *x, float *y, int64_t n, unsigned fn, float scale,
                             float shift)
{
    int64_t chunks = (n + LF_CPU_CHUNK - 1) / LF_CPU_CHUNK;
#pragma omp parallel for if (chunks > 1) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * LF_CPU_CHUNK, len = n - lo < LF_CPU_CHUNK ? n - lo : LF_CPU_CHUNK;
        unary_range(x + lo, y + lo, len, fn, scale, shift);
    }
}

/* One inner row of a binary op: SA/SB are the inner strides (0 or 1), so
** each case is a separate vectorised loop. */
#define BINARY_ROW(EXPR)                                                                           \
    do {                                                                                           \
        if (sa && sb) {                                                                            \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                                    \
            {                                                                                      \
                float va = a[j], vb = b[j];                                                        \
                y[j] = EXPR;                                                                       \
            }                                                                                      \
        } else if (sa) {                                                                           \
            float vb = b[0];                                                                       \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                                    \
            {                                                                                      \
                float va = a[j];                                                                   \
                y[j] = EXPR;                                                                       \
            }                                                                                      \
        } else {                                                                                   \
            float va = a[0];                                                                       \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                                    \
            {                                                                                      \
                float vb = sb ? b[j] : b[0];                                                       \
                y[j] = EXPR;                                                                       \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void binary_row(const float *a, const float *b, float *y, int64_t n, int64_t sa, int64_t sb,
                       enum lf_binary fn)
{
    switch (fn) {
    case LF_BINARY_ADD:
        BINARY_ROW(va + vb);
        break;
    case LF_BINARY_SUB:
        BINARY_ROW(va - vb);
        break;
    case LF_BINARY_MUL:
        BINARY_ROW(va * vb);
        break;
    case LF_BINARY_DIV:
        BINARY_ROW(va / vb);
        break;
    }
}

/* A broadcast binary op runs as items: each output row of bc->shape[3]
** values cut into pieces of at most run.  Item it is the piece at columns
** lo..lo+len of output row `row`, whose a and b rows start at oa and ob. */
struct binary_piece {
    int64_t row, lo, len, oa, ob;
};

static inline struct binary_piece binary_piece_of(const struct lf_cpu_broadcast *bc, int64_t it,
                                                  int64_t run)
{
    const int64_t *s = bc->shape;
    int64_t pieces = (s[3] + run - 1) / run, row = it / pieces, lo = (it % pieces) * run;
    int64_t i2 = row % s[2], i1 = row / s[2] % s[1], i0 = row / (s[1] * s[2]);
    return (struct binary_piece){
        .row = row,
        .lo = lo,
        .len = s[3] - lo < run ? s[3] - lo : run,
        .oa = i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2],
        .ob = i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2],
    };
}

void LF_ISA_FN(lf_cpu_binary)(const float *a, const float *b, float *y,
                              const struct lf_cpu_broadcast *bc, enum lf_binary fn)
{
    const int64_t *s = bc->shape;
    int64_t rows = s[0] * s[1] * s[2], inner = s[3];
    int64_t items = rows * ((inner + LF_CPU_CHUNK - 1) / LF_CPU_CHUNK);
    int64_t sa = bc->a_stride[3], sb = bc->b_stride[3];
#pragma omp parallel for if (rows * inner > LF_CPU_CHUNK) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        struct binary_piece p = binary_piece_of(bc, it, LF_CPU_CHUNK);
        binary_row(a + p.oa + p.lo * sa, b + p.ob + p.lo * sb, y + p.row * inner + p.lo, p.len, sa,
                   sb, fn);
    }
}

void LF_ISA_FN(lf_cpu_geglu)(const float *x, float *y, int64_t rows, int64_t n)
{
#pragma omp parallel for if (rows * n > LF_CPU_CHUNK) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xa = x + r * 2 * n, *xg = xa + n;
        float *yr = y + r * n;
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            yr[j] = xa[j] * lf_cpu_gelu(xg[j]);
    }
}

/* {======================================================== conversions
** Each span function converts n values; convert() runs a call's spans in
** chunks on every thread.  A call of at most four chunks (a stretch inside
** a caller's own parallel loop) opens no parallel region: even one that
** runs on one thread costs more than the work (0.5 s over SD 1.5's UNet in
** the LoRA merge's 4096-value stretches). */

typedef void (*span_fn)(const void *x, void *y, int64_t n);

static void convert(span_fn span, size_t x_size, size_t y_size, const void *x, void *y, int64_t n)
{
    if (n <= 4 * LF_CPU_CHUNK) {
        span(x, y, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t lo = 0; lo < n; lo += LF_CPU_CHUNK)
        span((const char *)x + lo * (int64_t)x_size, (char *)y + lo * (int64_t)y_size,
             n - lo < LF_CPU_CHUNK ? n - lo : LF_CPU_CHUNK);
}

static void f16_to_f32_span(const void *vx, void *vy, int64_t n)
{
    const uint16_t *x = vx;
    float *y = vy;
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
#endif
    for (; i < n; i++)
        y[i] = lf_f16_to_f32(x[i]);
}

static void f32_to_f16_span(const void *vx, void *vy, int64_t n)
{
    const float *x = vx;
    uint16_t *y = vy;
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++)
        y[i] = lf_f32_to_f16(x[i]);
}

/* Plain integer code the compiler vectorises (a bf16 is the top half of an
** f32; cpu_math.h). */
static void bf16_to_f32_span(const void *x, void *y, int64_t n)
{
    bf16_load(x, y, n);
}

static void f32_to_bf16_span(const void *x, void *y, int64_t n)
{
    bf16_store(x, y, n);
}

void LF_ISA_FN(lf_cpu_f16_to_f32)(const uint16_t *x, float *y, int64_t n)
{
    convert(f16_to_f32_span, sizeof *x, sizeof *y, x, y, n);
}

void LF_ISA_FN(lf_cpu_f32_to_f16)(const float *x, uint16_t *y, int64_t n)
{
    convert(f32_to_f16_span, sizeof *x, sizeof *y, x, y, n);
}

void LF_ISA_FN(lf_cpu_bf16_to_f32)(const uint16_t *x, float *y, int64_t n)
{
    convert(bf16_to_f32_span, sizeof *x, sizeof *y, x, y, n);
}

void LF_ISA_FN(lf_cpu_f32_to_bf16)(const float *x, uint16_t *y, int64_t n)
{
    convert(f32_to_bf16_span, sizeof *x, sizeof *y, x, y, n);
}

/* {======================================================== bf16 in, bf16 out
** The memory-bound kernels on bf16 activations: each thread converts a
** short stretch into f32 on its stack, runs the f32 code on it and rounds
** the result back, so memory sees bf16 only and the math is f32's. */

#define BF16_RUN 2048

void LF_ISA_FN(lf_cpu_unary_bf16)(const uint16_t *x, uint16_t *y, int64_t n, unsigned fn,
                                  float scale, float shift)
{
    int64_t runs = (n + BF16_RUN - 1) / BF16_RUN;
#pragma omp parallel for if (n > LF_CPU_CHUNK) schedule(static)
    for (int64_t c = 0; c < runs; c++) {
        float f[BF16_RUN];
        int64_t lo = c * BF16_RUN, len = n - lo < BF16_RUN ? n - lo : BF16_RUN;
        bf16_load(x + lo, f, len);
        unary_range(f, f, len, fn, scale, shift);
        bf16_store(f, y + lo, len);
    }
}

void LF_ISA_FN(lf_cpu_binary_bf16)(const uint16_t *a, const uint16_t *b, uint16_t *y,
                                   const struct lf_cpu_broadcast *bc, enum lf_binary fn)
{
    const int64_t *s = bc->shape;
    int64_t rows = s[0] * s[1] * s[2], inner = s[3];
    int64_t items = rows * ((inner + BF16_RUN - 1) / BF16_RUN);
    int64_t sa = bc->a_stride[3], sb = bc->b_stride[3];
#pragma omp parallel for if (rows * inner > LF_CPU_CHUNK) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        float fa[BF16_RUN], fb[BF16_RUN], fy[BF16_RUN];
        struct binary_piece p = binary_piece_of(bc, it, BF16_RUN);
        bf16_load(a + p.oa + p.lo * sa, fa, sa ? p.len : 1);
        bf16_load(b + p.ob + p.lo * sb, fb, sb ? p.len : 1);
        binary_row(fa, fb, fy, p.len, sa, sb, fn);
        bf16_store(fy, y + p.row * inner + p.lo, p.len);
    }
}

void LF_ISA_FN(lf_cpu_geglu_bf16)(const uint16_t *x, uint16_t *y, int64_t rows, int64_t n)
{
    int64_t pieces = (n + BF16_RUN - 1) / BF16_RUN;
#pragma omp parallel for if (rows * n > LF_CPU_CHUNK) schedule(static)
    for (int64_t it = 0; it < rows * pieces; it++) {
        float fa[BF16_RUN], fg[BF16_RUN];
        int64_t r = it / pieces, lo = (it % pieces) * BF16_RUN;
        int64_t len = n - lo < BF16_RUN ? n - lo : BF16_RUN;
        bf16_load(x + r * 2 * n + lo, fa, len);
        bf16_load(x + r * 2 * n + n + lo, fg, len);
#pragma omp simd
        for (int64_t j = 0; j < len; j++)
            fa[j] = fa[j] * lf_cpu_gelu(fg[j]);
        bf16_store(fa, y + r * n + lo, len);
    }
}

#define LF_ISA_STR2(x) #x
#define LF_ISA_STR(x)  LF_ISA_STR2(x)

const struct lf_cpu_kernels LF_ISA_FN(lf_cpu_kernels) = {
    .isa = LF_ISA_STR(LF_ISA),
    .unary = LF_ISA_FN(lf_cpu_unary),
    .binary = LF_ISA_FN(lf_cpu_binary),
    .geglu = LF_ISA_FN(lf_cpu_geglu),
    .group_norm = LF_ISA_FN(lf_cpu_group_norm),
    .layer_norm = LF_ISA_FN(lf_cpu_layer_norm),
    .softmax = LF_ISA_FN(lf_cpu_softmax),
    .attention = LF_ISA_FN(lf_cpu_attention),
    .f16_to_f32 = LF_ISA_FN(lf_cpu_f16_to_f32),
    .f32_to_f16 = LF_ISA_FN(lf_cpu_f32_to_f16),
    .bf16_to_f32 = LF_ISA_FN(lf_cpu_bf16_to_f32),
    .f32_to_bf16 = LF_ISA_FN(lf_cpu_f32_to_bf16),
    .unary_bf16 = LF_ISA_FN(lf_cpu_unary_bf16),
    .binary_bf16 = LF_ISA_FN(lf_cpu_binary_bf16),
    .geglu_bf16 = LF_ISA_FN(lf_cpu_geglu_bf16),
    .group_norm_bf16 = LF_ISA_FN(lf_cpu_group_norm_bf16),
    .fma_peak = LF_ISA_FN(lf_cpu_fma_peak),
};
