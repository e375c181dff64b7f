/*
** vk_pipeline.c - compute pipelines for the embedded shaders.
**
** Pipelines are created on first use and kept for the device's life, keyed
** by shader name and specialization constants (device-tuned variants differ
** only in those, or are separate shaders).  One pipeline layout serves all:
** 128 bytes of push constants and no descriptor sets.  The driver's
** pipeline cache is saved under $XDG_CACHE_HOME/lcmflow (or ~/.cache/lcmflow)
** per device and driver version, so a second process skips compilation.
**
** The optional descriptor path (vk_impl.h) adds one set layout and one
** pipeline layout per binding kind: LF_VK_MAX_BINDINGS bindings of that
** kind in set 0 beside the same push constants.
*/
#include "vk_impl.h"
#include "vk_shaders.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SPEC 8

struct lf_pipeline {
    const char *shader; /* static string from the shader table */
    uint32_t spec[MAX_SPEC];
    uint32_t spec_count;
    int kind; /* -1: addresses only; else enum lf_vk_binding_kind */
    VkShaderModule module;
    VkPipeline pipeline;
    struct lf_pipeline *next;
};

static void cache_path(struct lf_vk_device *device)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dir[400];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/lcmflow", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/lcmflow", home);
    else {
        device->pipeline_cache_path[0] = '\0';
        return;
    }
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(device->physical, &props);
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++)
        snprintf(uuid + 2 * i, 3, "%02x", props.pipelineCacheUUID[i]);
    snprintf(device->pipeline_cache_path, sizeof device->pipeline_cache_path,
             "%s/pipelines-%04x-%04x-%s.bin", dir, props.vendorID, props.deviceID, uuid);
}

static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) &&
            fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        }
        *size = n > 0 ? (size_t)n : 0;
    }
    fclose(f);
    return data;
}

static void make_dirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
}

/* The descriptor path is optional: when a layout cannot be made, the
** kernels that need it are simply not offered (lf_vk_binding_fits fails). */
static void init_descriptor_layouts(struct lf_vk_device *device, const VkPushConstantRange *range)
{
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(device->physical, &props);
    device->max_texel_elements = props.limits.maxTexelBufferElements;
    device->texel_alignment = (uint32_t)props.limits.minTexelBufferOffsetAlignment;
    device->storage_alignment = (uint32_t)props.limits.minStorageBufferOffsetAlignment;
    VkFormatProperties f32, f16;
    vkGetPhysicalDeviceFormatProperties(device->physical, VK_FORMAT_R32G32B32A32_SFLOAT, &f32);
    vkGetPhysicalDeviceFormatProperties(device->physical, VK_FORMAT_R16G16B16A16_SFLOAT, &f16);
    device->texel_formats = (f32.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT) &&
                            (f16.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT);
    static const VkDescriptorType types[LF_VK_BINDING_KINDS] = {
        VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
        VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
    };
    for (int k = 0; k < LF_VK_BINDING_KINDS; k++) {
        VkDescriptorSetLayoutBinding b[LF_VK_MAX_BINDINGS];
        for (uint32_t i = 0; i < LF_VK_MAX_BINDINGS; i++)
            b[i] = (VkDescriptorSetLayoutBinding){
                .binding = i,
                .descriptorType = types[k],
                .descriptorCount = 1,
                .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
            };
        VkDescriptorSetLayoutCreateInfo sinfo = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = LF_VK_MAX_BINDINGS,
            .pBindings = b,
        };
        if (vkCreateDescriptorSetLayout(device->device, &sinfo, NULL, &device->set_layouts[k]) !=
            VK_SUCCESS) {
            device->set_layouts[k] = VK_NULL_HANDLE;
            continue;
        }
        VkPipelineLayoutCreateInfo linfo = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1,
            .pSetLayouts = &device->set_layouts[k],
            .pushConstantRangeCount = 1,
            .pPushConstantRanges = range,
        };
        if (vkCreatePipelineLayout(device->device, &linfo, NULL, &device->descriptor_layouts[k]) !=
            VK_SUCCESS)
            device->descriptor_layouts[k] = VK_NULL_HANDLE;
    }
}

