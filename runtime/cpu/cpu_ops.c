/*
** cpu_ops.c - the CPU backend's op entries (backend.h contracts): inputs
** as f32 (converted from f16 or from a prepared form when needed), the
** kernels of cpu_kernels.h / cpu_dnnl.h, the output converted to its dtype.
*/
#include "cpu_impl.h"
#include "cpu_kernels.h"
#include "cpu_profile.h"
#include "interrupt.h"

#include <stdlib.h>
#include <string.h>

/* The f32 views of up to 4 inputs and of the output of one call. */
struct io {
    const float *in[4];
    float *tmp[4];
    float *out;
};

static enum lf_status io_begin(struct io *io, struct lf_tensor *y, struct lf_tensor *const *ins,
                               int n, struct lf_error *err)
{
    memset(io, 0, sizeof *io);
    enum lf_status s = LF_OK;
    for (int i = 0; i < n && s == LF_OK; i++)
        s = lf_cpu_input(ins[i], &io->in[i], &io->tmp[i], err);
    if (s == LF_OK && y) s = lf_cpu_output(y, &io->out, err);
    return s;
}

/* Frees the temporaries; on success converts the output into y. */
static enum lf_status io_end(struct io *io, struct lf_tensor *y, enum lf_status s)
{
    for (int i = 0; i < 4; i++)
        free(io->tmp[i]);
    if (!y || !io->out) return s;
    if (s == LF_OK)
        lf_cpu_output_done(y, io->out);
    else if (y->dtype != LF_DTYPE_F32)
        free(io->out);
    return s;
}

static int64_t numel(const struct lf_tensor *t)
{
    return lf_tensor_numel(t);
}

static long dtype_calls[2]; /* [bf16]: oneDNN convolutions and GEMMs run */

static void count_call(bool bf16)
{
    __atomic_add_fetch(&dtype_calls[bf16], 1, __ATOMIC_RELAXED);
}

void lf_cpu_dtype_counts(struct lf_cpu_dtype_counts *out)
{
    out->f32 = __atomic_load_n(&dtype_calls[0], __ATOMIC_RELAXED);
    out->bf16 = __atomic_load_n(&dtype_calls[1], __ATOMIC_RELAXED);
}

/* Whether t is a plain bf16 tensor: oneDNN and the bf16 kernels read it as
** it is. */
static bool plain_bf16(const struct lf_tensor *t)
{
    return t->dtype == LF_DTYPE_BF16 && lf_cpu_buf(t)->form == CPU_BUF_PLAIN;
}

enum lf_status lf_cpu_op_gemm(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                              bool trans_a, bool trans_b, const struct lf_gemm_shape *g,
                              struct lf_tensor *c, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    /* All bf16: oneDNN on the bf16 bytes (f32 accumulation), else in f32. */
    bool bf16 = plain_bf16(a) && plain_bf16(b) && plain_bf16(c);
    struct io io;
    struct lf_tensor *ins[3] = {bf16 ? NULL : a, bf16 ? NULL : b, bias};
    enum lf_status s = io_begin(&io, bf16 ? NULL : c, ins, 3, err);
    if (s == LF_OK) {
        struct lf_cpu_gemm q = {bf16 ? lf_cpu_bytes(a) : (const void *)io.in[0],
                                bf16 ? lf_cpu_bytes(b) : (const void *)io.in[1],
                                io.in[2],
                                bf16 ? lf_cpu_bytes(c) : (void *)io.out,
                                g->m,
                                g->n,
                                g->k,
                                g->batch,
                                g->a_bstride,
                                g->b_bstride,
                                trans_a,
                                trans_b,
                                bf16};
        s = lf_cpu_gemm(&q, err);
        count_call(bf16);
    }
    lf_cpu_prof_add_bf16(LF_CPU_PROF_GEMM, t0, 2.0 * g->m * g->n * g->k * g->batch, bf16);
    return io_end(&io, bf16 ? NULL : c, s);
}

static enum lf_cpu_prof conv_class(const struct lf_tensor *w)
{
    if (w->shape[2] == 3 && w->shape[3] == 3) return LF_CPU_PROF_CONV3;
    if (w->shape[2] == 1 && w->shape[3] == 1) return LF_CPU_PROF_CONV1;
    return LF_CPU_PROF_CONV_OTHER;
}

