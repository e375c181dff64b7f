/*
** cpu_ops_layout.c - the CPU backend's layout op entries (concat, nearest
** resize, permute: bytes moved as they are when every tensor is plain and
** of one dtype, else through f32), the timestep embedding, the LoRA merge
** and weight preparation.
*/
#include "cpu_impl.h"
#include "cpu_kernels.h"
#include "cpu_profile.h"

#include <stdlib.h>
#include <string.h>

/* Whether every given tensor is plain and of y's dtype (NULLs skipped). */
static bool same_plain(const struct lf_tensor *y, const struct lf_tensor *a,
                       const struct lf_tensor *b)
{
    const struct lf_tensor *ts[2] = {a, b};
    for (int i = 0; i < 2; i++)
        if (ts[i] && (ts[i]->dtype != y->dtype || lf_cpu_buf(ts[i])->form != CPU_BUF_PLAIN))
            return false;
    return true;
}

/* Runs move(x bytes, y bytes, esize) on plain bytes, or on f32 copies. */
struct moved {
    const void *a, *b;
    void *y;
    size_t esize;
    float *tmp_a, *tmp_b, *tmp_y;
};

static enum lf_status moved_begin(struct moved *m, struct lf_tensor *y, struct lf_tensor *a,
                                  struct lf_tensor *b, struct lf_error *err)
{
    memset(m, 0, sizeof *m);
    if (same_plain(y, a, b)) {
        m->a = lf_cpu_bytes(a);
        m->b = b ? lf_cpu_bytes(b) : NULL;
        m->y = lf_cpu_bytes(y);
        m->esize = lf_dtype_size(y->dtype);
        return LF_OK;
    }
    const float *fa, *fb;
    enum lf_status s = lf_cpu_input(a, &fa, &m->tmp_a, err);
    if (s == LF_OK) s = lf_cpu_input(b, &fb, &m->tmp_b, err);
    if (s == LF_OK) s = lf_cpu_output(y, &m->tmp_y, err);
    m->a = fa, m->b = fb, m->y = m->tmp_y, m->esize = sizeof(float);
    return s;
}

static enum lf_status moved_end(struct moved *m, struct lf_tensor *y, enum lf_status s)
{
    free(m->tmp_a);
    free(m->tmp_b);
    if (m->tmp_y && s == LF_OK)
        lf_cpu_output_done(y, m->tmp_y);
    else if (m->tmp_y && y->dtype != LF_DTYPE_F32)
        free(m->tmp_y);
    return s;
}

enum lf_status lf_cpu_op_concat(struct lf_tensor *a, struct lf_tensor *b, int axis,
                                struct lf_tensor *y, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct moved m;
    enum lf_status s = moved_begin(&m, y, a, b, err);
    if (s == LF_OK) {
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < axis; i++)
            outer *= a->shape[i];
        for (int i = axis + 1; i < a->rank; i++)
            inner *= a->shape[i];
        lf_cpu_concat(m.a, m.b, m.y, outer, a->shape[axis], b->shape[axis], inner, m.esize);
    }
    lf_cpu_prof_add(LF_CPU_PROF_LAYOUT, t0, 0);
    return moved_end(&m, y, s);
}

enum lf_status lf_cpu_op_resize_nearest(struct lf_tensor *x, struct lf_tensor *y,
                                        struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct moved m;
    enum lf_status s = moved_begin(&m, y, x, NULL, err);
    if (s == LF_OK)
        lf_cpu_resize_nearest(m.a, m.y, x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                              y->shape[2], y->shape[3], m.esize);
    lf_cpu_prof_add(LF_CPU_PROF_LAYOUT, t0, 0);
    return moved_end(&m, y, s);
}

enum lf_status lf_cpu_op_permute(struct lf_tensor *x, const int *perm, struct lf_tensor *y,
                                 struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct moved m;
    enum lf_status s = moved_begin(&m, y, x, NULL, err);
    if (s == LF_OK) lf_cpu_permute(m.a, m.y, x->rank, x->shape, perm, m.esize);
    lf_cpu_prof_add(LF_CPU_PROF_LAYOUT, t0, 0);
    return moved_end(&m, y, s);
}

enum lf_status lf_cpu_op_timestep_embedding(struct lf_tensor *t, int dim, bool flip_sin_to_cos,
                                            float shift, float max_period, struct lf_tensor *y,
                                            struct lf_error *err)
{
    struct moved m;
    enum lf_status s = moved_begin(&m, y, t, NULL, err);
    if (s == LF_OK)
        lf_cpu_timestep_embedding(m.a, m.y, t->shape[0], dim, flip_sin_to_cos, shift, max_period);
    return moved_end(&m, y, s);
}

/* {======================================================== weights */

/* Rounds f32 values to the nearest value of dtype (f16 or bf16) in place:
** a prepared 16-bit weight holds f32 values, and a merge into it must give
** what such a tensor holds (one rounding, as on every backend). */
static void round_to(enum lf_dtype dtype, float *v, int64_t n)
{
    enum { CHUNK = 4096 };
    const struct lf_cpu_kernels *k = lf_cpu_kernels();
#pragma omp parallel for schedule(static)
    for (int64_t lo = 0; lo < n; lo += CHUNK) {
        uint16_t h[CHUNK];
        int64_t len = n - lo < CHUNK ? n - lo : CHUNK;
        if (dtype == LF_DTYPE_F16) {
            k->f32_to_f16(v + lo, h, len);
            k->f16_to_f32(h, v + lo, len);
        } else if (dtype == LF_DTYPE_BF16) {
            for (int64_t i = 0; i < len; i++)
                v[lo + i] = lf_bf16_to_f32(lf_f32_to_bf16(v[lo + i]));
        }
    }
}

