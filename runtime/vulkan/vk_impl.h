/*
** vk_impl.h - the Vulkan backend's device, private to the runtime.
**
** Layout of the Vulkan backend (its table: vk_backend.c; the seam it
** implements: ../backend.h):
**   vk_device.c    instance, device listing, features, lifecycle
**   vk_memory.c    the suballocating allocator behind tensors
**   vk_pipeline.c  compute pipelines for the embedded shaders, on-disk cache
**   vk_command.c   recording dispatches, batching submits, transfers
**   vk_ops*.c      the op kernels: push constants, variant choice, dispatch
**                  (vk_ops.h); the checks are the fronts' (../ops_*.c)
**
** Every shader reaches tensors by buffer device address: push constants
** carry 64-bit addresses, so no descriptor sets exist and a tensor may be
** larger than maxStorageBufferRange.
**
** An optional descriptor path serves kernels that read faster through
** descriptors on some devices (lavapipe turns a load through an address
** into a loop over the lanes per component; texel fetches become gathers):
** up to LF_VK_MAX_BINDINGS tensor ranges bound as uniform texel buffers or
** storage buffers in set 0, plus the same push constants.  Descriptor sets
** and buffer views live until the batch they were recorded in completes.
*/
#ifndef LCMFLOW_VK_IMPL_H
#define LCMFLOW_VK_IMPL_H

#include "backend.h"

#include <vulkan/vulkan.h>

#define LF_PUSH_CONSTANT_SIZE 128
#define LF_VK_MAX_BINDINGS    4

/* Descriptor kinds of the optional descriptor path. */
enum lf_vk_binding_kind {
    LF_VK_TEXEL = 0, /* uniform texel buffer, vec4 texels (RGBA32F or RGBA16F) */
    LF_VK_STORAGE,   /* storage buffer */
    LF_VK_BINDING_KINDS,
};

struct lf_memory_block;
struct lf_pipeline;

extern const struct lf_backend lf_vulkan_backend;

/* A range of a memory block owned by one or more tensors. */
struct lf_vk_buffer {
    struct lf_tensor_buffer base; /* base.device is a struct lf_vk_device */
    struct lf_memory_block *block;
    uint64_t offset; /* in block */
};

#define LF_VK_MAX_HEAPS 16

/* What the Vulkan backend knows of a physical device beyond the neutral
** lf_device_info (read by vk_device.c; `lcmflow devices` shows it as text). */
struct lf_vk_info {
    VkPhysicalDeviceType type;
    char driver_name[256];
    char driver_info[256];
    uint32_t api_version; /* VK_MAKE_API_VERSION layout */
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t subgroup_size;
    bool fp16;               /* shaderFloat16 + 16-bit storage */
    bool int8;               /* shaderInt8 + 8-bit storage */
    bool cooperative_matrix; /* VK_KHR_cooperative_matrix */
    bool buffer_device_address;
    uint64_t max_storage_buffer_range;
    uint32_t max_shared_memory;
    uint32_t max_push_constants;
    uint32_t heap_count;
    uint64_t heap_size[LF_VK_MAX_HEAPS];
    bool heap_device_local[LF_VK_MAX_HEAPS];
};

/* Host buffers of the LoRA merge on host-memory devices (vk_lora_host.c);
** grow-only, freed with the device. */
struct lf_vk_lora_scratch {
    float *w, *up, *down;
    uint16_t *half;
    size_t w_cap, up_cap, down_cap, half_cap; /* bytes */
};
void lf_vk_lora_scratch_free(struct lf_vk_lora_scratch *scratch);

#define LF_VK_RATE_SLOTS      1024 /* (pipeline, size) pairs whose cost is remembered */
#define LF_VK_BATCH_PIPELINES 32   /* distinct pipelines of a batch, corrected together */

struct lf_vk_device {
    struct lf_device base; /* base.backend == &lf_vulkan_backend */
    struct lf_vk_info vk;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    bool lost;
    uint32_t validation_errors;

    /* memory (vk_memory.c) */
    VkPhysicalDeviceMemoryProperties memory_properties;
    uint32_t memory_type;     /* for tensors */
    bool memory_host_visible; /* tensors can be mapped: no staging */
    uint32_t staging_type;
    uint64_t max_allocation;
    struct lf_memory_block *blocks;
    struct lf_device_memory_stats stats;
    VkBuffer staging_buffer;
    VkDeviceMemory staging_memory;
    void *staging_map;
    uint64_t staging_size;