bool lf_vk_binding_fits(const struct lf_vk_device *device, enum lf_vk_binding_kind kind,
                        uint64_t offset, uint64_t size, VkFormat format)
{
    if ((unsigned)kind >= LF_VK_BINDING_KINDS || !device->descriptor_layouts[kind] || size == 0)
        return false;
    if (kind == LF_VK_STORAGE)
        return offset % (device->storage_alignment ? device->storage_alignment : 1) == 0 &&
               size <= device->vk.max_storage_buffer_range;
    uint64_t texel = format == VK_FORMAT_R16G16B16A16_SFLOAT ? 8 : 16;
    return device->texel_formats && size % texel == 0 &&
           offset % (device->texel_alignment ? device->texel_alignment : 1) == 0 &&
           size / texel <= device->max_texel_elements;
}

enum lf_status lf_vk_pipelines_init(struct lf_vk_device *device, struct lf_error *err)
{
    uint32_t push = device->vk.max_push_constants < LF_PUSH_CONSTANT_SIZE
                        ? device->vk.max_push_constants
                        : LF_PUSH_CONSTANT_SIZE;
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = push};
    VkPipelineLayoutCreateInfo linfo = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &range,
    };
    VkResult r = vkCreatePipelineLayout(device->device, &linfo, NULL, &device->pipeline_layout);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating the pipeline layout", err);

    init_descriptor_layouts(device, &range);
    cache_path(device);
    size_t size = 0;
    void *data =
        device->pipeline_cache_path[0] ? read_file(device->pipeline_cache_path, &size) : NULL;
    /* No cache file yet: this device's first run, which on a CPU device
    ** (lavapipe) compiles for minutes before the first result. */
    if (device->pipeline_cache_path[0] && !data && lf_vk_is_cpu(device))
        fprintf(stderr,
                "lcmflow: compiling compute pipelines, first run only: this takes a "
                "few minutes on %s; progress follows\n",
                device->vk.driver_name);
    VkPipelineCacheCreateInfo cinfo = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = data ? size : 0,
        .pInitialData = data,
    };
    r = vkCreatePipelineCache(device->device, &cinfo, NULL, &device->pipeline_cache);
    if (r != VK_SUCCESS && data) {
        /* A stale or corrupt cache file is not an error: start empty. */
        cinfo.initialDataSize = 0;
        cinfo.pInitialData = NULL;
        r = vkCreatePipelineCache(device->device, &cinfo, NULL, &device->pipeline_cache);
    }
    free(data);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating the pipeline cache", err);
    return LF_OK;
}

/* Written to a temporary name and renamed, so readers never see half a file. */
static void save_cache(struct lf_vk_device *device)
{
    size_t size = 0;
    if (!device->pipeline_cache_path[0] || !device->pipelines ||
        vkGetPipelineCacheData(device->device, device->pipeline_cache, &size, NULL) != VK_SUCCESS ||
        size == 0)
        return;
    void *data = malloc(size);
    if (!data) return;
    if (vkGetPipelineCacheData(device->device, device->pipeline_cache, &size, data) == VK_SUCCESS) {
        char tmp[600];
        make_dirs(device->pipeline_cache_path);
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", device->pipeline_cache_path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(data, 1, size, f) == size;
            ok = (fclose(f) == 0) && ok;
            if (!ok || rename(tmp, device->pipeline_cache_path) != 0) remove(tmp);
        }
    }
    free(data);
}

void lf_vk_pipelines_finish(struct lf_vk_device *device)
{
    if (device->pipeline_cache) {
        save_cache(device);
        vkDestroyPipelineCache(device->device, device->pipeline_cache, NULL);
    }
    while (device->pipelines) {
        struct lf_pipeline *next = device->pipelines->next;
        vkDestroyPipeline(device->device, device->pipelines->pipeline, NULL);
        vkDestroyShaderModule(device->device, device->pipelines->module, NULL);
        free(device->pipelines);
        device->pipelines = next;
    }
    if (device->pipeline_layout)
        vkDestroyPipelineLayout(device->device, device->pipeline_layout, NULL);
    for (int k = 0; k < LF_VK_BINDING_KINDS; k++) {
        if (device->descriptor_layouts[k])
            vkDestroyPipelineLayout(device->device, device->descriptor_layouts[k], NULL);
        if (device->set_layouts[k])
            vkDestroyDescriptorSetLayout(device->device, device->set_layouts[k], NULL);
    }
}

#define SLOW_COMPILE_MS 2000.0