enum lf_status lf_cpu_op_conv2d(struct lf_tensor *x, struct lf_tensor *w, struct lf_tensor *bias,
                                const struct lf_conv2d_params *params, struct lf_tensor *y,
                                struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct lf_cpu_buffer *wb = lf_cpu_buf(w);
    bool packed = wb->form == CPU_BUF_PACKED;
    /* bf16 activations with bf16 weights (packed or plain): oneDNN on the
    ** bf16 bytes, f32 accumulation; anything else in f32 (packed bf16
    ** weights then come unpacked through io). */
    bool wbf16 = packed ? wb->fmt.md.data_type == dnnl_bf16 : plain_bf16(w);
    bool bf16 = wbf16 && plain_bf16(x) && plain_bf16(y);
    bool raw_w = bf16 || (packed && !wbf16);
    struct io io;
    struct lf_tensor *ins[3] = {bf16 ? NULL : x, raw_w ? NULL : w, bias};
    enum lf_status s = io_begin(&io, bf16 ? NULL : y, ins, 3, err);
    if (s == LF_OK) {
        struct lf_cpu_conv p = {
            .x = bf16 ? lf_cpu_bytes(x) : (const void *)io.in[0],
            .weight = !raw_w   ? (const void *)io.in[1]
                      : packed ? wb->data
                               : lf_cpu_bytes(w),
            .wformat = raw_w && packed ? &wb->fmt : NULL,
            .bias = io.in[2],
            .y = bf16 ? lf_cpu_bytes(y) : (void *)io.out,
            .bf16 = bf16,
            .batch = x->shape[0],
            .c = x->shape[1],
            .h = x->shape[2],
            .w = x->shape[3],
            .o = w->shape[0],
            .kh = w->shape[2],
            .kw = w->shape[3],
            .oh = y->shape[2],
            .ow = y->shape[3],
            .stride = params->stride,
            .pad_top = params->pad_top,
            .pad_bottom = params->pad_bottom,
            .pad_left = params->pad_left,
            .pad_right = params->pad_right,
        };
        s = lf_cpu_conv2d(&p, err);
        count_call(bf16);
    }
    lf_cpu_prof_add_bf16(
        conv_class(w), t0,
        2.0 * (double)lf_tensor_numel(y) * (double)(w->shape[1] * w->shape[2] * w->shape[3]), bf16);
    return io_end(&io, bf16 ? NULL : y, s);
}

enum lf_status lf_cpu_op_group_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                    struct lf_tensor *beta, int groups, float eps, bool silu,
                                    struct lf_tensor *y, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    bool bf16 = plain_bf16(x) && plain_bf16(y); /* read and written as bf16 */
    struct io io;
    struct lf_tensor *ins[3] = {bf16 ? NULL : x, gamma, beta};
    enum lf_status s = io_begin(&io, bf16 ? NULL : y, ins, 3, err);
    if (s == LF_OK) {
        int64_t b = x->shape[0], c = x->shape[1], spatial = numel(x) / (b * c);
        if (bf16)
            lf_cpu_kernels()->group_norm_bf16(lf_cpu_bytes(x), io.in[1], io.in[2], b, c, spatial,
                                              groups, eps, silu, lf_cpu_bytes(y));
        else
            lf_cpu_kernels()->group_norm(io.in[0], io.in[1], io.in[2], b, c, spatial, groups, eps,
                                         silu, io.out);
    }
    lf_cpu_prof_add(LF_CPU_PROF_GROUP_NORM, t0, 0);
    return io_end(&io, bf16 ? NULL : y, s);
}

enum lf_status lf_cpu_op_layer_norm(struct lf_tensor *x, struct lf_tensor *gamma,
                                    struct lf_tensor *beta, float eps, struct lf_tensor *y,
                                    struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct io io;
    struct lf_tensor *ins[3] = {x, gamma, beta};
    enum lf_status s = io_begin(&io, y, ins, 3, err);
    if (s == LF_OK) {
        int64_t cols = x->shape[x->rank - 1];
        lf_cpu_kernels()->layer_norm(io.in[0], io.in[1], io.in[2], numel(x) / cols, cols, eps,
                                     io.out);
    }
    lf_cpu_prof_add(LF_CPU_PROF_LAYER_NORM, t0, 0);
    return io_end(&io, y, s);
}

