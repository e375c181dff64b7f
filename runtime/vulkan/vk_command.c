/*
** vk_command.c - recording dispatches and submitting them in batches.
**
** Ops record into one command buffer; each dispatch is followed by a global
** compute-to-compute barrier, which on lavapipe costs nothing and on GPUs
** is the simple, always-correct choice.  The batch is submitted when it
** reaches MAX_PENDING dispatches or when the host needs a result
** (lf_vk_flush: submit, then wait on a fence).
**
** The optional descriptor path allocates one descriptor set per dispatch
** from a pool sized for a whole batch, and buffer views for texel
** bindings; both are released when the batch has completed.
*/
#include "vk_impl.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PENDING 256

enum lf_status lf_vk_commands_init(struct lf_vk_device *device, struct lf_error *err)
{
    VkCommandPoolCreateInfo pinfo = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = device->queue_family,
    };
    VkResult r = vkCreateCommandPool(device->device, &pinfo, NULL, &device->command_pool);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating a command pool", err);
    VkCommandBufferAllocateInfo ainfo = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = device->command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    r = vkAllocateCommandBuffers(device->device, &ainfo, &device->command_buffer);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "allocating a command buffer", err);
    VkFenceCreateInfo finfo = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(device->device, &finfo, NULL, &device->fence);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating a fence", err);
    /* One set per dispatch of a batch; the descriptor path stays off when
    ** the pool cannot be made. */
    VkDescriptorPoolSize sizes[LF_VK_BINDING_KINDS] = {
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, MAX_PENDING * LF_VK_MAX_BINDINGS},
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, MAX_PENDING * LF_VK_MAX_BINDINGS},
    };
    VkDescriptorPoolCreateInfo dinfo = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = MAX_PENDING,
        .poolSizeCount = LF_VK_BINDING_KINDS,
        .pPoolSizes = sizes,
    };
    if (vkCreateDescriptorPool(device->device, &dinfo, NULL, &device->descriptor_pool) !=
        VK_SUCCESS)
        device->descriptor_pool = VK_NULL_HANDLE;
    return LF_OK;
}

/* Frees what the descriptor path made for a batch that has completed. */
static void release_descriptors(struct lf_vk_device *device)
{
    for (uint32_t i = 0; i < device->view_count; i++)
        vkDestroyBufferView(device->device, device->views[i], NULL);
    device->view_count = 0;
    if (device->descriptor_pool) vkResetDescriptorPool(device->device, device->descriptor_pool, 0);
}

void lf_vk_commands_finish(struct lf_vk_device *device)
{
    if (device->recording) lf_vk_flush(device, NULL);
    release_descriptors(device);
    free(device->views);
    device->views = NULL;
    if (device->descriptor_pool)
        vkDestroyDescriptorPool(device->device, device->descriptor_pool, NULL);
    if (device->fence) vkDestroyFence(device->device, device->fence, NULL);
    if (device->command_pool) vkDestroyCommandPool(device->device, device->command_pool, NULL);
}

static enum lf_status begin(struct lf_vk_device *device, struct lf_error *err)
{
    if (device->lost) return lf_error_set(err, LF_ERR_DEVICE_LOST, "the Vulkan device was lost");
    if (device->recording) return LF_OK;
    VkCommandBufferBeginInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = vkBeginCommandBuffer(device->command_buffer, &info);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "beginning a command buffer", err);
    device->recording = true;
    device->bound_pipeline = VK_NULL_HANDLE;
    device->pending_dispatches = 0;
    return LF_OK;
}

static void barrier(struct lf_vk_device *device)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(device->command_buffer, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

enum lf_status lf_vk_flush(struct lf_vk_device *device, struct lf_error *err)
{
    if (device->lost) return lf_error_set(err, LF_ERR_DEVICE_LOST, "the Vulkan device was lost");
    if (!device->recording) return LF_OK;
    device->recording = false;
    VkResult r = vkEndCommandBuffer(device->command_buffer);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "ending a command buffer", err);
    VkSubmitInfo info = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &device->command_buffer,
    };
    r = vkQueueSubmit(device->queue, 1, &info, device->fence);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "submitting work", err);
    r = vkWaitForFences(device->device, 1, &device->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "waiting for the device", err);
    vkResetFences(device->device, 1, &device->fence);
    vkResetCommandBuffer(device->command_buffer, 0);
    device->pending_dispatches = 0;
    release_descriptors(device);
    return LF_OK;
}

