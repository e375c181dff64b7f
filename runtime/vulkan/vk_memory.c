/*
** vk_memory.c - the allocator behind tensors.
**
** Device memory comes in large blocks (one VkDeviceMemory and one VkBuffer
** each, with a device address); tensors take first-fit ranges of a block,
** so vkAllocateMemory runs rarely.  A range freed while dispatches that read
** it are still only recorded can be reused at once: every dispatch ends with
** a full barrier, so a later writer always runs after the earlier reader.
** On devices whose memory is host-visible (lavapipe, integrated GPUs) the
** blocks are mapped and uploads are plain copies; otherwise a staging
** buffer carries them.
*/
#include "vk_impl.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE   (256ull << 20)
#define ALIGNMENT    256ull
#define STAGING_SIZE (64ull << 20)

struct free_range {
    uint64_t offset, size;
    struct free_range *next; /* sorted by offset */
};

struct lf_memory_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    VkDeviceAddress address;
    void *map;
    uint64_t size;
    uint64_t used;
    struct free_range *free;
    struct lf_memory_block *next;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int find_type(const VkPhysicalDeviceMemoryProperties *p, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < p->memoryTypeCount; i++)
        if ((p->memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

static enum lf_status create_buffer(struct lf_vk_device *device, uint64_t size, uint32_t type,
                                    bool device_address, VkBuffer *buffer, VkDeviceMemory *memory,
                                    struct lf_error *err)
{
    VkBufferCreateInfo binfo = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                 (device_address ? VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT : 0),
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(device->device, &binfo, NULL, buffer);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating a device buffer", err);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device->device, *buffer, &req);
    VkMemoryAllocateFlagsInfo flags = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
        .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT,
    };
    VkMemoryAllocateInfo ainfo = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .pNext = device_address ? &flags : NULL,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    if (!(req.memoryTypeBits & (1u << type))) {
        vkDestroyBuffer(device->device, *buffer, NULL);
        *buffer = VK_NULL_HANDLE;
        return lf_error_set(err, LF_ERR_DEVICE, "no suitable memory type for device buffers");
    }
    r = vkAllocateMemory(device->device, &ainfo, NULL, memory);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(device->device, *buffer, *memory, 0);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(device->device, *buffer, NULL);
        if (*memory) vkFreeMemory(device->device, *memory, NULL);
        *buffer = VK_NULL_HANDLE;
        *memory = VK_NULL_HANDLE;
        enum lf_status s = lf_vk_error(device, r, "allocating device memory", err);
        if (s == LF_ERR_OUT_OF_DEVICE_MEMORY || s == LF_ERR_OUT_OF_MEMORY)
            lf_error_set(err, LF_ERR_OUT_OF_DEVICE_MEMORY,
                         "out of device memory allocating %.1f MiB (%.1f MiB in use)",
                         (double)size / (1 << 20), (double)device->stats.reserved / (1 << 20));
        return s == LF_ERR_OUT_OF_MEMORY ? LF_ERR_OUT_OF_DEVICE_MEMORY : s;
    }
    return LF_OK;
}

enum lf_status lf_vk_memory_init(struct lf_vk_device *device, struct lf_error *err)
{
    VkPhysicalDeviceMemoryProperties *p = &device->memory_properties;
    vkGetPhysicalDeviceMemoryProperties(device->physical, p);
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                         .pNext = &m3};
    vkGetPhysicalDeviceProperties2(device->physical, &props);
    device->max_allocation = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : (1ull << 31);

    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = -1;
    /* Software and integrated devices share host memory: map it directly.
    ** A discrete GPU's host-visible window is small, so stage there. */
    if (device->vk.type != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) type = find_type(p, local | host);
    device->memory_host_visible = type >= 0;
    if (type < 0) type = find_type(p, local);
    if (type < 0) type = find_type(p, host);
    if (type < 0)
        return lf_error_set(err, LF_ERR_DEVICE, "device %s has no usable memory type",
                            device->base.info.name);
    device->memory_type = (uint32_t)type;
    if ((p->memoryTypes[type].propertyFlags & host) == host) device->memory_host_visible = true;
    int staging = find_type(p, host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (staging < 0) staging = find_type(p, host);
    device->staging_type = staging < 0 ? 0 : (uint32_t)staging;
    if (!device->memory_host_visible && staging < 0)
        return lf_error_set(err, LF_ERR_DEVICE, "device %s has no host-visible memory for uploads",
                            device->base.info.name);
    return LF_OK;
}

