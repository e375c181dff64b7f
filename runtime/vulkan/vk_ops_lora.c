/*
** vk_ops_lora.c - the Vulkan LoRA merge, in place: W += scale * up @ down
** (the checks are in ../ops_lora.c).
** Shader: lora_merge.comp (one invocation per weight element; the rank is
** small, so a GEMM kernel would gain little and need a temporary).
*/
#include "vk_ops.h"

struct lora_push {
    uint64_t w, up, down;
    uint32_t n, k, rank, w_dtype, up_dtype, down_dtype;
    float scale;
};

enum lf_status lf_vk_lora_merge(struct lf_tensor *weight, struct lf_tensor *up,
                                struct lf_tensor *down, float scale, struct lf_error *err)
{
    int64_t n = weight->shape[0], k = lf_tensor_numel(weight) / n, rank = up->shape[1];
    if (n * k >= ((int64_t)1 << 32) || n * rank >= ((int64_t)1 << 32) ||
        rank * k >= ((int64_t)1 << 32))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "lora_merge: tensors of 2^32 elements or more");
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
