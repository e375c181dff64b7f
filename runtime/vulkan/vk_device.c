/*
** vk_device.c - Vulkan instance, device listing and selection, lifecycle.
*/
#include "vk_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

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

enum lf_status lf_vk_error(struct lf_device *device, VkResult result, const char *what,
                           struct lf_error *err)
{
    switch (result) {
    case VK_ERROR_DEVICE_LOST:
        if (device) device->lost = true;
        return lf_error_set(err, LF_ERR_DEVICE_LOST, "%s: the Vulkan device was lost", what);
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return lf_error_set(err, LF_ERR_OUT_OF_DEVICE_MEMORY, "%s: out of device memory", what);
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "%s: out of host memory", what);
    case VK_ERROR_INITIALIZATION_FAILED:
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return lf_error_set(err, LF_ERR_NO_DEVICE, "%s: no usable Vulkan driver (VkResult %d)",
                            what, (int)result);
    default:
        return lf_error_set(err, LF_ERR_DEVICE, "%s failed (VkResult %d)", what, (int)result);
    }
}

static bool layer_available(const char *name)
{
    uint32_t count = 0;
    if (vkEnumerateInstanceLayerProperties(&count, NULL) != VK_SUCCESS || count == 0) return false;
    VkLayerProperties *layers = calloc(count, sizeof *layers);
    bool found = false;
    if (layers && vkEnumerateInstanceLayerProperties(&count, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < count; i++)
            if (!strcmp(layers[i].layerName, name)) found = true;
    free(layers);
    return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    struct lf_device *device = user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        if (device) device->validation_errors++;
        fprintf(stderr, "lcmflow: Vulkan validation error: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

static enum lf_status create_instance(struct lf_device *device, bool validation, VkInstance *out,
                                      struct lf_error *err)
{
    const char *layers[1] = {VALIDATION_LAYER};
    const char *extensions[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "lcmflow",
        .pEngineName = "lcmflow",
        .apiVersion = VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
    };
    if (validation) {
        info.enabledLayerCount = 1;
        info.ppEnabledLayerNames = layers;
        info.enabledExtensionCount = 1;
        info.ppEnabledExtensionNames = extensions;
    }
    VkResult r = vkCreateInstance(&info, NULL, out);
    if (r != VK_SUCCESS)
        return lf_vk_error(device, r,
                           "creating the Vulkan instance (is a Vulkan driver installed? "
                           "mesa-vulkan-drivers provides lavapipe)",
                           err);
    return LF_OK;
}

static bool has_extension(VkPhysicalDevice physical, const char *name)
{
    uint32_t count = 0;
    bool found = false;
    vkEnumerateDeviceExtensionProperties(physical, NULL, &count, NULL);
    VkExtensionProperties *ext = calloc(count ? count : 1, sizeof *ext);
    if (ext && vkEnumerateDeviceExtensionProperties(physical, NULL, &count, ext) == VK_SUCCESS)
        for (uint32_t i = 0; i < count; i++)
            if (!strcmp(ext[i].extensionName, name)) found = true;
    free(ext);
    return found;
}

static void read_info(VkPhysicalDevice physical, uint32_t index, struct lf_device_info *info)
{
    VkPhysicalDeviceDriverProperties driver = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties subgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &driver};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                         .pNext = &subgroup};
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 features = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                          .pNext = &f11};
    VkPhysicalDeviceMemoryProperties memory;

    vkGetPhysicalDeviceProperties2(physical, &props);
    vkGetPhysicalDeviceFeatures2(physical, &features);
    vkGetPhysicalDeviceMemoryProperties(physical, &memory);

    memset(info, 0, sizeof *info);
    info->index = index;
    switch (props.properties.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        info->type = LF_DEVICE_INTEGRATED_GPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        info->type = LF_DEVICE_DISCRETE_GPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        info->type = LF_DEVICE_VIRTUAL_GPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        info->type = LF_DEVICE_CPU;
        break;
    default:
        info->type = LF_DEVICE_OTHER;
        break;
    }
    snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
    snprintf(info->driver_name, sizeof info->driver_name, "%s", driver.driverName);
    snprintf(info->driver_info, sizeof info->driver_info, "%s", driver.driverInfo);
    info->api_version = props.properties.apiVersion;
    info->vendor_id = props.properties.vendorID;
    info->device_id = props.properties.deviceID;
    info->subgroup_size = subgroup.subgroupSize;
    info->fp16 = f12.shaderFloat16 && f11.storageBuffer16BitAccess;
    info->int8 = f12.shaderInt8 && f12.storageBuffer8BitAccess;
    info->buffer_device_address = f12.bufferDeviceAddress && features.features.shaderInt64;
    info->cooperative_matrix = has_extension(physical, "VK_KHR_cooperative_matrix") ||
                               has_extension(physical, "VK_NV_cooperative_matrix");
    info->max_storage_buffer_range = props.properties.limits.maxStorageBufferRange;
    info->max_shared_memory = props.properties.limits.maxComputeSharedMemorySize;
    info->max_push_constants = props.properties.limits.maxPushConstantsSize;
    info->heap_count =
        memory.memoryHeapCount < LF_DEVICE_MAX_HEAPS ? memory.memoryHeapCount : LF_DEVICE_MAX_HEAPS;
    for (uint32_t i = 0; i < info->heap_count; i++) {
        info->heap_size[i] = memory.memoryHeaps[i].size;
        info->heap_device_local[i] =
            (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    }
}

static enum lf_status enumerate(VkInstance instance, VkPhysicalDevice **out, uint32_t *count,
                                struct lf_error *err)
{
    *out = NULL;
    *count = 0;
    VkResult r = vkEnumeratePhysicalDevices(instance, count, NULL);
    if (r != VK_SUCCESS) return lf_vk_error(NULL, r, "listing Vulkan devices", err);
    if (*count == 0) return LF_OK;
    *out = calloc(*count, sizeof **out);
    if (!*out)
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "listing Vulkan devices: out of memory");
    r = vkEnumeratePhysicalDevices(instance, count, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        return lf_vk_error(NULL, r, "listing Vulkan devices", err);
    }
    return LF_OK;
}

