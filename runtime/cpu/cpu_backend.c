/*
** cpu_backend.c - the native CPU backend's device, buffers and table
** (cpu_impl.h).  One device: this machine's CPU, all its cores (or
** LCMFLOW_THREADS), work run at once on the calling thread and the shared
** OpenMP pool; sync has nothing to wait for.
*/
#include "cpu_impl.h"
#include "cpu_kernels.h"
#include "cpu_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* {======================================================== device */

/* "model name" of /proc/cpuinfo, or "CPU". */
static void cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, size, "%s", colon);
        break;
    }
    fclose(f);
}

static void describe(struct lf_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->backend = LF_BACKEND_CPU;
    info->type = LF_DEVICE_CPU;
    /* bf16 computes on every CPU (oneDNN emulates it without AVX512_BF16);
    ** only where it is native does dtype auto choose it. */
    info->caps = LF_DEVICE_CAP_SUPPORTED | LF_DEVICE_CAP_F16_STORAGE | LF_DEVICE_CAP_HOST_MEMORY |
                 LF_DEVICE_CAP_BF16;
    if (lf_cpu_has_native_bf16()) info->caps |= LF_DEVICE_CAP_BF16_NATIVE;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->memory_size = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    cpu_model(info->name, sizeof info->name);
    char features[128], dnnl[64];
    snprintf(info->details, sizeof info->details,
             "native CPU backend: %s; kernels %s; %d threads; %s",
             lf_cpu_features_text(features, sizeof features), lf_cpu_kernels()->isa,
             lf_cpu_threads(), lf_cpu_dnnl_version(dnnl, sizeof dnnl));
}

static enum lf_status cpu_list(struct lf_device_info *infos, uint32_t capacity, uint32_t *count,
                               struct lf_error *err)
{
    *count = 1;
    if (infos && capacity >= 1) describe(&infos[0]);
    return LF_OK;
}

static enum lf_status cpu_open(uint32_t local_index, const struct lf_device_options *options,
                               struct lf_device **out, struct lf_error *err)
{
    *out = NULL;
    if (local_index != 0)
        return lf_error_set(err, LF_ERR_INVALID, "cpu backend: no device %u (there is one)",
                            local_index);
    enum lf_status s = lf_cpu_dnnl_init(err);
    if (s) return s;
    struct lf_cpu_device *d = calloc(1, sizeof *d);
    if (!d) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of host memory");
    pthread_mutex_init(&d->lock, NULL);
    d->base.backend = &lf_cpu_backend;
    lf_cpu_set_threads(0);
    describe(&d->base.info);
    /* Idle blocks kept: up to half the memory (they were in use, and go
    ** before a fresh block is taken: block_get). */
    d->pool.limit = d->base.info.memory_size / 2;
    *out = &d->base;
    return LF_OK;
}

static void pool_clear(struct lf_cpu_device *d);

static void cpu_destroy(struct lf_device *device)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    lf_cpu_prof_report();
    pool_clear(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static enum lf_status cpu_sync(struct lf_device *device, struct lf_error *err)
{
    return LF_OK;
}

/* With d->lock held. */
static void count(struct lf_cpu_device *d, int64_t used, int64_t held)
{
    d->in_use = (uint64_t)((int64_t)d->in_use + used);
    d->held = (uint64_t)((int64_t)d->held + held);
    if (d->in_use > d->peak) d->peak = d->in_use;
    if (d->held + d->pool.bytes > d->peak_reserved) d->peak_reserved = d->held + d->pool.bytes;
}

void lf_cpu_account(struct lf_device *device, int64_t used, int64_t held)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    pthread_mutex_lock(&d->lock);
    count(d, used, held);
    pthread_mutex_unlock(&d->lock);
}

static void cpu_memory_stats(const struct lf_device *device, struct lf_device_memory_stats *stats)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    /* Reserved counts the kernels' scratch too; it only grows, so its size
    ** now is its peak. */
    uint64_t scratch = lf_cpu_dnnl_scratch_bytes();
    pthread_mutex_lock(&d->lock);
    stats->in_use = d->in_use;
    stats->reserved = d->held + d->pool.bytes + scratch;
    stats->peak_in_use = d->peak;
    stats->peak_reserved = d->peak_reserved + scratch;
    pthread_mutex_unlock(&d->lock);
}

