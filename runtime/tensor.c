/*
** tensor.c - tensor headers, reference counts, uploads and downloads.
*/
#include "backend.h"

#include <stdlib.h>
#include <string.h>

size_t lf_dtype_size(enum lf_dtype dtype)
{
    switch (dtype) {
    case LF_DTYPE_F32:
        return 4;
    case LF_DTYPE_F16:
        return 2;
    case LF_DTYPE_BF16:
        return 2;
    case LF_DTYPE_I32:
        return 4;
    case LF_DTYPE_U8:
        return 1;
    }
    return 0;
}

const char *lf_dtype_name(enum lf_dtype dtype)
{
    switch (dtype) {
    case LF_DTYPE_F32:
        return "f32";
    case LF_DTYPE_F16:
        return "f16";
    case LF_DTYPE_BF16:
        return "bf16";
    case LF_DTYPE_I32:
        return "i32";
    case LF_DTYPE_U8:
        return "u8";
    }
    return "?";
}

static enum lf_status check_shape(int rank, const int64_t *shape, int64_t *numel,
                                  struct lf_error *err)
{
    if (rank < 0 || rank > LF_TENSOR_MAX_RANK)
        return lf_error_set(err, LF_ERR_INVALID, "tensor rank %d is outside 0..%d", rank,
                            LF_TENSOR_MAX_RANK);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > (INT64_C(1) << 40) / shape[i]))
            return lf_error_set(err, LF_ERR_INVALID, "tensor dimension %d of size %lld is invalid",
                                i, (long long)shape[i]);
        n *= shape[i];
    }
    if (n >= (INT64_C(1) << 32))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "a tensor of %lld elements is too large (at most 2^32 - 1)",
                            (long long)n);
    *numel = n;
    return LF_OK;
}

enum lf_status lf_tensor_create(struct lf_device *device, enum lf_dtype dtype, int rank,
                                const int64_t *shape, struct lf_tensor **out, struct lf_error *err)
{
    int64_t numel;
    *out = NULL;
    enum lf_status s = check_shape(rank, shape, &numel, err);
    if (s) return s;
    if (dtype == LF_DTYPE_F16 && !lf_device_has(device, LF_DEVICE_CAP_F16_STORAGE))
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "device %s has no f16 storage",
                            device->info.name);
    struct lf_tensor *t = calloc(1, sizeof *t);
    if (!t) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    s = device->backend->buffer_alloc(device, (uint64_t)numel * lf_dtype_size(dtype), &t->buffer,
                                      err);
    if (s) {
        free(t);
        return s;
    }
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->device = device;
    t->refcount = 1;
    *out = t;
    return LF_OK;
}

enum lf_status lf_tensor_reshape(struct lf_tensor *tensor, int rank, const int64_t *shape,
                                 struct lf_tensor **out, struct lf_error *err)
{
    int64_t numel;
    *out = NULL;
    enum lf_status s = check_shape(rank, shape, &numel, err);
    if (s) return s;
    if (numel != lf_tensor_numel(tensor))
        return lf_error_set(err, LF_ERR_INVALID,
                            "cannot reshape %lld elements into a shape of %lld elements",
                            (long long)lf_tensor_numel(tensor), (long long)numel);
    struct lf_tensor *t = calloc(1, sizeof *t);
    if (!t) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    *t = *tensor;
    memset(t->shape, 0, sizeof t->shape);
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->refcount = 1;
    t->buffer->refcount++;
    *out = t;
    return LF_OK;
}

bool lf_tensor_prepare_weight(struct lf_tensor *tensor)
{
    const struct lf_backend *b = tensor ? lf_tensor_backend(tensor) : NULL;
    struct lf_error ignored = {0};
    return b && b->weight_prepare && b->weight_prepare(tensor, &ignored) == LF_OK;
}

struct lf_tensor *lf_tensor_retain(struct lf_tensor *tensor)
{
    if (tensor) tensor->refcount++;
    return tensor;
}