enum lf_status lf_vk_dispatch(struct lf_vk_device *device, VkPipeline pipeline, const void *push,
                              uint32_t push_size, uint32_t groups_x, uint32_t groups_y,
                              uint32_t groups_z, struct lf_error *err)
{
    if (groups_x == 0 || groups_y == 0 || groups_z == 0) return LF_OK;
    if (push_size > LF_PUSH_CONSTANT_SIZE || push_size > device->vk.max_push_constants)
        return lf_error_set(err, LF_ERR_INVALID, "push constants of %u bytes exceed the limit",
                            push_size);
    enum lf_status s = begin(device, err);
    if (s) return s;
    if (device->bound_pipeline != pipeline) {
        vkCmdBindPipeline(device->command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        device->bound_pipeline = pipeline;
    }
    if (push_size)
        vkCmdPushConstants(device->command_buffer, device->pipeline_layout,
                           VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    vkCmdDispatch(device->command_buffer, groups_x, groups_y, groups_z);
    barrier(device);
    device->dispatch_count++;
    if (++device->pending_dispatches >= MAX_PENDING) return lf_vk_flush(device, err);
    return LF_OK;
}

static enum lf_status keep_view(struct lf_vk_device *device, VkBufferView view,
                                struct lf_error *err)
{
    if (device->view_count == device->view_capacity) {
        uint32_t cap = device->view_capacity ? 2 * device->view_capacity : 64;
        VkBufferView *v = realloc(device->views, cap * sizeof *v);
        if (!v) {
            vkDestroyBufferView(device->device, view, NULL);
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        device->views = v;
        device->view_capacity = cap;
    }
    device->views[device->view_count++] = view;
    return LF_OK;
}

/* A descriptor set for the bindings, valid until the batch completes. */
static enum lf_status make_set(struct lf_vk_device *device, enum lf_vk_binding_kind kind,
                               const struct lf_vk_binding *bindings, uint32_t count,
                               VkDescriptorSet *set, struct lf_error *err)
{
    VkDescriptorSetAllocateInfo ainfo = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = device->descriptor_pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &device->set_layouts[kind],
    };
    VkResult r = vkAllocateDescriptorSets(device->device, &ainfo, set);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "allocating a descriptor set", err);
    VkWriteDescriptorSet writes[LF_VK_MAX_BINDINGS];
    VkDescriptorBufferInfo infos[LF_VK_MAX_BINDINGS];
    VkBufferView views[LF_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < LF_VK_MAX_BINDINGS; i++) {
        const struct lf_vk_binding *b =
            i < count && bindings[i].buffer ? &bindings[i] : &bindings[0];
        uint64_t base;
        VkBuffer handle = lf_vk_buffer_handle(b->buffer, &base);
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = *set,
            .dstBinding = i,
            .descriptorCount = 1,
        };
        if (kind == LF_VK_TEXEL) {
            VkBufferViewCreateInfo vinfo = {
                .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                .buffer = handle,
                .format = b->format,
                .offset = base + b->offset,
                .range = b->size,
            };
            r = vkCreateBufferView(device->device, &vinfo, NULL, &views[i]);
            if (r != VK_SUCCESS) return lf_vk_error(device, r, "creating a buffer view", err);
            enum lf_status s = keep_view(device, views[i], err);
            if (s) return s;
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
            writes[i].pTexelBufferView = &views[i];
        } else {
            infos[i] = (VkDescriptorBufferInfo){handle, base + b->offset, b->size};
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[i].pBufferInfo = &infos[i];
        }
    }
    vkUpdateDescriptorSets(device->device, LF_VK_MAX_BINDINGS, writes, 0, NULL);
    return LF_OK;
}

