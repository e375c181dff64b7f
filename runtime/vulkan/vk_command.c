/*
** vk_command.c - recording dispatches and submitting them in batches.
**
** Ops record into one command buffer; each dispatch is followed by a global
** compute-to-compute barrier, which on lavapipe costs nothing and on GPUs
** is the simple, always-correct choice.  The batch is submitted when it
** reaches batch_limit dispatches or when the host needs a result
** (lf_vk_flush: submit, then wait on a fence).
**
** Batches are bounded in time as well as in count, because an
** interruption is only seen between batches (submitted work cannot be
** stopped): the time per workgroup of each pipeline at each dispatch size
** is measured (its first dispatch runs a slice alone, then whenever a batch
** held only it), a batch
** is submitted once its estimated time reaches BATCH_MS, and a dispatch
** estimated longer than that is split into slices of workgroups
** (vkCmdDispatchBase: the shaders see the same workgroup ids).  After each
** submit the interruption flag is checked (interrupt.h), so no op, however
** large, outlasts an interruption by much more than BATCH_MS.  A submit
** costs tens of microseconds, nothing next to BATCH_MS; on a GPU the
** estimates are tiny and batches stay MAX_PENDING dispatches long.
** (Not bounded: a driver compiling a pipeline on its first run, lavapipe's
** case, which its disk cache then remembers.)
**
** The optional descriptor path allocates one descriptor set per dispatch
** from a pool sized for a whole batch, and buffer views for texel
** bindings; both are released when the batch has completed.
*/
#include "interrupt.h"
#include "vk_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PENDING  256
#define BATCH_MS     50.0
#define FIRST_SLICES 16 /* an unmeasured pipeline's first slice: 1/16 of its work */

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
    device->pending_ms = 0;
    device->batch_key = 0;
    device->batch_groups = 0;
    device->batch_npipelines = 0;
    return LF_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The slot of pipeline in the rate table (open addressing), or NULL when
** the table is full (the pipeline then counts as unmeasured every time). */
static struct lf_vk_rate *rate_slot(struct lf_vk_device *device, uint64_t key)
{
    uint32_t start = (uint32_t)((key * 0x9e3779b97f4a7c15u) >> 40) % LF_VK_RATE_SLOTS;
    for (uint32_t i = 0; i < LF_VK_RATE_SLOTS; i++) {
        struct lf_vk_rate *r = &device->rates[(start + i) % LF_VK_RATE_SLOTS];
        if (r->key == key || r->key == 0) {
            r->key = key;
            return r;
        }
    }
    return NULL;
}

/* A submitted batch took ms.  A batch of one key measures its time per
** workgroup; estimates only grow from it at once and shrink slowly, so a
** shape that costs more per workgroup under the same key is not
** underestimated twice.  A mixed batch that took longer than estimated
** scales up the estimates of the keys in it. */
static void learn_rate(struct lf_vk_device *device, double ms)
{
    if (device->batch_key && device->batch_groups) {
        struct lf_vk_rate *r = rate_slot(device, device->batch_key);
        /* Never zero: zero means unmeasured. */
        double rate = (ms > 1e-6 ? ms : 1e-6) / (double)device->batch_groups;
        if (r) r->ms_per_group = rate > 0.75 * r->ms_per_group ? rate : 0.75 * r->ms_per_group;
        return;
    }
    if (device->pending_ms <= 0 || ms < BATCH_MS / 4 || ms <= device->pending_ms) return;
    double ratio = ms / device->pending_ms;
    for (uint32_t i = 0; i < device->batch_npipelines; i++) {
        struct lf_vk_rate *r = rate_slot(device, device->batch_keys[i]);
        if (r && r->ms_per_group > 0) r->ms_per_group *= ratio;
    }
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
    double t0 = now_ms();
    r = vkQueueSubmit(device->queue, 1, &info, device->fence);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "submitting work", err);
    r = vkWaitForFences(device->device, 1, &device->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return lf_vk_error(device, r, "waiting for the device", err);
    device->last_batch_ms = now_ms() - t0;
    learn_rate(device, device->last_batch_ms);
    vkResetFences(device->device, 1, &device->fence);
    vkResetCommandBuffer(device->command_buffer, 0);
    device->pending_dispatches = 0;
    release_descriptors(device);
    return LF_OK;
}

/* What one op's dispatch binds; re-bound after a submit inside a split
** dispatch (a submit ends the command buffer and frees its descriptor sets). */
struct dispatch {
    VkPipeline pipeline;
    VkPipelineLayout layout;
    const void *push;
    uint32_t push_size;
    int kind; /* -1: no descriptor set; else enum lf_vk_binding_kind */
    const struct lf_vk_binding *bindings;
    uint32_t count;
    uint64_t key; /* its rate's: the pipeline and the workgroup count */
};

static enum lf_status make_set(struct lf_vk_device *device, enum lf_vk_binding_kind kind,
                               const struct lf_vk_binding *bindings, uint32_t count,
                               VkDescriptorSet *set, struct lf_error *err);

