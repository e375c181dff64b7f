/*
** vk_device.c - Vulkan instance, device listing and selection, lifecycle.
*/
#include "vk_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

enum lf_status lf_vk_error(struct lf_vk_device *device, VkResult result, const char *what,
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
    struct lf_vk_device *device = user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        if (device) device->validation_errors++;
        fprintf(stderr, "lcmflow: Vulkan validation error: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

static enum lf_status create_instance(struct lf_vk_device *device, bool validation, VkInstance *out,
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

static enum lf_device_type device_type(VkPhysicalDeviceType type)
{
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return LF_DEVICE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return LF_DEVICE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return LF_DEVICE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return LF_DEVICE_CPU;
    default:
        return LF_DEVICE_OTHER;
    }
}

static void read_vk_info(VkPhysicalDevice physical, struct lf_vk_info *vk, char *name,
                         size_t name_size)
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

    memset(vk, 0, sizeof *vk);
    vk->type = props.properties.deviceType;
    snprintf(name, name_size, "%s", props.properties.deviceName);
    snprintf(vk->driver_name, sizeof vk->driver_name, "%s", driver.driverName);
    snprintf(vk->driver_info, sizeof vk->driver_info, "%s", driver.driverInfo);
    vk->api_version = props.properties.apiVersion;
    vk->vendor_id = props.properties.vendorID;
    vk->device_id = props.properties.deviceID;
    vk->subgroup_size = subgroup.subgroupSize;
    vk->fp16 = f12.shaderFloat16 && f11.storageBuffer16BitAccess;
    vk->int8 = f12.shaderInt8 && f12.storageBuffer8BitAccess;
    vk->buffer_device_address = f12.bufferDeviceAddress && features.features.shaderInt64;
    vk->cooperative_matrix = has_extension(physical, "VK_KHR_cooperative_matrix") ||
                             has_extension(physical, "VK_NV_cooperative_matrix");
    vk->max_storage_buffer_range = props.properties.limits.maxStorageBufferRange;
    vk->max_shared_memory = props.properties.limits.maxComputeSharedMemorySize;
    vk->max_push_constants = props.properties.limits.maxPushConstantsSize;
    vk->heap_count =
        memory.memoryHeapCount < LF_VK_MAX_HEAPS ? memory.memoryHeapCount : LF_VK_MAX_HEAPS;
    for (uint32_t i = 0; i < vk->heap_count; i++) {
        vk->heap_size[i] = memory.memoryHeaps[i].size;
        vk->heap_device_local[i] =
            (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    }
}

/* The neutral view of a Vulkan device: capabilities and, as text for
** people, what only Vulkan knows. */
static void neutral_info(const struct lf_vk_info *vk, struct lf_device_info *info)
{
    info->backend = LF_BACKEND_VULKAN;
    info->type = device_type(vk->type);
    bool cpu = vk->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    info->caps = 0;
    if (vk->buffer_device_address && VK_API_VERSION_MINOR(vk->api_version) >= 2)
        info->caps |= LF_DEVICE_CAP_SUPPORTED;
    if (vk->fp16) info->caps |= LF_DEVICE_CAP_F16_STORAGE | LF_DEVICE_CAP_F16_WEIGHTS;
    /* lavapipe converts every f16 to f32 and back: f16 costs it time. */
    if (vk->fp16 && !cpu) info->caps |= LF_DEVICE_CAP_F16_ARITHMETIC;
    if (cpu) info->caps |= LF_DEVICE_CAP_HOST_MEMORY;
    info->memory_size = 0;
    for (uint32_t h = 0; h < vk->heap_count; h++)
        if (vk->heap_device_local[h] && vk->heap_size[h] > info->memory_size)
            info->memory_size = vk->heap_size[h];
    size_t n = (size_t)snprintf(
        info->details, sizeof info->details,
        "driver %s %s\nVulkan %u.%u.%u\nvendor/device id 0x%04x / 0x%04x\nsubgroup size %u\n"
        "int8 %s, cooperative matrix %s, buffer device address %s\n"
        "maxStorageBufferRange %.1f MiB, max shared memory %u KiB",
        vk->driver_name, vk->driver_info, VK_API_VERSION_MAJOR(vk->api_version),
        VK_API_VERSION_MINOR(vk->api_version), VK_API_VERSION_PATCH(vk->api_version), vk->vendor_id,
        vk->device_id, vk->subgroup_size, vk->int8 ? "yes" : "no",
        vk->cooperative_matrix ? "yes" : "no", vk->buffer_device_address ? "yes" : "no",
        (double)vk->max_storage_buffer_range / (1024.0 * 1024), vk->max_shared_memory / 1024);
    for (uint32_t h = 0; h < vk->heap_count && n < sizeof info->details; h++)
        n += (size_t)snprintf(info->details + n, sizeof info->details - n,
                              "\nmemory heap %u %.1f GiB%s", h,
                              (double)vk->heap_size[h] / (1024.0 * 1024 * 1024),
                              vk->heap_device_local[h] ? " device-local" : "");
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

enum lf_status lf_vk_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                          struct lf_error *err)
{
    VkInstance instance;
    VkPhysicalDevice *physical;
    *count = 0;
    enum lf_status s = create_instance(NULL, false, &instance, err);
    /* No Vulkan driver is no Vulkan device, not an error: another backend
    ** may have some. */
    if (s == LF_ERR_NO_DEVICE) return LF_OK;
    if (s) return s;
    s = enumerate(instance, &physical, count, err);
    if (s == LF_OK) {
        for (uint32_t i = 0; infos && i < *count && i < capacity; i++) {
            struct lf_vk_info vk;
            memset(&infos[i], 0, sizeof infos[i]);
            read_vk_info(physical[i], &vk, infos[i].name, sizeof infos[i].name);
            neutral_info(&vk, &infos[i]);
        }
        free(physical);
    }
    vkDestroyInstance(instance, NULL);
    return s;
}

static enum lf_status pick_device(struct lf_vk_device *device, uint32_t index, struct lf_error *err)
{
    VkPhysicalDevice *physical;
    uint32_t count;
    enum lf_status s = enumerate(device->instance, &physical, &count, err);
    if (s) return s;
    if (index >= count) {
        free(physical);
        return lf_error_set(err, LF_ERR_INVALID, "Vulkan device %u does not exist: %u device%s",
                            index, count, count == 1 ? "" : "s");
    }
    device->physical = physical[index];
    free(physical);
    struct lf_device_info *info = &device->base.info;
    read_vk_info(device->physical, &device->vk, info->name, sizeof info->name);
    neutral_info(&device->vk, info);
    if (!(info->caps & LF_DEVICE_CAP_SUPPORTED))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "Vulkan device %u (%s) lacks Vulkan 1.2 with "
                            "bufferDeviceAddress/shaderInt64, which lcmflow needs",
                            index, info->name);
    return LF_OK;
}

static enum lf_status create_logical(struct lf_vk_device *device, struct lf_error *err)
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
                            device->base.info.name);
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
        .shaderFloat16 = device->vk.fp16,
        .shaderInt8 = device->vk.int8,
        .storageBuffer8BitAccess = device->vk.int8,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = device->vk.fp16,
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