void lf_tensor_release(struct lf_tensor *tensor)
{
    if (!tensor || --tensor->refcount > 0) return;
    struct lf_tensor_buffer *buffer = tensor->buffer;
    if (--buffer->refcount == 0) buffer->device->backend->buffer_free(buffer);
    free(tensor);
}

bool lf_tensor_is_exclusive(const struct lf_tensor *tensor)
{
    return tensor && tensor->refcount == 1 && tensor->buffer->refcount == 1;
}

int64_t lf_tensor_numel(const struct lf_tensor *tensor)
{
    int64_t n = 1;
    for (int i = 0; i < tensor->rank; i++)
        n *= tensor->shape[i];
    return n;
}

size_t lf_tensor_nbytes(const struct lf_tensor *tensor)
{
    return (size_t)lf_tensor_numel(tensor) * lf_dtype_size(tensor->dtype);
}

enum lf_status lf_tensor_upload(struct lf_tensor *tensor, const void *data, size_t size,
                                struct lf_error *err)
{
    if (size != lf_tensor_nbytes(tensor))
        return lf_error_set(err, LF_ERR_INVALID, "upload of %zu bytes into a tensor of %zu bytes",
                            size, lf_tensor_nbytes(tensor));
    return tensor->device->backend->buffer_write(tensor->buffer, tensor->offset, data, size, err);
}

enum lf_status lf_tensor_download(struct lf_tensor *tensor, void *data, size_t size,
                                  struct lf_error *err)
{
    if (size != lf_tensor_nbytes(tensor))
        return lf_error_set(err, LF_ERR_INVALID, "download of a tensor of %zu bytes into %zu bytes",
                            lf_tensor_nbytes(tensor), size);
    return tensor->device->backend->buffer_read(tensor->buffer, tensor->offset, data, size, err);
}

/* IEEE 754 half conversion with round-to-nearest-even, as PyTorch does. */
uint16_t lf_f32_to_f16(float value)
{
    uint32_t x;
    memcpy(&x, &value, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = mant >> shift;
        uint32_t rest = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1)))
        half++; /* may carry into the exponent, which is still correct */
    return (uint16_t)(sign | half);
}

