/*
** cpu_dnnl.h - convolution, GEMM and the LoRA merge through oneDNN (f32),
** on host arrays.  One engine and stream per process; primitives are built
** once per shape and kept (cpu_dnnl.c).  Convolution runs in oneDNN's
** blocked layouts: activations are reordered in and out per call (NCHW is
** the layout every other op sees), weights either per call or once
** (lf_cpu_conv_weight_pack).
*/
#ifndef LF_CPU_DNNL_H
#define LF_CPU_DNNL_H

#include "lcmflow/error.h"
#include "lcmflow/tensor.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates the engine and stream on first use. */
enum lf_status lf_cpu_dnnl_init(struct lf_error *err);

/* "oneDNN 2.6.3 (OpenMP)". */
const char *lf_cpu_dnnl_version(char *buf, size_t size);

/* c[z] = op(a[z]) @ op(b[z]) (+ bias) as struct lf_gemm_shape says:
** a[z] starts at z * a_bstride (0: shared), likewise b; c is [batch, m, n].
** a, b and c are f32, or bf16 when bf16 is set (f32 accumulation); the
** bias is f32 always. */
struct lf_cpu_gemm {
    const void *a, *b;
    const float *bias;
    void *c;
    int64_t m, n, k, batch, a_bstride, b_bstride;
    bool trans_a, trans_b;
    bool bf16;
};
enum lf_status lf_cpu_gemm(const struct lf_cpu_gemm *g, struct lf_error *err);

/* The layout of packed convolution weights (plain oihw when packed is
** false). */
struct lf_cpu_wformat {
    bool packed;
    dnnl_memory_desc_t md;
};

/* x, y and the weight are f32, or bf16 when bf16 is set (f32
** accumulation; packed weights then in a bf16 layout); the bias is f32. */
struct lf_cpu_conv {
    const void *x; /* [batch, c, h, w] */
    const void *weight;
    const struct lf_cpu_wformat *wformat; /* NULL: weight is plain [o, c, kh, kw] */
    const float *bias;                    /* [o] or NULL */
    void *y;                              /* [batch, o, oh, ow] */
    int64_t batch, c, h, w, o, kh, kw, oh, ow;
    int64_t stride, pad_top, pad_bottom, pad_left, pad_right;
    bool bf16;
    int64_t x_plane, y_plane; /* elements from a channel's plane to the next (0: h*w, oh*ow) */
};
/* Large images run in bands of output rows (cpu_dnnl.c says why). */
enum lf_status lf_cpu_conv2d(const struct lf_cpu_conv *p, struct lf_error *err);

/* The bytes of blocked input and output copies above which a convolution
** runs in bands (0: the default); for tests. */
void lf_cpu_conv_set_band_bytes(size_t bytes);

/* Packs plain weights [o, c, kh, kw] into the layout oneDNN prefers for
** this kernel size: f32 ones, or bf16 ones when bf16 is set (for bf16
** convolutions; the layout is bf16 too).  On
** success *out is malloc'd (aligned 64; caller frees) of *bytes bytes and
** *fmt describes it; LF_ERR_UNSUPPORTED when the plain layout is already
** what oneDNN wants (nothing to gain). */
struct lf_device;
/* *out is a block of device's (from its pool of idle blocks when one fits:
** fresh pages are slow), *cap bytes (>= *bytes). */
enum lf_status lf_cpu_conv_weight_pack(struct lf_device *device, const void *w, int64_t o,
                                       int64_t c, int64_t kh, int64_t kw, bool bf16, void **out,
                                       size_t *bytes, uint64_t *cap, struct lf_cpu_wformat *fmt,
                                       struct lf_error *err);

/* The reverse: packed (f32 or bf16) -> plain f32 [o, c, kh, kw] (o..kw
** from fmt). */
enum lf_status lf_cpu_conv_weight_unpack(const void *packed, const struct lf_cpu_wformat *fmt,
                                         float *w, struct lf_error *err);

/* In place: w [n, k] += scale * up [n, r] @ down [r, k], w plain f32, f16
** or bf16 (the sum in f32, rounded once into dtype). */
enum lf_status lf_cpu_lora_merge(void *w, enum lf_dtype dtype, const float *up, const float *down,
                                 int64_t n, int64_t k, int64_t r, float scale,
                                 struct lf_error *err);

/* The same on packed conv weights, in their layout (no unpacking): w
** [o, c, kh, kw] as fmt says, up [o, r], down [r, c * kh * kw]. */
enum lf_status lf_cpu_lora_merge_packed(void *w, const struct lf_cpu_wformat *fmt, const float *up,
                                        const float *down, int64_t r, float scale,
                                        struct lf_error *err);

/* Bytes of the grow-only scratch held now (blocked copies, unpacked
** weights, oneDNN's scratchpad). */
size_t lf_cpu_dnnl_scratch_bytes(void);

/* Frees every cached primitive (tests, and the last device's close). */
void lf_cpu_dnnl_release(void);

#endif