void lf_vk_note_compile(struct lf_vk_device *device, double ms)
{
    if (ms < SLOW_COMPILE_MS) return;
    device->slow_compiles++;
    device->slow_compile_ms += ms;
    fprintf(stderr,
            "lcmflow: compiling compute pipelines, first run only (the driver caches them): "
            "%u so far, %.0f s\n",
            device->slow_compiles, device->slow_compile_ms / 1e3);
}

static const struct lf_shader_blob *find_shader(const char *name)
{
    for (const struct lf_shader_blob *b = lf_shader_blobs; b->name; b++)
        if (!strcmp(b->name, name)) return b;
    return NULL;
}

static enum lf_status get_pipeline(struct lf_vk_device *device, const char *shader, int kind,
                                   const uint32_t *spec, uint32_t spec_count, VkPipeline *out,
                                   struct lf_error *err)
{
    if (spec_count > MAX_SPEC)
        return lf_error_set(err, LF_ERR_INVALID, "shader %s: too many specialization constants",
                            shader);
    for (struct lf_pipeline *p = device->pipelines; p; p = p->next)
        if (!strcmp(p->shader, shader) && p->kind == kind && p->spec_count == spec_count &&
            (spec_count == 0 || !memcmp(p->spec, spec, spec_count * sizeof *spec))) {
            *out = p->pipeline;
            return LF_OK;
        }
    const struct lf_shader_blob *blob = find_shader(shader);
    if (!blob)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "no shader named '%s' is built in", shader);
    struct lf_pipeline *p = calloc(1, sizeof *p);
    if (!p) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    p->shader = blob->name;
    p->kind = kind;
    p->spec_count = spec_count;
    if (spec_count) memcpy(p->spec, spec, spec_count * sizeof *spec);

    VkShaderModuleCreateInfo minfo = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = blob->size,
        .pCode = blob->code,
    };
    VkResult r = vkCreateShaderModule(device->device, &minfo, NULL, &p->module);
    if (r != VK_SUCCESS) {
        free(p);
        return lf_vk_error(device, r, "creating a shader module", err);
    }
    VkSpecializationMapEntry entries[MAX_SPEC];
    for (uint32_t i = 0; i < spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){
            .constantID = i, .offset = i * (uint32_t)sizeof(uint32_t), .size = sizeof(uint32_t)};
    VkSpecializationInfo sinfo = {
        .mapEntryCount = spec_count,
        .pMapEntries = entries,
        .dataSize = spec_count * sizeof(uint32_t),
        .pData = p->spec,
    };
    VkComputePipelineCreateInfo pinfo = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        /* Large dispatches are split into slices (vk_command.c). */
        .flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = p->module,
                .pName = "main",
                .pSpecializationInfo = spec_count ? &sinfo : NULL,
            },
        .layout = kind < 0 ? device->pipeline_layout : device->descriptor_layouts[kind],
    };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = vkCreateComputePipelines(device->device, device->pipeline_cache, 1, &pinfo, NULL,
                                 &p->pipeline);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lf_vk_note_compile(device, (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    if (r != VK_SUCCESS) {
        vkDestroyShaderModule(device->device, p->module, NULL);
        free(p);
        enum lf_status s = lf_vk_error(device, r, "creating a compute pipeline", err);
        lf_error_prefix(err, "shader %s", shader);
        return s;
    }
    p->next = device->pipelines;
    device->pipelines = p;
    *out = p->pipeline;
    return LF_OK;
}

enum lf_status lf_vk_pipeline_get(struct lf_vk_device *device, const char *shader,
                                  const uint32_t *spec, uint32_t spec_count, VkPipeline *out,
                                  struct lf_error *err)
{
    return get_pipeline(device, shader, -1, spec, spec_count, out, err);
}

enum lf_status lf_vk_pipeline_get_bound(struct lf_vk_device *device, const char *shader,
                                        enum lf_vk_binding_kind kind, const uint32_t *spec,
                                        uint32_t spec_count, VkPipeline *out, struct lf_error *err)
{
    if ((unsigned)kind >= LF_VK_BINDING_KINDS || !device->descriptor_layouts[kind])
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "shader %s: the descriptor path is not available on this device",
                            shader);
    return get_pipeline(device, shader, (int)kind, spec, spec_count, out, err);
}