enum lf_status lf_device_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                              struct lf_error *err)
{
    VkInstance instance;
    VkPhysicalDevice *physical;
    enum lf_status s = create_instance(NULL, false, &instance, err);
    if (s) return s;
    s = enumerate(instance, &physical, count, err);
    if (s == LF_OK) {
        for (uint32_t i = 0; infos && i < *count && i < capacity; i++)
            read_info(physical[i], i, &infos[i]);
        free(physical);
    }
    vkDestroyInstance(instance, NULL);
    return s;
}

/* Higher is preferred: a real GPU over a software one. */
static int type_rank(enum lf_device_type type)
{
    switch (type) {
    case LF_DEVICE_DISCRETE_GPU:
        return 4;
    case LF_DEVICE_INTEGRATED_GPU:
        return 3;
    case LF_DEVICE_VIRTUAL_GPU:
        return 2;
    case LF_DEVICE_CPU:
        return 1;
    case LF_DEVICE_OTHER:
        break;
    }
    return 0;
}

static enum lf_status parse_index(const char *text, uint32_t count, int *index,
                                  struct lf_error *err)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 0 || v >= (long)count)
        return lf_error_set(
            err, LF_ERR_INVALID,
            "device '%s' does not exist: %u Vulkan device%s (see 'lcmflow devices')", text, count,
            count == 1 ? "" : "s");
    *index = (int)v;
    return LF_OK;
}

static enum lf_status pick_device(struct lf_device *device, int requested, struct lf_error *err)
{
    VkPhysicalDevice *physical;
    uint32_t count;
    enum lf_status s = enumerate(device->instance, &physical, &count, err);
    if (s) return s;
    if (count == 0) {
        free(physical);
        return lf_error_set(err, LF_ERR_NO_DEVICE,
                            "no Vulkan device found (install mesa-vulkan-drivers for lavapipe, "
                            "or a GPU driver)");
    }
    int index = requested;
    const char *env = getenv("LCMFLOW_DEVICE");
    if (index < 0 && env && *env) {
        s = parse_index(env, count, &index, err);
        if (s) {
            lf_error_prefix(err, "LCMFLOW_DEVICE");
            free(physical);
            return s;
        }
    }
    if (index >= (int)count) {
        free(physical);
        return lf_error_set(err, LF_ERR_INVALID, "device %d does not exist: %u Vulkan device%s",
                            index, count, count == 1 ? "" : "s");
    }
    if (index < 0) {
        int best_rank = -1;
        for (uint32_t i = 0; i < count; i++) {
            struct lf_device_info info;
            read_info(physical[i], i, &info);
            if (!info.buffer_device_address || VK_API_VERSION_MINOR(info.api_version) < 2) continue;
            if (type_rank(info.type) > best_rank) {
                best_rank = type_rank(info.type);
                index = (int)i;
            }
        }
        if (index < 0) {
            free(physical);
            return lf_error_set(err, LF_ERR_NO_DEVICE,
                                "no Vulkan device supports what lcmflow needs (Vulkan 1.2 with "
                                "bufferDeviceAddress and shaderInt64)");
        }
    }
    device->physical = physical[index];
    read_info(device->physical, (uint32_t)index, &device->info);
    free(physical);
    if (!device->info.buffer_device_address)
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "device %d (%s) lacks bufferDeviceAddress/shaderInt64, which lcmflow "
                            "needs",
                            index, device->info.name);
    return LF_OK;
}

