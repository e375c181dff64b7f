/*
** sd_lora_host.c - the LoRA merge for CPU devices (lavapipe): the device IS
** the CPU there, but its JIT-compiled GEMM and elementwise shaders run about
** 20x slower than OpenBLAS on the same cores (a rank-64 LCM-LoRA on SD 1.5
** took minutes).  So on a CPU device, when libopenblas.so.0 can be loaded,
** each touched weight is read back, W += scale * up @ down is done by
** cblas_sgemm (beta = 1) in f32, and the result uploaded as a new tensor in
** the weights' dtype (one rounding for f16).  Same math as the device path:
** f32 accumulation from the input value, in LoRA order.
*/
#include "sd_lora_internal.h"

#include "lcmflow/device.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* cblas values fixed by the CBLAS standard. */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS  111

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);

/* Loaded once and kept (the library stays mapped for the process). */
static sgemm_fn blas_sgemm(void)
{
    static int tried;
    static sgemm_fn fn;
    if (tried) return fn;
    tried = 1;
    void *handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    void *sym = handle ? dlsym(handle, "cblas_sgemm") : NULL;
    /* POSIX allows converting dlsym's object pointer to a function pointer;
    ** memcpy keeps -Wpedantic quiet about it. */
    if (sym) memcpy(&fn, &sym, sizeof sym);
    return fn;
}

bool sd_lora_host_available(struct lf_device *device)
{
    return lf_device_get_info(device)->type == LF_DEVICE_CPU && blas_sgemm() != NULL;
}

/* up or down of a module as host floats (caller frees). */
static enum lf_status fetch(struct lf_tensor *t, float **out, struct lf_error *err)
{
    int64_t n = lf_tensor_numel(t);
    *out = malloc((size_t)n * sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = lf_tensor_download_f32(t, *out, n, err);
    if (s) {
        free(*out);
        *out = NULL;
    }
    return s;
}

enum lf_status sd_lora_merge_host(struct lf_tensor *base, const struct sd_lora_job *jobs,
                                  size_t count, struct lf_tensor **out, struct lf_error *err)
{
    sgemm_fn sgemm = blas_sgemm();
    int64_t numel = lf_tensor_numel(base), n = base->shape[0], k = numel / n;
    if (!sgemm) return lf_error_set(err, LF_ERR_UNSUPPORTED, "OpenBLAS is not available");
    if (numel > 0x7fffffff)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "LoRA merge: tensor of 2^31 elements");
    float *w = malloc((size_t)numel * sizeof *w);
    if (!w) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = lf_tensor_download_f32(base, w, numel, err);
    for (size_t i = 0; i < count && !s; i++) {
        const struct sd_lora_module *m = jobs[i].module;
        float *up = NULL, *down = NULL;
        if (!(s = fetch(m->up, &up, err)) && !(s = fetch(m->down, &down, err)))
            sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, (int)n, (int)k, (int)m->rank,
                  jobs[i].scale, up, (int)m->rank, down, (int)k, 1.0f, w, (int)k);
        free(up);
        free(down);
    }
    if (!s) s = lf_tensor_from_f32(base->device, base->dtype, base->rank, base->shape, w, out, err);
    free(w);
    return s;
}