    /* pipelines (vk_pipeline.c) */
    VkPipelineLayout pipeline_layout;
    VkPipelineCache pipeline_cache;
    struct lf_pipeline *pipelines;
    char pipeline_cache_path[512];

    /* descriptor path (vk_pipeline.c layouts, vk_command.c sets and views) */
    bool texel_formats;          /* RGBA32F and RGBA16F usable as uniform texel buffers */
    uint32_t max_texel_elements; /* maxTexelBufferElements */
    uint32_t texel_alignment;    /* minTexelBufferOffsetAlignment */
    uint32_t storage_alignment;  /* minStorageBufferOffsetAlignment */
    VkDescriptorSetLayout set_layouts[LF_VK_BINDING_KINDS];
    VkPipelineLayout descriptor_layouts[LF_VK_BINDING_KINDS];
    VkDescriptorPool descriptor_pool;
    VkBufferView *views; /* to destroy when the batch completes */
    uint32_t view_count, view_capacity;

    /* commands (vk_command.c) */
    VkCommandPool command_pool;
    VkCommandBuffer command_buffer;
    VkFence fence;
    bool recording;
    uint32_t pending_dispatches;
    VkPipeline bound_pipeline;
    /* Bounded batches (vk_command.c): the recorded batch's estimated run
    ** time, its one dispatch key (0: several) and workgroups, and the
    ** measured time per workgroup of each key (a pipeline and a dispatch
    ** size: a pipeline's cost per workgroup depends on its shapes). */
    double pending_ms;
    uint64_t batch_key;
    uint64_t batch_groups;
    struct lf_vk_rate {
        uint64_t key;
        double ms_per_group;
    } rates[LF_VK_RATE_SLOTS];
    uint64_t batch_keys[LF_VK_BATCH_PIPELINES]; /* distinct, for corrections */
    uint32_t batch_npipelines;
    double last_batch_ms;   /* how long the last submit took */
    uint32_t slow_compiles; /* lf_vk_note_compile's count */
    double slow_compile_ms;
    uint64_t dispatch_count; /* since creation, for tests and profiling */

    struct lf_vk_lora_scratch lora_scratch; /* vk_lora_host.c */
};

/* The Vulkan device behind a device of this backend. */
static inline struct lf_vk_device *lf_vk_device(struct lf_device *device)
{
    return (struct lf_vk_device *)device;
}

static inline struct lf_vk_buffer *lf_vk_buffer(const struct lf_tensor_buffer *buffer)
{
    return (struct lf_vk_buffer *)buffer;
}

/* Whether the device computes on the CPU (lavapipe/llvmpipe): kernel
** variants and llvmpipe's loop limit depend on it, inside this backend only. */
static inline bool lf_vk_is_cpu(const struct lf_vk_device *device)
{
    return device->vk.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
}

/* The Vulkan facts of a device, or NULL when it belongs to another
** backend (tests and benchmarks that print or check them). */
const struct lf_vk_info *lf_vk_device_info(const struct lf_device *device);

/* vk_device.c: the backend's device entries (see backend.h). */
enum lf_status lf_vk_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                          struct lf_error *err);
enum lf_status lf_vk_open(uint32_t index, const struct lf_device_options *options,
                          struct lf_device **out, struct lf_error *err);
void lf_vk_destroy(struct lf_device *device);
enum lf_status lf_vk_sync(struct lf_device *device, struct lf_error *err);
uint32_t lf_vk_validation_errors(const struct lf_device *device);

/* Maps a VkResult to a status with a message naming what failed. */
enum lf_status lf_vk_error(struct lf_vk_device *device, VkResult result, const char *what,
                           struct lf_error *err);

/* vk_memory.c; buffer_alloc and buffer_free are the backend's entries. */
enum lf_status lf_vk_memory_init(struct lf_vk_device *device, struct lf_error *err);
void lf_vk_memory_finish(struct lf_vk_device *device);
enum lf_status lf_vk_buffer_alloc(struct lf_device *device, uint64_t size,
                                  struct lf_tensor_buffer **out, struct lf_error *err);