#define ATTENTION_SLICE_FLOP 2e9 /* 20-100 ms on 2-16 cores */

static enum lf_status attention_no_memory(struct lf_error *err)
{
    return lf_error_set(err, LF_ERR_OUT_OF_MEMORY,
                        "cpu backend: attention: no memory for its tiles");
}

enum lf_status lf_cpu_op_attention(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                                   int heads, float scale, bool causal, struct lf_tensor *y,
                                   struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    /* All bf16: the kernel reads and writes the bf16 bytes itself. */
    bool bf16 = plain_bf16(q) && plain_bf16(k) && plain_bf16(v) && plain_bf16(y);
    struct io io;
    struct lf_tensor *ins[3] = {bf16 ? NULL : q, bf16 ? NULL : k, bf16 ? NULL : v};
    enum lf_status s = io_begin(&io, bf16 ? NULL : y, ins, 3, err);
    struct lf_cpu_attention a = {
        .q = bf16 ? lf_cpu_bytes(q) : (const void *)io.in[0],
        .k = bf16 ? lf_cpu_bytes(k) : (const void *)io.in[1],
        .v = bf16 ? lf_cpu_bytes(v) : (const void *)io.in[2],
        .y = bf16 ? lf_cpu_bytes(y) : (void *)io.out,
        .batch = q->shape[0],
        .lq = q->shape[1],
        .lk = k->shape[1],
        .heads = heads,
        .head_dim = q->shape[2] / heads,
        .scale = scale,
        .causal = causal,
        .bf16 = bf16,
    };
    if (s == LF_OK && !(a.pack = lf_cpu_host_alloc(lf_cpu_attention_pack_floats(&a) * 4)))
        s = attention_no_memory(err);
    if (s == LF_OK) {
        /* Query rows in slices of about ATTENTION_SLICE_FLOP, the
        ** interruption flag checked between them (interrupt.h): one SD 1.5
        ** attention at 512 px is a second of work.  The keys are packed by
        ** the first slice and shared by the rest. */
        double flop_per_row = 4.0 * (double)(a.heads * a.head_dim) * (double)a.lk * a.batch;
        int64_t rows = (int64_t)(ATTENTION_SLICE_FLOP / flop_per_row);
        rows = rows < 1 ? 1 : rows;
        for (int64_t q0 = 0; q0 < a.lq && s == LF_OK; q0 += rows) {
            a.q_begin = q0;
            a.q_end = a.lq - q0 < rows ? a.lq : q0 + rows;
            if (!lf_cpu_kernels()->attention(&a)) s = attention_no_memory(err);
            a.packed = true;
            if (s == LF_OK && a.q_end < a.lq) s = lf_interrupt_check("attention", err);
        }
    }
    free(a.pack);
    /* f32 math either way: counted against the fp32 peak */
    lf_cpu_prof_add(LF_CPU_PROF_ATTENTION, t0,
                    4.0 * (double)lf_tensor_numel(q) * (double)k->shape[1]);
    return io_end(&io, bf16 ? NULL : y, s);
}

enum lf_status lf_cpu_op_softmax(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct io io;
    enum lf_status s = io_begin(&io, y, &x, 1, err);
    if (s == LF_OK) {
        int64_t cols = x->shape[x->rank - 1];
        lf_cpu_kernels()->softmax(io.in[0], io.out, numel(x) / cols, cols);
    }
    lf_cpu_prof_add(LF_CPU_PROF_SOFTMAX, t0, 0);
    return io_end(&io, y, s);
}