enum lf_status lf_vk_dispatch_bound(struct lf_vk_device *device, VkPipeline pipeline,
                                    enum lf_vk_binding_kind kind,
                                    const struct lf_vk_binding *bindings, uint32_t count,
                                    const void *push, uint32_t push_size, uint32_t groups_x,
                                    uint32_t groups_y, uint32_t groups_z, struct lf_error *err)
{
    if (groups_x == 0 || groups_y == 0 || groups_z == 0) return LF_OK;
    if ((unsigned)kind >= LF_VK_BINDING_KINDS || !device->descriptor_pool ||
        !device->descriptor_layouts[kind] || count == 0 || count > LF_VK_MAX_BINDINGS ||
        !bindings[0].buffer)
        return lf_error_set(err, LF_ERR_INVALID,
                            "a bound dispatch needs 1 to %d bindings and "
                            "the descriptor path",
                            LF_VK_MAX_BINDINGS);
    if (push_size > LF_PUSH_CONSTANT_SIZE || push_size > device->vk.max_push_constants)
        return lf_error_set(err, LF_ERR_INVALID, "push constants of %u bytes exceed the limit",
                            push_size);
    enum lf_status s = begin(device, err);
    if (s) return s;
    VkDescriptorSet set;
    if ((s = make_set(device, kind, bindings, count, &set, err))) return s;
    VkPipelineLayout layout = device->descriptor_layouts[kind];
    if (device->bound_pipeline != pipeline) {
        vkCmdBindPipeline(device->command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        device->bound_pipeline = pipeline;
    }
    vkCmdBindDescriptorSets(device->command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1,
                            &set, 0, NULL);
    if (push_size)
        vkCmdPushConstants(device->command_buffer, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                           push_size, push);
    vkCmdDispatch(device->command_buffer, groups_x, groups_y, groups_z);
    barrier(device);
    device->dispatch_count++;
    if (++device->pending_dispatches >= MAX_PENDING) return lf_vk_flush(device, err);
    return LF_OK;
}

/* Copies through the staging buffer in chunks, one submit per chunk. */
static enum lf_status staged_copy(struct lf_tensor_buffer *buffer, uint64_t offset, void *host,
                                  uint64_t size, bool to_device, struct lf_error *err)
{
    struct lf_vk_device *device = lf_vk_device(buffer->device);
    enum lf_status s = lf_vk_staging(device, err);
    if (s) return s;
    uint64_t base;
    VkBuffer handle = lf_vk_buffer_handle(buffer, &base);
    for (uint64_t done = 0; done < size;) {
        uint64_t n = size - done < device->staging_size ? size - done : device->staging_size;
        if (to_device) memcpy(device->staging_map, (char *)host + done, n);
        if ((s = begin(device, err))) return s;
        VkBufferCopy region = {
            .srcOffset = to_device ? 0 : base + offset + done,
            .dstOffset = to_device ? base + offset + done : 0,
            .size = n,
        };
        if (to_device)
            vkCmdCopyBuffer(device->command_buffer, device->staging_buffer, handle, 1, &region);
        else
            vkCmdCopyBuffer(device->command_buffer, handle, device->staging_buffer, 1, &region);
        barrier(device);
        if ((s = lf_vk_flush(device, err))) return s;
        if (!to_device) memcpy((char *)host + done, device->staging_map, n);
        done += n;
    }
    return LF_OK;
}

enum lf_status lf_vk_write(struct lf_tensor_buffer *buffer, uint64_t offset, const void *data,
                           uint64_t size, struct lf_error *err)
{
    /* Recorded work may still read this memory's previous owner: run it first. */
    enum lf_status s = lf_vk_flush(lf_vk_device(buffer->device), err);
    if (s) return s;
    void *map = lf_vk_buffer_map(buffer);
    if (map) {
        memcpy((char *)map + offset, data, size);
        return LF_OK;
    }
    return staged_copy(buffer, offset, (void *)data, size, true, err);
}

enum lf_status lf_vk_read(struct lf_tensor_buffer *buffer, uint64_t offset, void *data,
                          uint64_t size, struct lf_error *err)
{
    enum lf_status s = lf_vk_flush(lf_vk_device(buffer->device), err);
    if (s) return s;
    void *map = lf_vk_buffer_map(buffer);
    if (map) {
        memcpy(data, (char *)map + offset, size);
        return LF_OK;
    }
    return staged_copy(buffer, offset, data, size, false, err);
}