static void cpu_reset_peak(struct lf_device *device)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    pthread_mutex_lock(&d->lock);
    d->peak = d->in_use;
    d->peak_reserved = d->held + d->pool.bytes;
    pthread_mutex_unlock(&d->lock);
}

/* {======================================================== the pool */

/* Sizes from 1 MiB are rounded to 64 KiB so that near sizes share blocks. */
static uint64_t block_size(uint64_t size)
{
    return size >= (1u << 20) ? (size + 0xFFFF) / 0x10000 * 0x10000 : size;
}

/* An idle block of cap in [size, size * 5/4], the smallest; NULL if none. */
static void *pool_take(struct lf_cpu_device *d, uint64_t size, uint64_t *cap)
{
    struct lf_cpu_pool *p = &d->pool;
    int best = -1;
    for (int i = 0; i < p->count; i++)
        if (p->idle[i].cap >= size && p->idle[i].cap <= size + size / 4 &&
            (best < 0 || p->idle[i].cap < p->idle[best].cap))
            best = i;
    if (best < 0) return NULL;
    void *data = p->idle[best].data;
    *cap = p->idle[best].cap;
    p->bytes -= *cap;
    p->idle[best] = p->idle[--p->count];
    return data;
}

/* Keeps a freed block, evicting the oldest while over the limit. */
static void pool_give(struct lf_cpu_device *d, void *data, uint64_t cap)
{
    struct lf_cpu_pool *p = &d->pool;
    if (cap > p->limit) {
        lf_cpu_block_free(data);
        return;
    }
    while (p->count > 0 && (p->count == LF_CPU_POOL_MAX || p->bytes + cap > p->limit)) {
        lf_cpu_block_free(p->idle[0].data);
        p->bytes -= p->idle[0].cap;
        memmove(&p->idle[0], &p->idle[1], (size_t)(--p->count) * sizeof p->idle[0]);
    }
    p->idle[p->count].data = data;
    p->idle[p->count++].cap = cap;
    p->bytes += cap;
}

/* Lets go of the oldest idle blocks, at least bytes of them (or all). */
static void pool_shed(struct lf_cpu_device *d, uint64_t bytes)
{
    struct lf_cpu_pool *p = &d->pool;
    int n = 0;
    for (uint64_t shed = 0; n < p->count && shed < bytes; n++) {
        shed += p->idle[n].cap;
        p->bytes -= p->idle[n].cap;
        lf_cpu_block_free(p->idle[n].data);
    }
    memmove(&p->idle[0], &p->idle[n], (size_t)(p->count - n) * sizeof p->idle[0]);
    p->count -= n;
}

static void pool_clear(struct lf_cpu_device *d)
{
    for (int i = 0; i < d->pool.count; i++)
        lf_cpu_block_free(d->pool.idle[i].data);
    d->pool.count = 0;
    d->pool.bytes = 0;
}

/* {======================================================== buffers */

static void *alloc64(uint64_t size)
{
    return lf_cpu_block_new((size_t)size);
}

/* A block of at least size bytes (*cap: its size): an idle one, else a
** fresh one once as many idle bytes are let go.  NULL: out of memory. */
static void *block_get(struct lf_cpu_device *d, uint64_t size, uint64_t *cap)
{
    *cap = block_size(size);
    pthread_mutex_lock(&d->lock);
    void *data = pool_take(d, size, cap);
    if (data)
        count(d, 0, 0);
    else
        pool_shed(d, *cap);
    pthread_mutex_unlock(&d->lock);
    return data ? data : alloc64(*cap);
}

