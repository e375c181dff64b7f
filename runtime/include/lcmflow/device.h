/*
** device.h - compute devices: what they are, and opening one.
**
** A device belongs to a backend: Vulkan (a GPU, or lavapipe on the CPU)
** or, when built, the native CPU backend.  lf_device_list numbers the
** devices of every backend in one list; lf_device_create picks one
** (LCMFLOW_DEVICE or an explicit index overrides), ready for tensors
** (tensor.h) and ops (ops.h).  Work recorded by the ops runs when
** lf_device_sync is called or when a download needs the result.
**
** The info here is backend-neutral: a policy asks a capability
** (LF_DEVICE_CAP_*), never which driver it is.  Backend-specific facts
** (driver, API version, subgroup size...) are only text, in details.
*/
#ifndef LCMFLOW_DEVICE_H
#define LCMFLOW_DEVICE_H

#include "lcmflow/error.h"

#include <stdbool.h>
#include <stdint.h>

enum lf_backend_kind {
    LF_BACKEND_VULKAN = 0,
    LF_BACKEND_CPU,
};

enum lf_device_type {
    LF_DEVICE_OTHER = 0,
    LF_DEVICE_INTEGRATED_GPU,
    LF_DEVICE_DISCRETE_GPU,
    LF_DEVICE_VIRTUAL_GPU,
    LF_DEVICE_CPU, /* computes on the host's cores (lavapipe, the CPU backend) */
};

/* Capability flags (lf_device_info.caps). */
enum lf_device_cap {
    /* lcmflow can run on it (Vulkan: 1.2 with bufferDeviceAddress and
    ** shaderInt64); only such devices are picked automatically. */
    LF_DEVICE_CAP_SUPPORTED = 1u << 0,
    /* f16 tensors can be stored (and are converted by every op). */
    LF_DEVICE_CAP_F16_STORAGE = 1u << 1,
    /* Computes f16 natively: f16 activations are worth it (halved memory
    ** traffic); without it they only cost conversions. */
    LF_DEVICE_CAP_F16_ARITHMETIC = 1u << 2,
    /* bf16 tensors can be computed on (not only loaded). */
    LF_DEVICE_CAP_BF16 = 1u << 3,
    /* Tensors live in host memory and the host computes as fast as the
    ** device: a host-side step (a LoRA merge by BLAS) is cheap. */
    LF_DEVICE_CAP_HOST_MEMORY = 1u << 4,
    /* Its kernels read f16 weights as they are, so f16 halves the weights'
    ** memory and traffic: dtype auto picks f16 weights.  (The CPU backend
    ** stores f16 but widens weights to f32 once at load: auto is f32.) */
    LF_DEVICE_CAP_F16_WEIGHTS = 1u << 5,
    /* Computes bf16 natively (AVX512_BF16 or AMX found by cpuid and used by
    ** oneDNN): dtype auto picks bf16 weights and activations.  Without it
    ** LF_DEVICE_CAP_BF16 may still hold (emulated, about a quarter of f32
    ** speed), so bf16 runs when asked for but is never chosen. */
    LF_DEVICE_CAP_BF16_NATIVE = 1u << 6,
};

/* What a device is and can do; plain data, copied freely. */
struct lf_device_info {
    uint32_t index; /* position in lf_device_list's combined list */
    enum lf_backend_kind backend;
    enum lf_device_type type;
    uint32_t caps;        /* LF_DEVICE_CAP_* */
    uint64_t memory_size; /* bytes of the memory tensors live in */
    char name[256];
    char details[512]; /* free text for people: driver, API version, ... */
};

const char *lf_backend_kind_name(enum lf_backend_kind kind);
const char *lf_device_type_name(enum lf_device_type type);

/* Lists the devices of every backend (index = position in this list).
** infos may be NULL to count only; at most capacity entries are written;
** *count receives the total. */
enum lf_status lf_device_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                              struct lf_error *err);

/* The same list in one new array (*infos malloc'd, caller frees; NULL when
** *count is 0): the backends are asked once, so the count and the entries
** agree. */
enum lf_status lf_device_list_alloc(struct lf_device_info **infos, uint32_t *count,
                                    struct lf_error *err);

struct lf_device_options {
    int index;       /* position in lf_device_list; -1: LCMFLOW_DEVICE if
                        set, else the best device */
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
    uint64_t in_use;      /* bytes of tensors alive now */
    uint64_t peak_in_use; /* the maximum of in_use since creation or reset */
    uint64_t reserved;    /* bytes of device memory blocks held */
    uint64_t peak_reserved;
};
void lf_device_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats);
void lf_device_reset_peak(struct lf_device *device);

/* Number of validation-layer errors seen (0 when validation is off).  Tests
** fail when it is non-zero. */
uint32_t lf_device_validation_errors(const struct lf_device *device);

/* Whether the device has every capability in caps (LF_DEVICE_CAP_*). */
bool lf_device_has(const struct lf_device *device, uint32_t caps);

/* Whether f16 storage can be used for tensors on this device
** (lf_device_has(device, LF_DEVICE_CAP_F16_STORAGE)). */
bool lf_device_supports_f16(const struct lf_device *device);

#endif
