/*
** ops_lora.c - merging a LoRA into a weight in place: W += scale * up @ down.
** Shader: lora_merge.comp (one invocation per weight element; the rank is
** small, so a GEMM kernel would gain little and need a temporary).
*/
#include "ops_impl.h"

#include <string.h>

struct lora_push {
    uint64_t w, up, down;
    uint32_t n, k, rank, w_dtype, up_dtype, down_dtype;
    float scale;
};

static enum lf_status lora_shape_error(struct lf_tensor *w, struct lf_tensor *up,
                                       struct lf_tensor *down, struct lf_error *err)
{
    char tw[96], tu[96], td[96];
    return lf_error_set(err, LF_ERR_INVALID,
                        "lora_merge: weight %s, up %s and down %s do not fit (want linear "
                        "[N, K], [N, r], [r, K] or conv [O, C, KH, KW], [O, r, 1, 1], "
                        "[r, C, KH, KW])",
                        lf_op_shape_text(w, tw, sizeof tw), lf_op_shape_text(up, tu, sizeof tu),
                        lf_op_shape_text(down, td, sizeof td));
}

enum lf_status lf_op_lora_merge(struct lf_tensor *weight, struct lf_tensor *up,
                                struct lf_tensor *down, float scale, struct lf_error *err)
{
    enum lf_status s;
    if ((s = lf_op_check_float(weight, "lora_merge", "weight", err)) ||
        (s = lf_op_check_float(up, "lora_merge", "up", err)) ||
        (s = lf_op_check_float(down, "lora_merge", "down", err)) ||
        (s = lf_op_check_device("lora_merge", weight, up, err)) ||
        (s = lf_op_check_device("lora_merge", weight, down, err)))
        return s;
    int64_t n, k, rank;
    if (weight->rank == 2) {
        if (up->rank != 2 || down->rank != 2) return lora_shape_error(weight, up, down, err);
        n = weight->shape[0];
        k = weight->shape[1];
        rank = up->shape[1];
        if (up->shape[0] != n || down->shape[0] != rank || down->shape[1] != k)
            return lora_shape_error(weight, up, down, err);
    } else if (weight->rank == 4) {
        if (up->rank != 4 || down->rank != 4 || up->shape[2] != 1 || up->shape[3] != 1)
            return lora_shape_error(weight, up, down, err);
        n = weight->shape[0];
        rank = up->shape[1];
        if (up->shape[0] != n || down->shape[0] != rank ||
            memcmp(&down->shape[1], &weight->shape[1], 3 * sizeof(int64_t)) != 0)
            return lora_shape_error(weight, up, down, err);
        k = weight->shape[1] * weight->shape[2] * weight->shape[3];
    } else {
        return lora_shape_error(weight, up, down, err);
    }
    if (n * k >= ((int64_t)1 << 32) || n * rank >= ((int64_t)1 << 32) ||
        rank * k >= ((int64_t)1 << 32))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "lora_merge: tensors of 2^32 elements or more");
    /* llvmpipe (Mesa 22) silently stops an invocation after 65535 loop
    ** iterations: the shader loops over the rank. */
    if (lf_vk_is_cpu(lf_vk_device(weight->device)) && rank >= 65535)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "lora_merge: rank %lld is too large",
                            (long long)rank);
    struct lora_push p = {
        .w = lf_op_address(weight),
        .up = lf_op_address(up),
        .down = lf_op_address(down),
        .n = (uint32_t)n,
        .k = (uint32_t)k,
        .rank = (uint32_t)rank,
        .w_dtype = lf_op_dtype(weight),
        .up_dtype = lf_op_dtype(up),
        .down_dtype = lf_op_dtype(down),
        .scale = scale,
    };
    return lf_op_run_1d(weight->device, "lora_merge", &p, sizeof p, (uint64_t)(n * k), 64, err);
}
