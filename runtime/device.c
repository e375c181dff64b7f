/*
** device.c - the backend-neutral device front: the list of compiled
** backends, one device list over all of them, choosing and opening a
** device, and the calls every device answers (see backend.h).
*/
#include "backend.h"
#include "lcmflow/device_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The compiled backends, in listing order.  A new backend adds one line
** here, behind the macro its meson option defines. */
extern const struct lf_backend lf_vulkan_backend;
#ifdef LF_HAVE_CPU_BACKEND
extern const struct lf_backend lf_cpu_backend;
#endif

static const struct lf_backend *const backends[] = {
    &lf_vulkan_backend,
#ifdef LF_HAVE_CPU_BACKEND
    &lf_cpu_backend,
#endif
};
#define BACKEND_COUNT (sizeof backends / sizeof *backends)

const struct lf_backend *const *lf_backend_all(size_t *count)
{
    *count = BACKEND_COUNT;
    return backends;
}

const char *lf_backend_kind_name(enum lf_backend_kind kind)
{
    switch (kind) {
    case LF_BACKEND_VULKAN:
        return "Vulkan";
    case LF_BACKEND_CPU:
        return "CPU";
    }
    return "?";
}

const char *lf_device_type_name(enum lf_device_type type)
{
    switch (type) {
    case LF_DEVICE_INTEGRATED_GPU:
        return "integrated GPU";
    case LF_DEVICE_DISCRETE_GPU:
        return "discrete GPU";
    case LF_DEVICE_VIRTUAL_GPU:
        return "virtual GPU";
    case LF_DEVICE_CPU:
        return "CPU";
    case LF_DEVICE_OTHER:
        break;
    }
    return "other";
}

/* One entry of the combined list: its backend and its number there. */
struct listed {
    const struct lf_backend *backend;
    uint32_t local_index;
    struct lf_device_info info;
};

/* Every backend's devices in one array (*out malloc'd, caller frees; NULL
** when there are none). */
static enum lf_status list_all(struct listed **out, uint32_t *count, struct lf_error *err)
{
    *out = NULL;
    *count = 0;
    uint32_t total = 0, n[BACKEND_COUNT];
    for (size_t b = 0; b < BACKEND_COUNT; b++) {
        enum lf_status s = backends[b]->list(NULL, 0, &n[b], err);
        if (s) return s;
        total += n[b];
    }
    if (total == 0) return LF_OK;
    struct listed *all = calloc(total, sizeof *all);
    struct lf_device_info *infos = calloc(total, sizeof *infos);
    if (!all || !infos) {
        free(all), free(infos);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "listing devices: out of memory");
    }
    uint32_t at = 0;
    for (size_t b = 0; b < BACKEND_COUNT && at < total; b++) {
        uint32_t got = 0;
        enum lf_status s = backends[b]->list(infos, total - at, &got, err);
        if (s) {
            free(all), free(infos);
            return s;
        }
        for (uint32_t i = 0; i < got && at < total; i++, at++) {
            all[at].backend = backends[b];
            all[at].local_index = i;
            all[at].info = infos[i];
            all[at].info.index = at;
        }
    }
    free(infos);
    *out = all;
    *count = at;
    return LF_OK;
}

enum lf_status lf_device_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                              struct lf_error *err)
{
    struct listed *all;
    enum lf_status s = list_all(&all, count, err);
    if (s) return s;
    for (uint32_t i = 0; infos && i < *count && i < capacity; i++)
        infos[i] = all[i].info;
    free(all);
    return LF_OK;
}

enum lf_status lf_device_list_alloc(struct lf_device_info **infos, uint32_t *count,
                                    struct lf_error *err)
{
    struct listed *all;
    *infos = NULL;
    enum lf_status s = list_all(&all, count, err);
    if (s || *count == 0) return s;
    struct lf_device_info *out = malloc(*count * sizeof *out);
    if (!out) {
        free(all);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "listing devices: out of memory");
    }
    for (uint32_t i = 0; i < *count; i++)
        out[i] = all[i].info;
    free(all);
    *infos = out;
    return LF_OK;
}

