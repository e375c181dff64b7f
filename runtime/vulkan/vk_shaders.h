/*
** vk_shaders.h - the SPIR-V embedded at build time (shaders/meson.build).
*/
#ifndef LCMFLOW_VK_SHADERS_H
#define LCMFLOW_VK_SHADERS_H

#include <stddef.h>
#include <stdint.h>

struct lf_shader_blob {
    const char *name;
    const uint32_t *code;
    size_t size; /* bytes */
};

/* Terminated by an entry whose name is NULL. */
extern const struct lf_shader_blob lf_shader_blobs[];

#endif