static enum lf_status cpu_buffer_alloc(struct lf_device *device, uint64_t size,
                                       struct lf_tensor_buffer **out, struct lf_error *err)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    if (device->info.memory_size && size > device->info.memory_size)
        return lf_error_set(err, LF_ERR_OUT_OF_DEVICE_MEMORY,
                            "cpu backend: a tensor of %llu MiB is more than the machine's %llu MiB",
                            (unsigned long long)(size >> 20),
                            (unsigned long long)(device->info.memory_size >> 20));
    struct lf_cpu_buffer *b = calloc(1, sizeof *b);
    uint64_t cap = 0;
    void *data = b ? block_get(d, size, &cap) : NULL;
    if (!data) {
        free(b);
        return lf_error_set(err, LF_ERR_OUT_OF_DEVICE_MEMORY,
                            "cpu backend: out of host memory allocating %llu MiB",
                            (unsigned long long)(size >> 20));
    }
    b->base.refcount = 1;
    b->base.device = device;
    b->base.size = size;
    b->data = data;
    b->held = cap;
    lf_cpu_account(device, (int64_t)size, (int64_t)cap);
    *out = &b->base;
    return LF_OK;
}

void lf_cpu_block_idle(struct lf_device *device, void *data, uint64_t cap)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    if (!d) {
        lf_cpu_block_free(data);
        return;
    }
    pthread_mutex_lock(&d->lock);
    pool_give(d, data, cap);
    count(d, 0, 0); /* the pool counts as reserved */
    pthread_mutex_unlock(&d->lock);
}

void *lf_cpu_block_take(struct lf_device *device, uint64_t bytes, uint64_t *cap)
{
    struct lf_cpu_device *d = (struct lf_cpu_device *)device;
    if (d) return block_get(d, bytes, cap);
    *cap = block_size(bytes);
    return alloc64(*cap);
}

static void cpu_buffer_free(struct lf_tensor_buffer *buffer)
{
    struct lf_cpu_buffer *b = (struct lf_cpu_buffer *)buffer;
    struct lf_cpu_device *d = (struct lf_cpu_device *)buffer->device;
    pthread_mutex_lock(&d->lock);
    count(d, -(int64_t)(b->form == CPU_BUF_PLAIN ? b->base.size : b->held), -(int64_t)b->held);
    pool_give(d, b->data, b->held); /* any form: all are host blocks */
    pthread_mutex_unlock(&d->lock);
    free(b);
}