static void block_free(struct lf_vk_device *device, struct lf_memory_block *block)
{
    while (block->free) {
        struct free_range *next = block->free->next;
        free(block->free);
        block->free = next;
    }
    if (block->map) vkUnmapMemory(device->device, block->memory);
    vkDestroyBuffer(device->device, block->buffer, NULL);
    vkFreeMemory(device->device, block->memory, NULL);
    device->stats.reserved -= block->size;
    free(block);
}

void lf_vk_memory_finish(struct lf_vk_device *device)
{
    while (device->blocks) {
        struct lf_memory_block *next = device->blocks->next;
        block_free(device, device->blocks);
        device->blocks = next;
    }
    if (device->staging_buffer) {
        vkUnmapMemory(device->device, device->staging_memory);
        vkDestroyBuffer(device->device, device->staging_buffer, NULL);
        vkFreeMemory(device->device, device->staging_memory, NULL);
    }
}

static enum lf_status block_new(struct lf_vk_device *device, uint64_t size,
                                struct lf_memory_block **out, struct lf_error *err)
{
    struct lf_memory_block *block = calloc(1, sizeof *block);
    struct free_range *range = calloc(1, sizeof *range);
    if (!block || !range) {
        free(block);
        free(range);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    enum lf_status s =
        create_buffer(device, size, device->memory_type, true, &block->buffer, &block->memory, err);
    if (s) {
        free(block);
        free(range);
        return s;
    }
    VkBufferDeviceAddressInfo ainfo = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                       .buffer = block->buffer};
    block->address = vkGetBufferDeviceAddress(device->device, &ainfo);
    if (device->memory_host_visible) {
        VkResult r = vkMapMemory(device->device, block->memory, 0, VK_WHOLE_SIZE, 0, &block->map);
        if (r != VK_SUCCESS) {
            block->map = NULL;
            block_free(device, block);
            free(range);
            return lf_vk_error(device, r, "mapping device memory", err);
        }
    }
    block->size = size;
    range->size = size;
    block->free = range;
    block->next = device->blocks;
    device->blocks = block;
    device->stats.reserved += size;
    if (device->stats.reserved > device->stats.peak_reserved)
        device->stats.peak_reserved = device->stats.reserved;
    *out = block;
    return LF_OK;
}

/* First fit; returns false when the block has no room. */
static bool block_take(struct lf_memory_block *block, uint64_t size, uint64_t *offset)
{
    for (struct free_range **link = &block->free; *link; link = &(*link)->next) {
        struct free_range *r = *link;
        if (r->size < size) continue;
        *offset = r->offset;
        r->offset += size;
        r->size -= size;
        if (r->size == 0) {
            *link = r->next;
            free(r);
        }
        block->used += size;
        return true;
    }
    return false;
}

static bool block_give(struct lf_memory_block *block, uint64_t offset, uint64_t size)
{
    struct free_range **link = &block->free, *prev = NULL;
    while (*link && (*link)->offset < offset) {
        prev = *link;
        link = &(*link)->next;
    }
    struct free_range *next = *link;
    block->used -= size;
    if (prev && prev->offset + prev->size == offset) {
        prev->size += size;
        if (next && prev->offset + prev->size == next->offset) {
            prev->size += next->size;
            prev->next = next->next;
            free(next);
        }
        return true;
    }
    if (next && offset + size == next->offset) {
        next->offset = offset;
        next->size += size;
        return true;
    }
    struct free_range *r = malloc(sizeof *r);
    if (!r) return false; /* the range leaks until the block is freed; harmless */
    r->offset = offset;
    r->size = size;
    r->next = next;
    *link = r;
    return true;
}