enum lf_status lf_cpu_op_unary(struct lf_tensor *x, uint32_t fn, float scale, float shift,
                               struct lf_tensor *y, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct lf_cpu_buffer *xb = lf_cpu_buf(x), *yb = lf_cpu_buf(y);
    if (fn == LF_BACKEND_UNARY_IDENTITY && scale == 1.0f && shift == 0.0f &&
        xb->form != CPU_BUF_PLAIN && yb->form == CPU_BUF_PLAIN && x->offset == 0 &&
        y->offset == 0 && x->dtype == y->dtype && xb->base.size == yb->base.size &&
        lf_tensor_nbytes(y) == yb->base.size) {
        /* A whole prepared weight copied whole (a LoRA merge's start)
        ** keeps its form: no unpacking and packing again. */
        enum lf_status s = lf_cpu_buffer_copy_form(yb, xb, err);
        lf_cpu_prof_add(LF_CPU_PROF_UNARY, t0, 0);
        return s;
    }
    /* y may be an existing tensor (copy): write only through the output. */
    enum lf_status s = lf_cpu_buffer_unprepare(yb, err);
    struct io io = {0};
    bool bf16 = plain_bf16(x) && plain_bf16(y);
    if (s == LF_OK && bf16) {
        lf_cpu_kernels()->unary_bf16(lf_cpu_bytes(x), lf_cpu_bytes(y), numel(x), fn, scale, shift);
        lf_cpu_prof_add(LF_CPU_PROF_UNARY, t0, 0);
        return LF_OK;
    }
    if (s == LF_OK) s = io_begin(&io, y, &x, 1, err);
    if (s == LF_OK) lf_cpu_kernels()->unary(io.in[0], io.out, numel(x), fn, scale, shift);
    lf_cpu_prof_add(LF_CPU_PROF_UNARY, t0, 0);
    return io_end(&io, y, s);
}

enum lf_status lf_cpu_op_geglu(struct lf_tensor *x, struct lf_tensor *y, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    if (plain_bf16(x) && plain_bf16(y)) {
        int64_t n = y->shape[y->rank - 1];
        lf_cpu_kernels()->geglu_bf16(lf_cpu_bytes(x), lf_cpu_bytes(y), numel(y) / n, n);
        lf_cpu_prof_add(LF_CPU_PROF_GEGLU, t0, 0);
        return LF_OK;
    }
    struct io io;
    enum lf_status s = io_begin(&io, y, &x, 1, err);
    if (s == LF_OK) {
        int64_t n = y->shape[y->rank - 1];
        lf_cpu_kernels()->geglu(io.in[0], io.out, numel(y) / n, n);
    }
    lf_cpu_prof_add(LF_CPU_PROF_GEGLU, t0, 0);
    return io_end(&io, y, s);
}

enum lf_status lf_cpu_op_binary(struct lf_tensor *a, struct lf_tensor *b, enum lf_binary fn,
                                struct lf_tensor *y, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    if (plain_bf16(a) && plain_bf16(b) && plain_bf16(y)) {
        struct lf_cpu_broadcast bc;
        lf_cpu_broadcast_init(a->rank, a->shape, b->rank, b->shape, &bc);
        lf_cpu_kernels()->binary_bf16(lf_cpu_bytes(a), lf_cpu_bytes(b), lf_cpu_bytes(y), &bc, fn);
        lf_cpu_prof_add(LF_CPU_PROF_BINARY, t0, 0);
        return LF_OK;
    }
    struct io io;
    struct lf_tensor *ins[2] = {a, b};
    enum lf_status s = io_begin(&io, y, ins, 2, err);
    if (s == LF_OK) {
        struct lf_cpu_broadcast bc;
        lf_cpu_broadcast_init(a->rank, a->shape, b->rank, b->shape, &bc);
        lf_cpu_kernels()->binary(io.in[0], io.in[1], io.out, &bc, fn);
    }
    lf_cpu_prof_add(LF_CPU_PROF_BINARY, t0, 0);
    return io_end(&io, y, s);
}

enum lf_status lf_cpu_op_fill(struct lf_tensor *x, float value, struct lf_error *err)
{
    enum lf_status s = lf_cpu_buffer_unprepare(lf_cpu_buf(x), err);
    if (s) return s;
    int64_t n = numel(x);
    if (x->dtype == LF_DTYPE_F32) {
        lf_cpu_fill(lf_cpu_bytes(x), n, value);
    } else if (x->dtype == LF_DTYPE_F16 || x->dtype == LF_DTYPE_BF16) {
        uint16_t h = x->dtype == LF_DTYPE_F16 ? lf_f32_to_f16(value) : lf_f32_to_bf16(value);
        uint16_t *p = lf_cpu_bytes(x);
        for (int64_t i = 0; i < n; i++)
            p[i] = h;
    } else {
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "cpu backend: fill of a %s tensor",
                            lf_dtype_name(x->dtype));
    }
    return LF_OK;
}