/* A whole prepared weight merges in its form: packed conv weights in
** oneDNN's layout, 16-bit weights held as f32 as they are (then rounded to
** their dtype), so a merge neither unpacks nor packs again.  Anything else merges
** on its plain bytes. */
enum lf_status lf_cpu_op_lora_merge(struct lf_tensor *w, struct lf_tensor *up,
                                    struct lf_tensor *down, float scale, struct lf_error *err)
{
    double t0 = lf_cpu_prof_start();
    struct lf_cpu_buffer *wb = lf_cpu_buf(w);
    int64_t n = w->shape[0], r = up->shape[1], k = lf_tensor_numel(w) / n;
    bool in_form = wb->form != CPU_BUF_PLAIN && w->offset == 0 && wb->numel == n * k;
    enum lf_status s = in_form ? LF_OK : lf_cpu_buffer_unprepare(wb, err);
    if (s) return s;
    const float *fu, *fd;
    float *tu = NULL, *td = NULL;
    s = lf_cpu_input(up, &fu, &tu, err);
    if (s == LF_OK) s = lf_cpu_input(down, &fd, &td, err);
    if (s == LF_OK && wb->form == CPU_BUF_PACKED) {
        s = lf_cpu_lora_merge_packed(wb->data, &wb->fmt, fu, fd, r, scale, err);
        /* A bf16 blocked layout is rounded by the reorder itself; an f32
        ** one holding a 16-bit weight is rounded here. */
        if (s == LF_OK && wb->logical != LF_DTYPE_F32 && wb->fmt.md.data_type == dnnl_f32)
            round_to(wb->logical, wb->data,
                     (int64_t)(dnnl_memory_desc_get_size(&wb->fmt.md) / sizeof(float)));
    } else if (s == LF_OK && wb->form == CPU_BUF_F32) {
        s = lf_cpu_lora_merge(wb->data, fu, fd, n, k, r, scale, err);
        if (s == LF_OK) round_to(wb->logical, wb->data, n * k);
    } else if (s == LF_OK && w->dtype == LF_DTYPE_F32) {
        s = lf_cpu_lora_merge(lf_cpu_bytes(w), fu, fd, n, k, r, scale, err);
    } else if (s == LF_OK) { /* a 16-bit plain weight: in f32 in an idle block, rounded back */
        uint64_t cap = 0;
        float *values = lf_cpu_block_take(w->device, (uint64_t)(n * k) * sizeof *values, &cap);
        if (!values) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of memory");
        if (s == LF_OK) lf_cpu_to_f32(w->dtype, lf_cpu_bytes(w), values, n * k);
        if (s == LF_OK) s = lf_cpu_lora_merge(values, fu, fd, n, k, r, scale, err);
        if (s == LF_OK) lf_cpu_from_f32(w->dtype, values, lf_cpu_bytes(w), n * k);
        if (values) lf_cpu_block_idle(w->device, values, cap);
    }
    free(tu), free(td);
    lf_cpu_prof_add(LF_CPU_PROF_LORA, t0, 2.0 * (double)n * (double)k * (double)r);
    return s;
}

/* A plain f16 buffer becomes CPU_BUF_F32; a 4-dim weight CPU_BUF_PACKED
** (in bf16 for a bf16 weight: it is held once, in its own precision). */
enum lf_status lf_cpu_op_weight_prepare(struct lf_tensor *w, struct lf_error *err)
{
    struct lf_cpu_buffer *b = lf_cpu_buf(w);
    if (b->form != CPU_BUF_PLAIN || w->offset != 0 || b->base.refcount != 1 ||
        lf_tensor_nbytes(w) != b->base.size)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "cpu backend: weight not prepared: shared");
    bool conv = w->rank == 4;
    double t0 = lf_cpu_prof_start();
    if (!conv && (w->dtype == LF_DTYPE_F32 || w->dtype == LF_DTYPE_BF16))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "cpu backend: f32 and bf16 weights are used as they are");
    /* bf16 conv weights pack from their own bytes; others from f32 values. */
    bool bf16 = w->dtype == LF_DTYPE_BF16;
    const float *values = NULL;
    float *tmp = NULL;
    enum lf_status s = bf16 ? LF_OK : lf_cpu_input(w, &values, &tmp, err);
    void *packed = NULL;
    size_t bytes = 0;
    uint64_t cap = 0;
    struct lf_cpu_wformat fmt = {0};
    if (s == LF_OK && conv)
        s = lf_cpu_conv_weight_pack(b->base.device, bf16 ? lf_cpu_bytes(w) : (const void *)values,
                                    w->shape[0], w->shape[1], w->shape[2], w->shape[3], bf16,
                                    &packed, &bytes, &cap, &fmt, err);
    if (s == LF_OK && !conv) { /* f16 -> f32: the converted copy is the new data */
        bytes = (size_t)lf_tensor_numel(w) * sizeof(float);
        cap = bytes;
        packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!packed) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: out of memory");
        if (packed) memcpy(packed, values, bytes);
    }
    free(tmp);
    lf_cpu_prof_add(LF_CPU_PROF_PREPARE, t0, 0);
    if (s != LF_OK || !packed) return s;
    lf_cpu_account(b->base.device, (int64_t)cap - (int64_t)b->base.size,
                   (int64_t)cap - (int64_t)b->held);
    /* the plain block serves the next weight loaded (fresh pages are slow) */
    lf_cpu_block_idle(b->base.device, b->data, b->held);
    b->data = packed;
    b->held = cap;
    b->form = conv ? CPU_BUF_PACKED : CPU_BUF_F32;
    b->logical = w->dtype;
    b->numel = lf_tensor_numel(w);
    b->fmt = fmt;
    return LF_OK;
}