enum lf_status lf_vk_buffer_alloc(struct lf_device *base, uint64_t size,
                                  struct lf_tensor_buffer **out, struct lf_error *err)
{
    struct lf_vk_device *device = lf_vk_device(base);
    *out = NULL;
    if (device->lost) return lf_error_set(err, LF_ERR_DEVICE_LOST, "the Vulkan device was lost");
    uint64_t need = align_up(size ? size : 1, ALIGNMENT);
    if (need > device->max_allocation)
        return lf_error_set(err, LF_ERR_OUT_OF_DEVICE_MEMORY,
                            "a tensor of %.1f MiB exceeds the device's largest allocation "
                            "(%.1f MiB)",
                            (double)size / (1 << 20), (double)device->max_allocation / (1 << 20));
    struct lf_vk_buffer *buffer = calloc(1, sizeof *buffer);
    if (!buffer) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    struct lf_memory_block *block;
    uint64_t offset = 0;
    for (block = device->blocks; block; block = block->next)
        if (block_take(block, need, &offset)) break;
    if (!block) {
        uint64_t block_size = need > BLOCK_SIZE / 2 ? need : BLOCK_SIZE;
        if (block_size > device->max_allocation) block_size = need;
        enum lf_status s = block_new(device, block_size, &block, err);
        if (s) {
            free(buffer);
            return s;
        }
        block_take(block, need, &offset);
    }
    buffer->base.refcount = 1;
    buffer->base.device = base;
    buffer->base.size = need;
    buffer->block = block;
    buffer->offset = offset;
    device->stats.in_use += need;
    if (device->stats.in_use > device->stats.peak_in_use)
        device->stats.peak_in_use = device->stats.in_use;
    *out = &buffer->base;
    return LF_OK;
}

void lf_vk_buffer_free(struct lf_tensor_buffer *base)
{
    if (!base) return;
    struct lf_vk_buffer *buffer = lf_vk_buffer(base);
    struct lf_vk_device *device = lf_vk_device(base->device);
    struct lf_memory_block *block = buffer->block;
    block_give(block, buffer->offset, base->size);
    device->stats.in_use -= base->size;
    /* Give empty blocks back, keeping one standard block for reuse.  Recorded
    ** work may still reference the memory, so flush before freeing it. */
    if (block->used == 0 && (block->size != BLOCK_SIZE || device->blocks->next)) {
        if (device->recording) lf_vk_flush(device, NULL);
        for (struct lf_memory_block **link = &device->blocks; *link; link = &(*link)->next)
            if (*link == block) {
                *link = block->next;
                break;
            }
        block_free(device, block);
    }
    free(buffer);
}

void *lf_vk_buffer_map(const struct lf_tensor_buffer *base)
{
    const struct lf_vk_buffer *buffer = lf_vk_buffer(base);
    return buffer->block->map ? (char *)buffer->block->map + buffer->offset : NULL;
}

VkDeviceAddress lf_vk_buffer_address(const struct lf_tensor_buffer *base)
{
    const struct lf_vk_buffer *buffer = lf_vk_buffer(base);
    return buffer->block->address + buffer->offset;
}

VkBuffer lf_vk_buffer_handle(const struct lf_tensor_buffer *base, uint64_t *offset)
{
    const struct lf_vk_buffer *buffer = lf_vk_buffer(base);
    *offset = buffer->offset;
    return buffer->block->buffer;
}

void lf_vk_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats)
{
    *stats = ((const struct lf_vk_device *)device)->stats;
}

void lf_vk_reset_peak(struct lf_device *base)
{
    struct lf_vk_device *device = lf_vk_device(base);
    device->stats.peak_in_use = device->stats.in_use;
    device->stats.peak_reserved = device->stats.reserved;
}

/* The staging buffer, made on first need (discrete GPUs only). */
enum lf_status lf_vk_staging(struct lf_vk_device *device, struct lf_error *err)
{
    if (device->staging_buffer) return LF_OK;
    enum lf_status s = create_buffer(device, STAGING_SIZE, device->staging_type, false,
                                     &device->staging_buffer, &device->staging_memory, err);
    if (s) return s;
    VkResult r = vkMapMemory(device->device, device->staging_memory, 0, VK_WHOLE_SIZE, 0,
                             &device->staging_map);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "mapping the staging buffer", err);
    device->staging_size = STAGING_SIZE;
    return LF_OK;
}