/* Higher is preferred; devices lcmflow cannot run on are never picked.
** This is where the order across backends is decided: today a real GPU
** over a software one (discrete, integrated, virtual, then CPU devices such
** as lavapipe).  With the CPU backend: GPUs first, then the CPU backend,
** lavapipe only when asked for by index. */
static int preference(const struct lf_device_info *info)
{
    if (!(info->caps & LF_DEVICE_CAP_SUPPORTED)) return -1;
    switch (info->type) {
    case LF_DEVICE_DISCRETE_GPU:
        return 4;
    case LF_DEVICE_INTEGRATED_GPU:
        return 3;
    case LF_DEVICE_VIRTUAL_GPU:
        return 2;
    case LF_DEVICE_CPU:
        /* A native CPU backend runs the same CPU several times faster than
        ** a software Vulkan (lavapipe), which is used when asked for or when
        ** nothing else exists. */
        return info->backend == LF_BACKEND_CPU ? 1 : 0;
    case LF_DEVICE_OTHER:
        break;
    }
    return 0;
}

/* The position in all[] to open: requested, LCMFLOW_DEVICE, or the best. */
static enum lf_status choose(const struct listed *all, uint32_t count, int requested, int *index,
                             struct lf_error *err)
{
    *index = requested;
    if (*index < 0) {
        enum lf_status s = lf_device_select(NULL, index, err); /* LCMFLOW_DEVICE */
        if (s) return s;
    }
    if (*index >= (int)count)
        return lf_error_set(err, LF_ERR_INVALID,
                            "device %d does not exist: %u device%s (see 'lcmflow devices')", *index,
                            count, count == 1 ? "" : "s");
    if (*index >= 0) return LF_OK;
    int best = -1;
    for (uint32_t i = 0; i < count; i++)
        if (preference(&all[i].info) > best) {
            best = preference(&all[i].info);
            *index = (int)i;
        }
    if (*index < 0)
        return lf_error_set(err, LF_ERR_NO_DEVICE,
                            "no device supports what lcmflow needs (Vulkan 1.2 with "
                            "bufferDeviceAddress and shaderInt64)");
    return LF_OK;
}

enum lf_status lf_device_create(const struct lf_device_options *options, struct lf_device **out,
                                struct lf_error *err)
{
    struct lf_device_options defaults = {.index = -1};
    if (!options) options = &defaults;
    *out = NULL;
    struct listed *all;
    uint32_t count;
    int index;
    enum lf_status s = list_all(&all, &count, err);
    if (s) return s;
    if (count == 0)
        return lf_error_set(err, LF_ERR_NO_DEVICE,
                            "no compute device found: no Vulkan device (install "
                            "mesa-vulkan-drivers for lavapipe, or a GPU driver)");
    if (!(s = choose(all, count, options->index, &index, err)) &&
        !(s = all[index].backend->open(all[index].local_index, options, out, err)))
        (*out)->info.index = (uint32_t)index;
    free(all);
    return s;
}

void lf_device_destroy(struct lf_device *device)
{
    if (device) device->backend->destroy(device);
}

const struct lf_device_info *lf_device_get_info(const struct lf_device *device)
{
    return &device->info;
}

enum lf_status lf_device_sync(struct lf_device *device, struct lf_error *err)
{
    return device->backend->sync(device, err);
}

void lf_device_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats)
{
    device->backend->memory_stats(device, stats);
}

void lf_device_reset_peak(struct lf_device *device)
{
    device->backend->reset_peak(device);
}

uint32_t lf_device_validation_errors(const struct lf_device *device)
{
    return device->backend->validation_errors ? device->backend->validation_errors(device) : 0;
}

bool lf_device_has(const struct lf_device *device, uint32_t caps)
{
    return (device->info.caps & caps) == caps;
}

bool lf_device_supports_f16(const struct lf_device *device)
{
    return lf_device_has(device, LF_DEVICE_CAP_F16_STORAGE);
}