float lf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while (!(mant & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float lf_bf16_to_f32(uint16_t value)
{
    uint32_t x = (uint32_t)value << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

uint16_t lf_f32_to_bf16(float value)
{
    uint32_t x;
    memcpy(&x, &value, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

enum lf_status lf_tensor_upload_f32(struct lf_tensor *tensor, const float *data, int64_t count,
                                    struct lf_error *err)
{
    if (count != lf_tensor_numel(tensor))
        return lf_error_set(err, LF_ERR_INVALID, "upload of %lld values into a tensor of %lld",
                            (long long)count, (long long)lf_tensor_numel(tensor));
    if (tensor->dtype == LF_DTYPE_F32)
        return lf_tensor_upload(tensor, data, (size_t)count * 4, err);
    if (tensor->dtype != LF_DTYPE_F16 && tensor->dtype != LF_DTYPE_BF16)
        return lf_error_set(err, LF_ERR_INVALID, "cannot upload floats into a %s tensor",
                            lf_dtype_name(tensor->dtype));
    uint16_t *tmp = malloc((size_t)(count ? count : 1) * 2);
    if (!tmp) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int64_t i = 0; i < count; i++)
        tmp[i] = tensor->dtype == LF_DTYPE_F16 ? lf_f32_to_f16(data[i]) : lf_f32_to_bf16(data[i]);
    enum lf_status s = lf_tensor_upload(tensor, tmp, (size_t)count * 2, err);
    free(tmp);
    return s;
}

static bool is_float(enum lf_dtype dtype)
{
    return dtype == LF_DTYPE_F32 || dtype == LF_DTYPE_F16 || dtype == LF_DTYPE_BF16;
}

enum lf_status lf_tensor_upload_convert(struct lf_tensor *tensor, int64_t first, const void *data,
                                        enum lf_dtype from, int64_t count, struct lf_error *err)
{
    int64_t numel = lf_tensor_numel(tensor);
    if (first < 0 || count < 0 || first > numel || count > numel - first)
        return lf_error_set(err, LF_ERR_INVALID,
                            "upload of values %lld..%lld into a tensor of %lld", (long long)first,
                            (long long)(first + count), (long long)numel);
    if (!is_float(from) || !is_float(tensor->dtype))
        return lf_error_set(err, LF_ERR_INVALID, "cannot upload %s values into a %s tensor",
                            lf_dtype_name(from), lf_dtype_name(tensor->dtype));
    const struct lf_backend *backend = tensor->device->backend;
    size_t size = lf_dtype_size(from), to_size = lf_dtype_size(tensor->dtype);
    uint64_t offset = tensor->offset + (uint64_t)first * to_size;
    if (from == tensor->dtype)
        return backend->buffer_write(tensor->buffer, offset, data, (uint64_t)count * size, err);
    if (backend->buffer_write_convert && (uintptr_t)data % size == 0)
        return backend->buffer_write_convert(tensor->buffer, offset, data, from, tensor->dtype,
                                             (uint64_t)count, err);
    /* on the host: through f32 into the tensor's dtype */
    void *tmp = malloc((size_t)(count ? count : 1) * to_size);
    if (!tmp) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    const unsigned char *bytes = data;
    for (int64_t i = 0; i < count; i++) {
        float f;
        uint16_t h;
        if (from == LF_DTYPE_F32) {
            memcpy(&f, bytes + 4 * i, 4);
        } else {
            memcpy(&h, bytes + 2 * i, 2);
            f = from == LF_DTYPE_F16 ? lf_f16_to_f32(h) : lf_bf16_to_f32(h);
        }
        if (tensor->dtype == LF_DTYPE_F32)
            ((float *)tmp)[i] = f;
        else
            ((uint16_t *)tmp)[i] =
                tensor->dtype == LF_DTYPE_F16 ? lf_f32_to_f16(f) : lf_f32_to_bf16(f);
    }
    enum lf_status s =
        backend->buffer_write(tensor->buffer, offset, tmp, (uint64_t)count * to_size, err);
    free(tmp);
    return s;
}

enum lf_status lf_tensor_download_f32(struct lf_tensor *tensor, float *data, int64_t count,
                                      struct lf_error *err)
{
    if (count != lf_tensor_numel(tensor))
        return lf_error_set(err, LF_ERR_INVALID, "download of a tensor of %lld values into %lld",
                            (long long)lf_tensor_numel(tensor), (long long)count);
    if (tensor->dtype == LF_DTYPE_F32)
        return lf_tensor_download(tensor, data, (size_t)count * 4, err);
    if (tensor->dtype != LF_DTYPE_F16 && tensor->dtype != LF_DTYPE_BF16)
        return lf_error_set(err, LF_ERR_INVALID, "cannot download a %s tensor as floats",
                            lf_dtype_name(tensor->dtype));
    uint16_t *tmp = malloc((size_t)(count ? count : 1) * 2);
    if (!tmp) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = lf_tensor_download(tensor, tmp, (size_t)count * 2, err);
    for (int64_t i = 0; s == LF_OK && i < count; i++)
        data[i] = tensor->dtype == LF_DTYPE_F16 ? lf_f16_to_f32(tmp[i]) : lf_bf16_to_f32(tmp[i]);
    free(tmp);
    return s;
}

enum lf_status lf_tensor_download_f32_alloc(struct lf_tensor *tensor, float **data,
                                            struct lf_error *err)
{
    int64_t n = lf_tensor_numel(tensor);
    *data = malloc((size_t)(n ? n : 1) * sizeof **data);
    if (!*data) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = lf_tensor_download_f32(tensor, *data, n, err);
    if (s) {
        free(*data);
        *data = NULL;
    }
    return s;
}

enum lf_status lf_tensor_from_f32(struct lf_device *device, enum lf_dtype dtype, int rank,
                                  const int64_t *shape, const float *data, struct lf_tensor **out,
                                  struct lf_error *err)
{
    enum lf_status s = lf_tensor_create(device, dtype, rank, shape, out, err);
    if (s) return s;
    s = lf_tensor_upload_f32(*out, data, lf_tensor_numel(*out), err);
    if (s) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}
