/*
** vk_backend.c - the Vulkan backend's table (contracts in backend.h).
*/
#include "vk_ops.h"

const struct lf_backend lf_vulkan_backend = {
    .name = "vulkan",
    .kind = LF_BACKEND_VULKAN,
    .list = lf_vk_list,
    .open = lf_vk_open,
    .destroy = lf_vk_destroy,
    .sync = lf_vk_sync,
    .buffer_alloc = lf_vk_buffer_alloc,
    .buffer_free = lf_vk_buffer_free,
    .buffer_write = lf_vk_write,
    .buffer_read = lf_vk_read,
    .memory_stats = lf_vk_memory_stats,
    .reset_peak = lf_vk_reset_peak,
    .validation_errors = lf_vk_validation_errors,
    .gemm = lf_vk_gemm,
    .conv2d = lf_vk_conv2d,
    .group_norm = lf_vk_group_norm,
    .layer_norm = lf_vk_layer_norm,
    .attention = lf_vk_attention,
    .softmax = lf_vk_softmax,
    .unary = lf_vk_unary,
    .geglu = lf_vk_geglu,
    .binary = lf_vk_binary,
    .fill = lf_vk_fill,
    .concat = lf_vk_concat,
    .resize_nearest = lf_vk_resize_nearest,
    .permute = lf_vk_permute,
    .timestep_embedding = lf_vk_timestep_embedding,
    .lora_merge = lf_vk_lora_merge,
    /* weight_prepare: none; the conv kernels pack weights per call. */
};
