/*
** vk_lora_host.c - the Vulkan backend's LoRA merge strategy for devices
** whose tensors live in host memory (LF_DEVICE_CAP_HOST_MEMORY: lavapipe):
** the device IS the CPU there, but its JIT-compiled GEMM and elementwise
** shaders run about 20x slower than OpenBLAS on the same cores (a rank-64
** LCM-LoRA on SD 1.5 took minutes).  So there, when libopenblas.so.0 can be
** loaded, the weight is read back, W += scale * up @ down is done by
** cblas_sgemm (beta = 1) in f32, and the result written back in the
** weight's dtype (one rounding for f16).  Same math as the device
** strategies: f32 accumulation from the weight's value.
*/
#include "vk_ops.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cblas values fixed by the CBLAS standard. */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS  111

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);

static sgemm_fn loaded_sgemm;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void load_blas(void)
{
    void *handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    void *sym = handle ? dlsym(handle, "cblas_sgemm") : NULL;
    /* POSIX allows converting dlsym's object pointer to a function pointer;
    ** memcpy keeps -Wpedantic quiet about it. */
    if (sym) memcpy(&loaded_sgemm, &sym, sizeof sym);
}

/* Loaded once per process (thread-safe) and kept mapped. */
static sgemm_fn blas_sgemm(void)
{
    pthread_once(&blas_once, load_blas);
    return loaded_sgemm;
}

bool lf_vk_lora_host_available(const struct lf_vk_device *device)
{
    return (device->base.info.caps & LF_DEVICE_CAP_HOST_MEMORY) && blas_sgemm() != NULL;
}

/* Grows *buf to hold bytes; grow-only, so one apply faults its pages in once. */
static enum lf_status reserve(void **buf, size_t *cap, size_t bytes, struct lf_error *err)
{
    if (bytes <= *cap) return LF_OK;
    free(*buf);
    *buf = malloc(bytes);
    *cap = *buf ? bytes : 0;
    return *buf ? LF_OK : lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
}

void lf_vk_lora_scratch_free(struct lf_vk_lora_scratch *s)
{
    free(s->w), free(s->half), free(s->up), free(s->down);
    memset(s, 0, sizeof *s);
}

/* f16 <-> f32 for whole arrays: F16C where the CPU has it (8 values per
** instruction, round to nearest even like lf_f32_to_f16), else the scalar
** conversions of tensor.h. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("f16c,avx"))) static void widen_f16c(const uint16_t *h, float *f, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        f[i] = lf_f16_to_f32(h[i]);
}

__attribute__((target("f16c,avx"))) static void narrow_f16c(const float *f, uint16_t *h, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(f + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        h[i] = lf_f32_to_f16(f[i]);
}

static bool have_f16c(void)
{
    return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
}
#else
static void widen_f16c(const uint16_t *h, float *f, size_t n)
{
    (void)h, (void)f, (void)n;
}
static void narrow_f16c(const float *f, uint16_t *h, size_t n)
{
    (void)h, (void)f, (void)n;
}
static bool have_f16c(void)
{
    return false;
}
#endif

static void widen(const uint16_t *h, float *f, size_t n)
{
    if (have_f16c()) {
        widen_f16c(h, f, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        f[i] = lf_f16_to_f32(h[i]);
}

static void narrow(const float *f, uint16_t *h, size_t n)
{
    if (have_f16c()) {
        narrow_f16c(f, h, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        h[i] = lf_f32_to_f16(f[i]);
}

/* A float tensor's values into buf (f32 or f16 tensors). */
static enum lf_status read_values(struct lf_tensor *t, struct lf_vk_lora_scratch *s, float **buf,
                                  size_t *cap, struct lf_error *err)
{
    size_t n = (size_t)lf_tensor_numel(t);
    enum lf_status st = reserve((void **)buf, cap, n * sizeof **buf, err);
    if (st) return st;
    if (t->dtype == LF_DTYPE_F32) return lf_tensor_download(t, *buf, n * sizeof **buf, err);
    if (t->dtype != LF_DTYPE_F16) return lf_tensor_download_f32(t, *buf, (int64_t)n, err);
    if ((st = reserve((void **)&s->half, &s->half_cap, n * 2, err)) ||
        (st = lf_tensor_download(t, s->half, n * 2, err)))
        return st;
    widen(s->half, *buf, n);
    return LF_OK;
}

enum lf_status lf_vk_lora_merge_host(struct lf_tensor *w, struct lf_tensor *up,
                                     struct lf_tensor *down, float scale, struct lf_error *err)
{
    sgemm_fn sgemm = blas_sgemm();
    int64_t numel = lf_tensor_numel(w), n = w->shape[0], k = numel / n, rank = up->shape[1];
    if (!sgemm) return lf_error_set(err, LF_ERR_UNSUPPORTED, "OpenBLAS is not available");
    if (numel > 0x7fffffff)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "lora_merge: tensor of 2^31 elements");
    /* Grow-only, kept by the device: a model's merges fault pages in once. */
    struct lf_vk_lora_scratch *s = &lf_vk_tensor_device(w)->lora_scratch;
    enum lf_status st;
    if ((st = read_values(w, s, &s->w, &s->w_cap, err)) ||
        (st = read_values(up, s, &s->up, &s->up_cap, err)) ||
        (st = read_values(down, s, &s->down, &s->down_cap, err)))
        return st;
    sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, (int)n, (int)k, (int)rank, scale, s->up,
          (int)rank, s->down, (int)k, 1.0f, s->w, (int)k);
    if (w->dtype != LF_DTYPE_F16) return lf_tensor_upload(w, s->w, (size_t)numel * 4, err);
    if ((st = reserve((void **)&s->half, &s->half_cap, (size_t)numel * 2, err))) return st;
    narrow(s->w, s->half, (size_t)numel);
    return lf_tensor_upload(w, s->half, (size_t)numel * 2, err);
}