/* Records workgroups [base, base + n) of d, estimated to take ms. */
static enum lf_status record(struct lf_vk_device *device, const struct dispatch *d,
                             const uint32_t base[3], const uint32_t n[3], double ms,
                             struct lf_error *err)
{
    enum lf_status s = begin(device, err);
    if (s) return s;
    if (d->kind >= 0) {
        VkDescriptorSet set;
        if ((s = make_set(device, (enum lf_vk_binding_kind)d->kind, d->bindings, d->count, &set,
                          err)))
            return s;
        vkCmdBindDescriptorSets(device->command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, d->layout,
                                0, 1, &set, 0, NULL);
    }
    if (device->bound_pipeline != d->pipeline) {
        vkCmdBindPipeline(device->command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipeline);
        device->bound_pipeline = d->pipeline;
    }
    if (d->push_size)
        vkCmdPushConstants(device->command_buffer, d->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                           d->push_size, d->push);
    vkCmdDispatchBase(device->command_buffer, base[0], base[1], base[2], n[0], n[1], n[2]);
    barrier(device);
    device->pending_dispatches++;
    device->pending_ms += ms;
    uint64_t groups = (uint64_t)n[0] * n[1] * n[2];
    if (device->pending_dispatches == 1) {
        device->batch_key = d->key;
        device->batch_groups = groups;
    } else if (device->batch_key == d->key) {
        device->batch_groups += groups;
    } else {
        device->batch_key = 0; /* several keys: not attributable */
    }
    uint32_t i = 0;
    while (i < device->batch_npipelines && device->batch_keys[i] != d->key)
        i++;
    if (i == device->batch_npipelines && i < LF_VK_BATCH_PIPELINES)
        device->batch_keys[device->batch_npipelines++] = d->key;
    return LF_OK;
}

/* Submits the batch and checks the interruption flag. */
static enum lf_status submit(struct lf_vk_device *device, struct lf_error *err)
{
    enum lf_status s = lf_vk_flush(device, err);
    return s ? s : lf_interrupt_check("Vulkan", err);
}

/* Records d over groups[3], in slices of about BATCH_MS along its largest
** dimension, submitting whenever the batch's estimate reaches BATCH_MS. */
static enum lf_status run(struct lf_vk_device *device, const struct dispatch *d,
                          const uint32_t groups[3], struct lf_error *err)
{
    enum lf_status s;
    uint64_t total = (uint64_t)groups[0] * groups[1] * groups[2];
    struct dispatch keyed = *d;
    keyed.key = ((uint64_t)(uintptr_t)d->pipeline ^ (total * 0xff51afd7ed558ccdu)) | 1;
    d = &keyed;
    struct lf_vk_rate *r = rate_slot(device, d->key);
    device->dispatch_count++; /* the op's dispatches, however sliced */
    bool measured = r && r->ms_per_group > 0;
    /* An unmeasured pipeline runs alone: a batch before it is submitted. */
    if (!measured && device->pending_dispatches && (s = submit(device, err))) return s;
    int axis =
        groups[1] > groups[0] ? (groups[2] > groups[1] ? 2 : 1) : (groups[2] > groups[0] ? 2 : 0);
    uint64_t per_row = total / groups[axis]; /* workgroups per unit of axis */
    uint32_t step;
    if (!measured) {
        step = groups[axis] / FIRST_SLICES ? groups[axis] / FIRST_SLICES : 1;
    } else {
        double rows = BATCH_MS / (r->ms_per_group * (double)per_row);
        step = rows >= groups[axis] ? groups[axis] : rows >= 1 ? (uint32_t)rows : 1;
    }
    for (uint32_t at = 0; at < groups[axis];) {
        uint32_t base[3] = {0, 0, 0}, n[3] = {groups[0], groups[1], groups[2]};
        base[axis] = at;
        n[axis] = groups[axis] - at < step ? groups[axis] - at : step;
        double ms = r && r->ms_per_group > 0 ? r->ms_per_group * (double)(per_row * n[axis]) : 0;
        /* Submit first when this slice would take the batch past BATCH_MS. */
        if (device->pending_dispatches && device->pending_ms + ms > BATCH_MS &&
            (s = submit(device, err)))
            return s;
        if ((s = record(device, d, base, n, ms, err))) return s;
        at += n[axis];
        bool measuring = !(r && r->ms_per_group > 0);
        if (measuring || device->pending_ms >= BATCH_MS ||
            device->pending_dispatches >= MAX_PENDING) {
            if ((s = submit(device, err))) return s;
            /* A pipeline's first run is where lavapipe compiles it. */
            if (measuring) lf_vk_note_compile(device, device->last_batch_ms);
            if (measuring && r && r->ms_per_group > 0 && at < groups[axis]) {
                /* The first slice measured the pipeline: size the rest. */
                double rows = BATCH_MS / (r->ms_per_group * (double)per_row);
                step = rows >= groups[axis] ? groups[axis] : rows >= 1 ? (uint32_t)rows : 1;
            }
        }
    }
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
    if (device->lost) return lf_error_set(err, LF_ERR_DEVICE_LOST, "the Vulkan device was lost");
    struct dispatch d = {pipeline, device->pipeline_layout, push, push_size, -1, NULL, 0, 0};
    return run(device, &d, (const uint32_t[3]){groups_x, groups_y, groups_z}, err);
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
    if (device->lost) return lf_error_set(err, LF_ERR_DEVICE_LOST, "the Vulkan device was lost");
    struct dispatch d = {
        pipeline, device->descriptor_layouts[kind], push, push_size, (int)kind, bindings, count, 0};
    return run(device, &d, (const uint32_t[3]){groups_x, groups_y, groups_z}, err);
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