enum lf_status lf_cpu_buffer_to_f32(struct lf_cpu_buffer *b, float **out, struct lf_error *err)
{
    *out = lf_cpu_host_alloc((size_t)b->numel * sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of host memory");
    if (b->form == CPU_BUF_F32) {
        memcpy(*out, b->data, (size_t)b->numel * sizeof **out);
        return LF_OK;
    }
    enum lf_status s = lf_cpu_conv_weight_unpack(b->data, &b->fmt, *out, err);
    if (s) {
        free(*out);
        *out = NULL;
    }
    return s;
}

enum lf_status lf_cpu_buffer_unprepare(struct lf_cpu_buffer *b, struct lf_error *err)
{
    if (b->form == CPU_BUF_PLAIN) return LF_OK;
    float *values;
    enum lf_status s = lf_cpu_buffer_to_f32(b, &values, err);
    if (s) return s;
    void *plain = values;
    if (b->logical != LF_DTYPE_F32) {
        plain = alloc64(b->base.size);
        if (!plain) {
            free(values);
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of host memory");
        }
        lf_cpu_from_f32(b->logical, values, plain, b->numel);
        free(values);
    }
    int64_t delta = (int64_t)b->base.size - (int64_t)b->held;
    lf_cpu_account(b->base.device, delta, delta);
    lf_cpu_block_free(b->data);
    b->data = plain;
    b->held = b->base.size;
    b->form = CPU_BUF_PLAIN;
    return LF_OK;
}

/* memcpy on every thread: one thread does not fill the memory bandwidth. */
static void copy_bytes(void *to, const void *from, uint64_t n)
{
    enum { CHUNK = 1 << 20 };
#pragma omp parallel for if (n > 4 * CHUNK) schedule(static)
    for (uint64_t lo = 0; lo < n; lo += CHUNK)
        memcpy((char *)to + lo, (const char *)from + lo, n - lo < CHUNK ? n - lo : CHUNK);
}

enum lf_status lf_cpu_buffer_copy_form(struct lf_cpu_buffer *dst, const struct lf_cpu_buffer *src,
                                       struct lf_error *err)
{
    /* The destination's block is reused when the form fits in it, else an
    ** idle one: fresh memory costs a page fault per page. */
    struct lf_cpu_device *d = (struct lf_cpu_device *)dst->base.device;
    void *data = dst->form == CPU_BUF_PLAIN && dst->held >= src->held ? dst->data : NULL;
    uint64_t cap = src->held;
    if (!data && !(data = block_get(d, src->held, &cap)))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of host memory");
    copy_bytes(data, src->data, src->held);
    if (data != dst->data) {
        pthread_mutex_lock(&d->lock);
        count(d, -(int64_t)(dst->form == CPU_BUF_PLAIN ? dst->base.size : dst->held),
              -(int64_t)dst->held);
        count(d, (int64_t)cap, (int64_t)cap);
        pool_give(d, dst->data, dst->held);
        pthread_mutex_unlock(&d->lock);
        dst->data = data;
        dst->held = cap;
    } else {
        /* held stays the block's size: in use is now all of it */
        lf_cpu_account(dst->base.device, (int64_t)dst->held - (int64_t)dst->base.size, 0);
    }
    dst->form = src->form;
    dst->logical = src->logical;
    dst->numel = src->numel;
    dst->fmt = src->fmt;
    return LF_OK;
}

static enum lf_status cpu_buffer_write(struct lf_tensor_buffer *buffer, uint64_t offset,
                                       const void *data, uint64_t size, struct lf_error *err)
{
    struct lf_cpu_buffer *b = (struct lf_cpu_buffer *)buffer;
    enum lf_status s = lf_cpu_buffer_unprepare(b, err);
    if (s) return s;
    memcpy((char *)b->data + offset, data, size);
    return LF_OK;
}

/* Converts on every thread straight into the buffer: loading a checkpoint
** converts about a billion values.  16-bit to 16-bit goes through f32 in
** stretches on each thread's stack. */
static enum lf_status cpu_buffer_write_convert(struct lf_tensor_buffer *buffer, uint64_t offset,
                                               const void *data, enum lf_dtype from,
                                               enum lf_dtype to, uint64_t count,
                                               struct lf_error *err)
{
    struct lf_cpu_buffer *b = (struct lf_cpu_buffer *)buffer;
    enum lf_status s = lf_cpu_buffer_unprepare(b, err);
    if (s) return s;
    void *y = (char *)b->data + offset;
    int64_t n = (int64_t)count;
    if (to == LF_DTYPE_F32) {
        lf_cpu_to_f32(from, data, y, n);
    } else if (from == LF_DTYPE_F32) {
        lf_cpu_from_f32(to, data, y, n);
    } else {
        enum { STRETCH = 16384 }; /* 64 KiB of f32 on each thread's stack */
#pragma omp parallel for if (n > 4 * STRETCH) schedule(static)
        for (int64_t lo = 0; lo < n; lo += STRETCH) {
            float tmp[STRETCH];
            int64_t m = n - lo < STRETCH ? n - lo : STRETCH;
            lf_cpu_to_f32(from, (const uint16_t *)data + lo, tmp, m);
            lf_cpu_from_f32(to, tmp, (uint16_t *)y + lo, m);
        }
    }
    return LF_OK;
}

static enum lf_status cpu_buffer_read(struct lf_tensor_buffer *buffer, uint64_t offset, void *data,
                                      uint64_t size, struct lf_error *err)
{
    struct lf_cpu_buffer *b = (struct lf_cpu_buffer *)buffer;
    if (b->form == CPU_BUF_PLAIN) {
        memcpy(data, (char *)b->data + offset, size);
        return LF_OK;
    }
    float *values;
    enum lf_status s = lf_cpu_buffer_to_f32(b, &values, err);
    if (s) return s;
    size_t es = lf_dtype_size(b->logical);
    int64_t first = (int64_t)(offset / es), count = (int64_t)(size / es);
    lf_cpu_from_f32(b->logical, values + first, data, count);
    free(values);
    return LF_OK;
}

/* {======================================================== op helpers */

void lf_cpu_to_f32(enum lf_dtype dtype, const void *x, float *y, int64_t n)
{
    if (dtype == LF_DTYPE_F16)
        lf_cpu_kernels()->f16_to_f32(x, y, n);
    else if (dtype == LF_DTYPE_BF16)
        lf_cpu_kernels()->bf16_to_f32(x, y, n);
    else
        memcpy(y, x, (size_t)n * sizeof *y);
}

void lf_cpu_from_f32(enum lf_dtype dtype, const float *x, void *y, int64_t n)
{
    if (dtype == LF_DTYPE_F16)
        lf_cpu_kernels()->f32_to_f16(x, y, n);
    else if (dtype == LF_DTYPE_BF16)
        lf_cpu_kernels()->f32_to_bf16(x, y, n);
    else
        memcpy(y, x, (size_t)n * sizeof *x);
}

enum lf_status lf_cpu_input(struct lf_tensor *t, const float **out, float **tmp,
                            struct lf_error *err)
{
    *out = NULL;
    *tmp = NULL;
    if (!t) return LF_OK;
    struct lf_cpu_buffer *b = lf_cpu_buf(t);
    int64_t n = lf_tensor_numel(t);
    if (b->form == CPU_BUF_PLAIN && t->dtype == LF_DTYPE_F32) {
        *out = (const float *)lf_cpu_bytes(t);
        return LF_OK;
    }
    if (b->form == CPU_BUF_F32) {
        *out = (const float *)b->data + t->offset / lf_dtype_size(b->logical);
        return LF_OK;
    }
    if (b->form == CPU_BUF_PACKED) {
        enum lf_status s = lf_cpu_buffer_to_f32(b, tmp, err);
        *out = *tmp ? *tmp + t->offset / lf_dtype_size(b->logical) : NULL;
        return s;
    }
    if (t->dtype != LF_DTYPE_F16 && t->dtype != LF_DTYPE_BF16)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "cpu backend: %s is not a float dtype",
                            lf_dtype_name(t->dtype));
    *tmp = lf_cpu_host_alloc((size_t)(n ? n : 1) * sizeof **tmp);
    if (!*tmp) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of host memory");
    lf_cpu_to_f32(t->dtype, lf_cpu_bytes(t), *tmp, n);
    *out = *tmp;
    return LF_OK;
}

