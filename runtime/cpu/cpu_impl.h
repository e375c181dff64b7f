/*
** cpu_impl.h - the CPU backend's device and buffers (cpu_backend.c) as its
** op entries (cpu_ops.c) see them.
**
** A buffer is 64-byte aligned host memory holding the tensor bytes, until
** weight_prepare turns a whole-buffer weight into one of two forms:
** CPU_BUF_F32 (an f16 weight held as f32, so no op converts it again) or
** CPU_BUF_PACKED (a convolution weight in oneDNN's blocked layout: bf16 for
** a bf16 weight, f32 otherwise).
** Either form replaces the original (the weight is held once).  Reads,
** writes and ops that take such a buffer as a plain input see the logical
** bytes: cpu_input() and buffer_read convert back on the fly; a write
** first returns the buffer to its plain form.
*/
#ifndef LF_CPU_IMPL_H
#define LF_CPU_IMPL_H

#include "backend.h"
#include "cpu_dnnl.h"

#include <pthread.h>

#define LF_CPU_POOL_MAX 1024

/* Freed blocks kept for reuse: every UNet step allocates the same sizes, a
** LoRA strength change re-loads the layers it lets go, and fresh memory
** costs a page fault per page (in a VM, 10 us per 4 KiB page was measured
** here).  A fresh block first lets go of idle ones at least as large, so
** the pool never raises the peak of the process's memory. */
struct lf_cpu_pool {
    struct {
        void *data;
        uint64_t cap;
    } idle[LF_CPU_POOL_MAX];
    int count;
    uint64_t bytes, limit;
};

struct lf_cpu_device {
    struct lf_device base;
    pthread_mutex_t lock;         /* the counters and the pool */
    uint64_t in_use, peak;        /* bytes of tensors (prepared forms: as held) */
    uint64_t held, peak_reserved; /* bytes of live blocks, + the pool's for peak */
    struct lf_cpu_pool pool;
};

enum lf_cpu_form {
    CPU_BUF_PLAIN = 0, /* data holds the logical bytes */
    CPU_BUF_F32,       /* data holds numel f32 values of an f16 tensor */
    CPU_BUF_PACKED,    /* data holds fmt's blocked layout (f32, or bf16 for bf16) */
};

struct lf_cpu_buffer {
    struct lf_tensor_buffer base;
    void *data;
    uint64_t held; /* bytes of data, as counted in the device's in_use */
    enum lf_cpu_form form;
    enum lf_dtype logical; /* the tensor's dtype, for the non-plain forms */
    int64_t numel;         /* logical elements, for the non-plain forms */
    struct lf_cpu_wformat fmt;
};

static inline struct lf_cpu_buffer *lf_cpu_buf(const struct lf_tensor *t)
{
    return (struct lf_cpu_buffer *)t->buffer;
}

/* Counts bytes in or out of the device's memory (deltas may be negative):
** used by tensors, and held in blocks. */
void lf_cpu_account(struct lf_device *device, int64_t used, int64_t held);

/* The whole buffer's logical values as f32 (malloc'd, caller frees). */
enum lf_status lf_cpu_buffer_to_f32(struct lf_cpu_buffer *b, float **out, struct lf_error *err);

/* Returns b to its plain form (the logical bytes in data). */
enum lf_status lf_cpu_buffer_unprepare(struct lf_cpu_buffer *b, struct lf_error *err);

/* Makes dst (a whole plain buffer of src's dtype and size) a copy of src
** in src's prepared form. */
enum lf_status lf_cpu_buffer_copy_form(struct lf_cpu_buffer *dst, const struct lf_cpu_buffer *src,
                                       struct lf_error *err);

/* An input's values as f32: a pointer into the buffer when it already
** holds them, else into *tmp (malloc'd; the caller frees *tmp, NULL when
** unused).  NULL tensors give NULL. */
enum lf_status lf_cpu_input(struct lf_tensor *t, const float **out, float **tmp,
                            struct lf_error *err);

/* Where an op writes y's values as f32: y's memory when y is f32, else a
** temporary that lf_cpu_output_done converts into y and frees. */
enum lf_status lf_cpu_output(struct lf_tensor *y, float **out, struct lf_error *err);
void lf_cpu_output_done(struct lf_tensor *y, float *values);

/* n values of dtype (f32, f16 or bf16) to f32 and back (vectorised). */
void lf_cpu_to_f32(enum lf_dtype dtype, const void *x, float *y, int64_t n);
void lf_cpu_from_f32(enum lf_dtype dtype, const float *x, void *y, int64_t n);

/* Convolutions and GEMMs run so far in each precision (oneDNN in bf16 or
** f32): what a test checks to catch a silent change of precision. */
struct lf_cpu_dtype_counts {
    long f32, bf16;
};
void lf_cpu_dtype_counts(struct lf_cpu_dtype_counts *out);

/* The plain bytes of t (PLAIN buffers only). */
static inline void *lf_cpu_bytes(const struct lf_tensor *t)
{
    return (char *)lf_cpu_buf(t)->data + t->offset;
}

extern const struct lf_backend lf_cpu_backend;

/* The op entries (cpu_ops.c, cpu_ops_layout.c), set into lf_cpu_backend. */
enum lf_status lf_cpu_op_gemm(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                              bool trans_a, bool trans_b, const struct lf_gemm_shape *g,
                              struct lf_tensor *c, struct lf_error *err);
enum lf_status lf_cpu_op_conv2d(struct lf_tensor *x, struct lf_tensor *w, struct lf_tensor *bias,
                                const struct lf_conv2d_params *params, struct lf_tensor *y,
                                struct lf_error *err);
enum lf_status lf_cpu_op_group_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                    struct lf_tensor *beta, int groups, float eps, bool silu,
                                    struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_cpu_op_layer_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                    struct lf_tensor *beta, float eps, struct lf_tensor *y,
                                    struct lf_error *err);
enum lf_status lf_cpu_op_attention(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                                   int heads, float scale, bool causal, struct lf_tensor *y,
                                   struct lf_error *err);
enum lf_status lf_cpu_op_softmax(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_cpu_op_unary(struct lf_tensor *x, uint32_t fn, float scale, float shift,
                               struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_cpu_op_geglu(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_cpu_op_binary(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                                struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_cpu_op_fill(struct lf_tensor *x, float value, struct lf_error *err);
enum lf_status lf_cpu_op_concat(struct lf_tensor *a, struct lf_tensor *b, int axis,
                                struct lf_tensor *y, struct lf_error *err);
enum lf_status lf_cpu_op_resize_nearest(struct lf_tensor *x, struct lf_tensor *y,
                                        struct lf_error *err);
enum lf_status lf_cpu_op_permute(struct lf_tensor *x, const int *perm, struct lf_tensor *y,
                                 struct lf_error *err);
enum lf_status lf_cpu_op_timestep_embedding(struct lf_tensor *t, int dim, bool flip_sin_to_cos,
                                            float shift, float max_period, struct lf_tensor *y,
                                            struct lf_error *err);
enum lf_status lf_cpu_op_lora_merge(struct lf_tensor *w, struct lf_tensor *up,
                                    struct lf_tensor *down, float scale, struct lf_error *err);
enum lf_status lf_cpu_op_weight_prepare(struct lf_tensor *w, struct lf_error *err);

#endif
