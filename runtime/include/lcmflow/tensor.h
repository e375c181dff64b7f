/*
** tensor.h - n-dimensional arrays in device memory.
**
** A tensor has a dtype, a rank (1..LF_TENSOR_MAX_RANK, or 0 for a scalar)
** and a shape; its elements are stored contiguously in row-major order (the
** last dimension varies fastest), so no strides are needed: ops that need
** another layout produce a new tensor (lf_op_permute).  Images and
** activations use NCHW, sequences [batch, tokens, channels].
**
** Tensors are reference counted.  lf_tensor_create returns one reference,
** lf_tensor_retain adds one, lf_tensor_release drops one; the memory returns
** to the device allocator when the last reference goes.  A reshaped view
** shares the memory of its source and keeps it alive.
*/
#ifndef LCMFLOW_TENSOR_H
#define LCMFLOW_TENSOR_H

#include "lcmflow/device.h"
#include "lcmflow/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lf_dtype {
    LF_DTYPE_F32 = 0,
    LF_DTYPE_F16,
    LF_DTYPE_BF16, /* ops take it on devices with LF_DEVICE_CAP_BF16; else loading only */
    LF_DTYPE_I32,
    LF_DTYPE_U8,
};

#define LF_TENSOR_MAX_RANK 4

struct lf_tensor_buffer; /* device memory, private to the runtime */

/* Read the fields, never write them. */
struct lf_tensor {
    enum lf_dtype dtype;
    int rank;
    int64_t shape[LF_TENSOR_MAX_RANK];
    /* private */
    struct lf_device *device;
    struct lf_tensor_buffer *buffer;
    uint64_t offset; /* bytes from the start of buffer */
    uint32_t refcount;
};

size_t lf_dtype_size(enum lf_dtype dtype);
const char *lf_dtype_name(enum lf_dtype dtype);

/* Creates a tensor with uninitialised contents.  Caller releases. */
enum lf_status lf_tensor_create(struct lf_device *device, enum lf_dtype dtype, int rank,
                                const int64_t *shape, struct lf_tensor **out, struct lf_error *err);

/* A new tensor header over the same memory with another shape of the same
** element count.  Caller releases; the source may be released first. */
enum lf_status lf_tensor_reshape(struct lf_tensor *tensor, int rank, const int64_t *shape,
                                 struct lf_tensor **out, struct lf_error *err);

/* A hint: tensor will serve as convolution or linear weights from now on
** and be written only by lf_op_lora_merge.  The backend may reorder it
** once into the layout its kernels prefer (the CPU backend: oneDNN's
** blocked layout, f16 held as f32); downloads and every op still see the
** logical values.  Returns whether the hint was taken. */
bool lf_tensor_prepare_weight(struct lf_tensor *tensor);

struct lf_tensor *lf_tensor_retain(struct lf_tensor *tensor);
void lf_tensor_release(struct lf_tensor *tensor); /* NULL allowed */
/* True when tensor is the only reference to its memory (no other holder of
** it, no other view of its buffer): writing into it changes nothing anyone
** else sees. */
bool lf_tensor_is_exclusive(const struct lf_tensor *tensor);

int64_t lf_tensor_numel(const struct lf_tensor *tensor);
size_t lf_tensor_nbytes(const struct lf_tensor *tensor);

/* Copies bytes already in the tensor's dtype; size must equal nbytes. */
enum lf_status lf_tensor_upload(struct lf_tensor *tensor, const void *data, size_t size,
                                struct lf_error *err);
/* Waits for pending work, then copies the tensor's bytes out. */
enum lf_status lf_tensor_download(struct lf_tensor *tensor, void *data, size_t size,
                                  struct lf_error *err);

/* Float conversions: count must equal numel; the tensor must be f32 or f16
** (bf16 too for upload). */
enum lf_status lf_tensor_upload_f32(struct lf_tensor *tensor, const float *data, int64_t count,
                                    struct lf_error *err);
enum lf_status lf_tensor_download_f32(struct lf_tensor *tensor, float *data, int64_t count,
                                      struct lf_error *err);

/* Writes count values of dtype from (f32, f16 or bf16; data needs no
** alignment) into elements [first, first + count) of a tensor of one of
** those dtypes, converting: widening is exact, narrowing rounds to nearest
** even.  The backend converts where it is cheapest (the CPU backend: on
** every thread, straight into the tensor's memory). */
enum lf_status lf_tensor_upload_convert(struct lf_tensor *tensor, int64_t first, const void *data,
                                        enum lf_dtype from, int64_t count, struct lf_error *err);

/* Convenience: download_f32 into a new array (*data malloc'd, caller
** frees; NULL on error). */
enum lf_status lf_tensor_download_f32_alloc(struct lf_tensor *tensor, float **data,
                                            struct lf_error *err);

/* Convenience: create + upload_f32. */
enum lf_status lf_tensor_from_f32(struct lf_device *device, enum lf_dtype dtype, int rank,
                                  const int64_t *shape, const float *data, struct lf_tensor **out,
                                  struct lf_error *err);

/* Host-side conversions shared by loaders and tests. */
uint16_t lf_f32_to_f16(float value);
float lf_f16_to_f32(uint16_t value);
float lf_bf16_to_f32(uint16_t value);
uint16_t lf_f32_to_bf16(float value);

#endif
