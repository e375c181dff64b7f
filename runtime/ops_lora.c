/*
** ops_lora.c - merging a LoRA into a weight in place: W += scale * up @ down,
** f32 accumulation.  Argument and shape checks, then the tensors' backend
** (the Vulkan strategies are in vulkan/).
*/
#include "ops_impl.h"
#include "interrupt.h"

#include <string.h>

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
    if (n * k == 0) return LF_OK;
    if ((s = lf_interrupt_check("lora_merge", err))) return s;
    return lf_tensor_backend(weight)->lora_merge(weight, up, down, scale, err);
}
