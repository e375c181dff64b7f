/*
** vk_backend.c - the Vulkan backend's table (see backend.h).
*/
#include "vk_impl.h"

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
};