enum lf_status lf_vk_open(uint32_t index, const struct lf_device_options *options,
                          struct lf_device **out, struct lf_error *err)
{
    *out = NULL;
    struct lf_vk_device *device = calloc(1, sizeof *device);
    if (!device) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    device->base.backend = &lf_vulkan_backend;

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
    if ((s = pick_device(device, index, err)) || (s = create_logical(device, err)) ||
        (s = lf_vk_memory_init(device, err)) || (s = lf_vk_pipelines_init(device, err)) ||
        (s = lf_vk_commands_init(device, err)))
        goto fail;
    *out = &device->base;
    return LF_OK;
fail:
    lf_vk_destroy(&device->base);
    return s;
}

void lf_vk_destroy(struct lf_device *base)
{
    struct lf_vk_device *device = lf_vk_device(base);
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
    lf_vk_lora_scratch_free(&device->lora_scratch);
    free(device);
}

enum lf_status lf_vk_sync(struct lf_device *device, struct lf_error *err)
{
    return lf_vk_flush(lf_vk_device(device), err);
}

uint32_t lf_vk_validation_errors(const struct lf_device *device)
{
    return ((const struct lf_vk_device *)device)->validation_errors;
}

const struct lf_vk_info *lf_vk_device_info(const struct lf_device *device)
{
    if (!device || device->backend != &lf_vulkan_backend) return NULL;
    return &((const struct lf_vk_device *)device)->vk;
}
