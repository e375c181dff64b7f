/*
** device.h - the compute device: a Vulkan physical device opened for compute.
**
** lf_device_create picks a device (discrete GPU first, then integrated, then
** virtual, then CPU implementations such as lavapipe; LCMFLOW_DEVICE or an
** explicit index overrides), creates one compute queue, a suballocating
** memory allocator, an on-disk pipeline cache, and a command recorder that
** batches many dispatches into one submit.  Work recorded by the ops runs
** when lf_device_sync is called or when a download needs the result.
**
** Node code never sees Vulkan types: it talks to a device through tensors
** (tensor.h) and ops (ops.h).
*/
#ifndef LCMFLOW_DEVICE_H
#define LCMFLOW_DEVICE_H

#include "lcmflow/error.h"

#include <stdbool.h>
#include <stdint.h>

enum lf_device_type {
    LF_DEVICE_OTHER = 0,
    LF_DEVICE_INTEGRATED_GPU,
    LF_DEVICE_DISCRETE_GPU,
    LF_DEVICE_VIRTUAL_GPU,
    LF_DEVICE_CPU,
};

#define LF_DEVICE_MAX_HEAPS 16

/* What a device is and can do; plain data, copied freely. */
struct lf_device_info {
    uint32_t index; /* position in Vulkan's enumeration */
    enum lf_device_type type;
    char name[256];
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
    uint64_t heap_size[LF_DEVICE_MAX_HEAPS];
    bool heap_device_local[LF_DEVICE_MAX_HEAPS];
};

const char *lf_device_type_name(enum lf_device_type type);

/* Lists the Vulkan devices.  infos may be NULL to count only; at most
** capacity entries are written; *count receives the total. */
enum lf_status lf_device_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                              struct lf_error *err);

struct lf_device_options {
    int index;       /* -1: LCMFLOW_DEVICE if set, else the best device */
    bool validation; /* enable the Khronos validation layer if installed;
                        also enabled by LCMFLOW_VALIDATION=1 */
};

struct lf_device;

/* Opens a device.  On success *out is owned by the caller: lf_device_destroy. */
enum lf_status lf_device_create(const struct lf_device_options *options, struct lf_device **out,
                                struct lf_error *err);

/* Waits for outstanding work and frees everything.  NULL is allowed.  Every
** tensor of the device must have been released before. */
void lf_device_destroy(struct lf_device *device);

/* Borrowed, valid until lf_device_destroy. */
const struct lf_device_info *lf_device_get_info(const struct lf_device *device);

/* Submits the recorded work and waits for it.  Reports device loss and
** out-of-memory as errors. */
enum lf_status lf_device_sync(struct lf_device *device, struct lf_error *err);

struct lf_device_memory_stats {
    uint64_t in_use;       /* bytes of tensors alive now */
    uint64_t peak_in_use;  /* the maximum of in_use since creation or reset */
    uint64_t reserved;     /* bytes of device memory blocks held */
    uint64_t peak_reserved;
};
void lf_device_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats);
void lf_device_reset_peak(struct lf_device *device);

/* Number of validation-layer errors seen (0 when validation is off).  Tests
** fail when it is non-zero. */
uint32_t lf_device_validation_errors(const struct lf_device *device);

/* Whether f16 storage can be used for tensors on this device. */
bool lf_device_supports_f16(const struct lf_device *device);

#endif