static enum lf_status create_logical(struct lf_device *device, struct lf_error *err)
{
    uint32_t count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(device->physical, &count, NULL);
    VkQueueFamilyProperties *families = calloc(count ? count : 1, sizeof *families);
    if (!families) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    vkGetPhysicalDeviceQueueFamilyProperties(device->physical, &count, families);
    int chosen = -1;
    for (uint32_t i = 0; i < count; i++) {
        /* Prefer a compute queue without graphics: on GPUs it is the async one. */
        if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            if (chosen < 0 || !(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) chosen = (int)i;
        }
    }
    free(families);
    if (chosen < 0)
        return lf_error_set(err, LF_ERR_NO_DEVICE, "device %s has no compute queue",
                            device->info.name);
    device->queue_family = (uint32_t)chosen;

    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = device->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .bufferDeviceAddress = VK_TRUE,
        .shaderFloat16 = device->info.fp16,
        .shaderInt8 = device->info.int8,
        .storageBuffer8BitAccess = device->info.int8,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = device->info.fp16,
    };
    VkPhysicalDeviceFeatures2 features = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &f11,
        .features = {.shaderInt64 = VK_TRUE},
    };
    VkDeviceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &features,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &queue,
    };
    VkResult r = vkCreateDevice(device->physical, &info, NULL, &device->device);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating the Vulkan device", err);
    vkGetDeviceQueue(device->device, device->queue_family, 0, &device->queue);
    return LF_OK;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

enum lf_status lf_device_create(const struct lf_device_options *options, struct lf_device **out,
                                struct lf_error *err)
{
    struct lf_device_options defaults = {.index = -1};
    if (!options) options = &defaults;
    *out = NULL;
    struct lf_device *device = calloc(1, sizeof *device);
    if (!device) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");

    bool validation = (options->validation || env_true("LCMFLOW_VALIDATION")) &&
                      layer_available(VALIDATION_LAYER);
    enum lf_status s = create_instance(device, validation, &device->instance, err);
    if (s) goto fail;
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                device->instance, "vkCreateDebugUtilsMessengerEXT");
        VkDebugUtilsMessengerCreateInfoEXT info = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
            .pfnUserCallback = on_validation,
            .pUserData = device,
        };
        if (create_messenger) create_messenger(device->instance, &info, NULL, &device->messenger);
    }
    if ((s = pick_device(device, options->index, err)) || (s = create_logical(device, err)) ||
        (s = lf_vk_memory_init(device, err)) || (s = lf_vk_pipelines_init(device, err)) ||
        (s = lf_vk_commands_init(device, err)))
        goto fail;
    *out = device;
    return LF_OK;
fail:
    lf_device_destroy(device);
    return s;
}

void lf_device_destroy(struct lf_device *device)
{
    if (!device) return;
    if (device->device) {
        vkDeviceWaitIdle(device->device);
        lf_vk_commands_finish(device);
        lf_vk_pipelines_finish(device);
        lf_vk_memory_finish(device);
        vkDestroyDevice(device->device, NULL);
    }
    if (device->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                device->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy_messenger) destroy_messenger(device->instance, device->messenger, NULL);
    }
    if (device->instance) vkDestroyInstance(device->instance, NULL);
    free(device);
}

const struct lf_device_info *lf_device_get_info(const struct lf_device *device)
{
    return &device->info;
}

enum lf_status lf_device_sync(struct lf_device *device, struct lf_error *err)
{
    return lf_vk_flush(device, err);
}

void lf_device_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats)
{
    *stats = device->stats;
}

void lf_device_reset_peak(struct lf_device *device)
{
    device->stats.peak_in_use = device->stats.in_use;
    device->stats.peak_reserved = device->stats.reserved;
}

uint32_t lf_device_validation_errors(const struct lf_device *device)
{
    return device->validation_errors;
}

bool lf_device_supports_f16(const struct lf_device *device)
{
    return device->info.fp16;
}