enum lf_status lf_cpu_output(struct lf_tensor *y, float **out, struct lf_error *err)
{
    if (y->dtype == LF_DTYPE_F32) {
        *out = lf_cpu_bytes(y);
        return LF_OK;
    }
    int64_t n = lf_tensor_numel(y);
    *out = lf_cpu_host_alloc((size_t)(n ? n : 1) * sizeof **out);
    return *out ? LF_OK
                : lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of host memory");
}

void lf_cpu_output_done(struct lf_tensor *y, float *values)
{
    if (!values || y->dtype == LF_DTYPE_F32) return;
    lf_cpu_from_f32(y->dtype, values, lf_cpu_bytes(y), lf_tensor_numel(y));
    free(values);
}

const struct lf_backend lf_cpu_backend = {
    .name = "cpu",
    .kind = LF_BACKEND_CPU,
    .list = cpu_list,
    .open = cpu_open,
    .destroy = cpu_destroy,
    .sync = cpu_sync,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_write_convert = cpu_buffer_write_convert,
    .memory_stats = cpu_memory_stats,
    .reset_peak = cpu_reset_peak,
    .gemm = lf_cpu_op_gemm,
    .conv2d = lf_cpu_op_conv2d,
    .group_norm = lf_cpu_op_group_norm,
    .layer_norm = lf_cpu_op_layer_norm,
    .attention = lf_cpu_op_attention,
    .softmax = lf_cpu_op_softmax,
    .unary = lf_cpu_op_unary,
    .geglu = lf_cpu_op_geglu,
    .binary = lf_cpu_op_binary,
    .fill = lf_cpu_op_fill,
    .concat = lf_cpu_op_concat,
    .resize_nearest = lf_cpu_op_resize_nearest,
    .permute = lf_cpu_op_permute,
    .timestep_embedding = lf_cpu_op_timestep_embedding,
    .lora_merge = lf_cpu_op_lora_merge,
    .weight_prepare = lf_cpu_op_weight_prepare,
};
