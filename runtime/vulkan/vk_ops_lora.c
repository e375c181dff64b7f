/*
** vk_ops_lora.c - the Vulkan LoRA merge, in place: W += scale * up @ down,
** f32 accumulation from W's value, one rounding into W's dtype (the checks
** are in ../ops_lora.c).  Three strategies:
**   host  OpenBLAS on the host (vk_lora_host.c), on devices whose tensors
**         live in host memory when libopenblas.so.0 loads: lavapipe's
**         shaders are about 20x slower than it on the same cores.
**   gemm  device GEMM + add: delta = (scale * up) @ down, then W += delta;
**         the default elsewhere.
**   op    lora_merge.comp, one invocation per weight element; kept for
**         comparison (on lavapipe about 25x slower than GEMM + add).
** LCMFLOW_LORA_MERGE=host|gemm|op forces one (tests check each against a
** host computation; host falls back to gemm where it is unavailable).
*/
#include "vk_ops.h"

#include <stdlib.h>
#include <string.h>

enum strategy { MERGE_HOST, MERGE_GEMM, MERGE_OP };

static enum strategy choose(const struct lf_vk_device *device)
{
    const char *how = getenv("LCMFLOW_LORA_MERGE");
    if (how && !strcmp(how, "op")) return MERGE_OP;
    if (how && !strcmp(how, "gemm")) return MERGE_GEMM;
    return lf_vk_lora_host_available(device) ? MERGE_HOST : MERGE_GEMM;
}

struct lora_push {
    uint64_t w, up, down;
    uint32_t n, k, rank, w_dtype, up_dtype, down_dtype;
    float scale;
};

static enum lf_status merge_op(struct lf_tensor *weight, struct lf_tensor *up,
                               struct lf_tensor *down, float scale, int64_t n, int64_t k,
                               int64_t rank, struct lf_error *err)
{
    /* llvmpipe (Mesa 22) silently stops an invocation after 65535 loop
    ** iterations: the shader loops over the rank. */
    if (lf_vk_is_cpu(lf_vk_tensor_device(weight)) && rank >= 65535)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "lora_merge: rank %lld is too large",
                            (long long)rank);
    struct lora_push p = {
        .w = lf_vk_address(weight),
        .up = lf_vk_address(up),
        .down = lf_vk_address(down),
        .n = (uint32_t)n,
        .k = (uint32_t)k,
        .rank = (uint32_t)rank,
        .w_dtype = lf_vk_dtype(weight),
        .up_dtype = lf_vk_dtype(up),
        .down_dtype = lf_vk_dtype(down),
        .scale = scale,
    };
    return lf_vk_run_1d(lf_vk_tensor_device(weight), "lora_merge", &p, sizeof p, (uint64_t)(n * k),
                        64, err);
}

/* delta = (scale * up) @ down as [N, K] in f32 (a conv's K is C*kh*kw: the
** same numbers in the same order), then W += delta by the binary kernel
** writing over its first operand: each invocation reads both operands at
** its own index before writing it, so W may be the output. */
static enum lf_status merge_gemm(struct lf_tensor *weight, struct lf_tensor *up,
                                 struct lf_tensor *down, float scale, int64_t n, int64_t k,
                                 int64_t rank, struct lf_error *err)
{
    int64_t us[2] = {n, rank}, ds[2] = {rank, k};
    struct lf_tensor *up2 = NULL, *down2 = NULL, *scaled = NULL, *delta = NULL, *view = NULL;
    enum lf_status s;
    if (!(s = lf_tensor_reshape(up, 2, us, &up2, err)) &&
        !(s = lf_tensor_reshape(down, 2, ds, &down2, err)) &&
        !(s = lf_tensor_create(up->device, LF_DTYPE_F32, 2, us, &scaled, err)) &&
        !(s = lf_vk_unary(up2, LF_BACKEND_UNARY_IDENTITY, scale, 0.0f, scaled, err)) &&
        !(s = lf_op_gemm(scaled, down2, NULL, false, false, &delta, err)) &&
        !(s = lf_tensor_reshape(delta, weight->rank, weight->shape, &view, err)))
        s = lf_vk_binary(weight, view, LF_BINARY_ADD, weight, err);
    lf_tensor_release(up2), lf_tensor_release(down2);
    lf_tensor_release(scaled), lf_tensor_release(delta), lf_tensor_release(view);
    return s;
}

enum lf_status lf_vk_lora_merge(struct lf_tensor *weight, struct lf_tensor *up,
                                struct lf_tensor *down, float scale, struct lf_error *err)
{
    int64_t n = weight->shape[0], k = lf_tensor_numel(weight) / n, rank = up->shape[1];
    if (n * k >= ((int64_t)1 << 32) || n * rank >= ((int64_t)1 << 32) ||
        rank * k >= ((int64_t)1 << 32))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "lora_merge: tensors of 2^32 elements or more");
    switch (choose(lf_vk_tensor_device(weight))) {
    case MERGE_HOST:
        return lf_vk_lora_merge_host(weight, up, down, scale, err);
    case MERGE_OP:
        return merge_op(weight, up, down, scale, n, k, rank, err);
    case MERGE_GEMM:
        break;
    }
    return merge_gemm(weight, up, down, scale, n, k, rank, err);
}