void lf_vk_buffer_free(struct lf_tensor_buffer *buffer);
void lf_vk_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats);
void lf_vk_reset_peak(struct lf_device *device);
/* Host pointer of a tensor buffer when memory is host-visible, else NULL. */
void *lf_vk_buffer_map(const struct lf_tensor_buffer *buffer);
VkDeviceAddress lf_vk_buffer_address(const struct lf_tensor_buffer *buffer);
VkBuffer lf_vk_buffer_handle(const struct lf_tensor_buffer *buffer, uint64_t *offset);
/* Creates the staging buffer on first need (devices whose memory is not mapped). */
enum lf_status lf_vk_staging(struct lf_vk_device *device, struct lf_error *err);

/* vk_pipeline.c */
enum lf_status lf_vk_pipelines_init(struct lf_vk_device *device, struct lf_error *err);
void lf_vk_pipelines_finish(struct lf_vk_device *device);

/* A compute pipeline for an embedded shader, built on first use and kept.
** spec: specialization constants 0..spec_count-1 (e.g. local sizes). */
enum lf_status lf_vk_pipeline_get(struct lf_vk_device *device, const char *shader,
                                  const uint32_t *spec, uint32_t spec_count, VkPipeline *out,
                                  struct lf_error *err);

/* The descriptor path.  Like lf_vk_pipeline_get, for a shader whose set 0
** holds LF_VK_MAX_BINDINGS bindings of the given kind. */
/* A pipeline's first creation or first run took ms: when that is long (a
** driver compiling, lavapipe's first run), says so on stderr, once per
** such pipeline, with a running count, so a long silence is explained. */
void lf_vk_note_compile(struct lf_vk_device *device, double ms);

enum lf_status lf_vk_pipeline_get_bound(struct lf_vk_device *device, const char *shader,
                                        enum lf_vk_binding_kind kind, const uint32_t *spec,
                                        uint32_t spec_count, VkPipeline *out, struct lf_error *err);

/* One tensor range for the descriptor path.  For LF_VK_TEXEL, format is
** VK_FORMAT_R32G32B32A32_SFLOAT or VK_FORMAT_R16G16B16A16_SFLOAT and size
** a multiple of the texel size; offset must meet the device's alignment. */
struct lf_vk_binding {
    const struct lf_tensor_buffer *buffer; /* NULL: bind binding 0's range again */
    uint64_t offset;                       /* bytes from the start of buffer */
    uint64_t size;
    VkFormat format;
};

/* Whether a range can be bound: alignment and size limits of the device. */
bool lf_vk_binding_fits(const struct lf_vk_device *device, enum lf_vk_binding_kind kind,
                        uint64_t offset, uint64_t size, VkFormat format);

/* vk_command.c */
enum lf_status lf_vk_commands_init(struct lf_vk_device *device, struct lf_error *err);
void lf_vk_commands_finish(struct lf_vk_device *device);

/* Records one dispatch followed by a barrier that orders it before every
** later dispatch or transfer.  push is copied (at most 128 bytes). */
enum lf_status lf_vk_dispatch(struct lf_vk_device *device, VkPipeline pipeline, const void *push,
                              uint32_t push_size, uint32_t groups_x, uint32_t groups_y,
                              uint32_t groups_z, struct lf_error *err);

/* lf_vk_dispatch for a pipeline from lf_vk_pipeline_get_bound: binds
** count (<= LF_VK_MAX_BINDINGS) ranges first; unused bindings repeat the
** first range. */
enum lf_status lf_vk_dispatch_bound(struct lf_vk_device *device, VkPipeline pipeline,
                                    enum lf_vk_binding_kind kind,
                                    const struct lf_vk_binding *bindings, uint32_t count,
                                    const void *push, uint32_t push_size, uint32_t groups_x,
                                    uint32_t groups_y, uint32_t groups_z, struct lf_error *err);

/* Submits what was recorded and waits for it. */
enum lf_status lf_vk_flush(struct lf_vk_device *device, struct lf_error *err);

/* The backend's buffer_write and buffer_read: copy host bytes into / out
** of a buffer range, through staging when the memory is not host-visible.
** Both wait for recorded work first. */
enum lf_status lf_vk_write(struct lf_tensor_buffer *buffer, uint64_t offset, const void *data,
                           uint64_t size, struct lf_error *err);
enum lf_status lf_vk_read(struct lf_tensor_buffer *buffer, uint64_t offset, void *data,
                          uint64_t size, struct lf_error *err);

#endif
