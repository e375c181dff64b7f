/*
** cpu_dnnl.c - oneDNN convolution, matmul and the LoRA merge (cpu_dnnl.h).
**
** Primitives are cached by a key of the call's shape (and, for packed
** convolution weights, their layout): building one costs milliseconds,
** running a small one microseconds.  The cache holds at most CACHE_MAX
** entries and is emptied when full.  All state is behind one mutex, held
** for a whole call: calls from several threads run one after the other
** (each already uses every core).
*/
#include "cpu_dnnl.h"
#include "cpu_impl.h"
#include "cpu_kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 512
#define KEY_MAX   18

enum entry_kind { ENTRY_MATMUL = 1, ENTRY_CONV, ENTRY_LORA };

/* A reorder and the scratchpad it asks for (ours, as every primitive's:
** oneDNN's own would be held by the primitive for its life, and the
** reorder into Winograd's weight layout asks for as much as the weights'
** transformed size, 225 MiB for a 1280 x 1280 kernel). */
struct reorder {
    dnnl_primitive_t prim; /* NULL: the layouts are equal */
    dnnl_memory_desc_t pad;
};

struct entry {
    int64_t key[KEY_MAX];
    dnnl_memory_desc_t key_wmd; /* conv: the packed weight layout asked for */
    bool key_packed;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, wei_md, dst_md;     /* what prim takes */
    struct reorder src_in, dst_out, wei_in;        /* reorders (prim NULL: none) */
    dnnl_memory_desc_t user_src, user_dst, user_w; /* plain layouts */
    dnnl_memory_desc_t pad_md;                     /* prim's scratchpad (size 0: none) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static struct entry *cache;
static int cache_count;

/* Grow-only scratch for a convolution's blocked copies (src, dst,
** weights; dst also holds a LoRA merge's product) and every primitive's
** scratchpad (oneDNN's user-managed mode: one buffer sized to the largest
** asked for), kept between calls: fresh memory each call would cost a page
** fault per 4 KiB.  Used under the lock; freed by lf_cpu_dnnl_release. */
enum { SCRATCH_SRC, SCRATCH_DST, SCRATCH_WEI, SCRATCH_PAD, SCRATCH_SLOTS };
static struct {
    void *data;
    size_t size;
} scratch[SCRATCH_SLOTS];

/* Packed weights unpacked into grow-only scratch (its own lock, taken
** before the cache's) for a convolution on plain weights. */
static pthread_mutex_t unpack_lock = PTHREAD_MUTEX_INITIALIZER;
static void *unpacked;
static size_t unpacked_size;

static enum lf_status fail(dnnl_status_t s, const char *what, struct lf_error *err)
{
    enum lf_status code = s == dnnl_out_of_memory ? LF_ERR_OUT_OF_MEMORY : LF_ERR_UNSUPPORTED;
    return lf_error_set(err, code, "cpu backend: oneDNN %s failed (%s)", what, dnnl_status2str(s));
}

#define TRY(call, what)                                                                            \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) return fail(s_, what, err);                                        \
    } while (0)

static enum lf_status init_locked(struct lf_error *err)
{
    if (engine) return LF_OK;
    TRY(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine creation");
    dnnl_status_t s = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_engine_destroy(engine);
        engine = NULL;
        return fail(s, "stream creation", err);
    }
    return LF_OK;
}

enum lf_status lf_cpu_dnnl_init(struct lf_error *err)
{
    pthread_mutex_lock(&lock);
    enum lf_status st = init_locked(err);
    pthread_mutex_unlock(&lock);
    return st;
}

const char *lf_cpu_dnnl_version(char *buf, size_t size)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, size, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch,
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other threading");
    return buf;
}

static void entry_free(struct entry *e)
{
    dnnl_primitive_destroy(e->prim);
    dnnl_primitive_destroy(e->src_in.prim);
    dnnl_primitive_destroy(e->dst_out.prim);
    dnnl_primitive_destroy(e->wei_in.prim);
}

void lf_cpu_dnnl_release(void)
{
    pthread_mutex_lock(&unpack_lock);
    free(unpacked);
    unpacked = NULL;
    unpacked_size = 0;
    pthread_mutex_unlock(&unpack_lock);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < cache_count; i++)
        entry_free(&cache[i]);
    free(cache);
    cache = NULL;
    cache_count = 0;
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        free(scratch[i].data);
        scratch[i].data = NULL;
        scratch[i].size = 0;
    }
    if (stream) dnnl_stream_destroy(stream);
    if (engine) dnnl_engine_destroy(engine);
    stream = NULL;
    engine = NULL;
    pthread_mutex_unlock(&lock);
}

size_t lf_cpu_dnnl_scratch_bytes(void)
{
    pthread_mutex_lock(&unpack_lock);
    size_t bytes = unpacked_size;
    pthread_mutex_unlock(&unpack_lock);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SCRATCH_SLOTS; i++)
        bytes += scratch[i].size;
    pthread_mutex_unlock(&lock);
    return bytes;
}

/* The cached entry for key (and packed layout wmd), or NULL. */
static struct entry *find(const int64_t *key, const dnnl_memory_desc_t *wmd)
{
    for (int i = 0; i < cache_count; i++) {
        struct entry *e = &cache[i];
        if (memcmp(e->key, key, sizeof e->key)) continue;
        if (e->key_packed != (wmd != NULL)) continue;
        if (wmd && !dnnl_memory_desc_equal(&e->key_wmd, wmd)) continue;
        return e;
    }
    return NULL;
}

/* Stores *e (ownership moves to the cache) and returns its place. */
static struct entry *keep(const struct entry *e, struct lf_error *err)
{
    if (!cache) {
        cache = calloc(CACHE_MAX, sizeof *cache);
        if (!cache) {
            lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: no memory for the cache");
            return NULL;
        }
    }
    if (cache_count == CACHE_MAX) {
        for (int i = 0; i < cache_count; i++)
            entry_free(&cache[i]);
        cache_count = 0;
    }
    cache[cache_count] = *e;
    return &cache[cache_count++];
}

/* A reorder from -> to (adding to what the destination holds when sum is
** set), or none (prim NULL, LF_OK) when the layouts are equal and sum is
** not set. */
static enum lf_status make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                   bool sum, struct reorder *out, struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    if (!sum && dnnl_memory_desc_equal(from, to)) return LF_OK;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po = NULL;
    TRY(dnnl_primitive_attr_create(&attr), "attribute creation");
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && sum) s = dnnl_post_ops_create(&po);
    if (s == dnnl_success && po) s = dnnl_post_ops_append_sum(po, 1.0f);
    if (s == dnnl_success && po) s = dnnl_primitive_attr_set_post_ops(attr, po);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (s == dnnl_success) {
        out->pad = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        s = dnnl_primitive_create(&out->prim, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? LF_OK : fail(s, sum ? "reorder with a sum" : "reorder", err);
}

static void *scratch_get(int slot, const dnnl_memory_desc_t *md);

/* Runs prim over (arg, md, pointer) triples, and its scratchpad pad (NULL
** or size 0: none). */
static enum lf_status run(dnnl_primitive_t prim, int n, const int *args,
                          const dnnl_memory_desc_t *const *mds, void *const *ptrs,
                          const dnnl_memory_desc_t *pad, struct lf_error *err)
{
    dnnl_memory_t mem[6] = {0};
    dnnl_exec_arg_t ea[6];
    dnnl_status_t s = dnnl_success;
    int made = 0;
    for (; made < n && s == dnnl_success; made++) {
        s = dnnl_memory_create(&mem[made], mds[made], engine, ptrs[made]);
        ea[made].arg = args[made];
        ea[made].memory = mem[made];
    }
    if (s == dnnl_success && pad && dnnl_memory_desc_get_size(pad)) {
        void *data = scratch_get(SCRATCH_PAD, pad);
        s = data ? dnnl_memory_create(&mem[made], pad, engine, data) : dnnl_out_of_memory;
        ea[made].arg = DNNL_ARG_SCRATCHPAD;
        ea[made].memory = mem[made];
        made++;
        n++;
    }
    if (s == dnnl_success) s = dnnl_primitive_execute(prim, stream, n, ea);
    if (s == dnnl_success) s = dnnl_stream_wait(stream);
    for (int i = 0; i < made; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return s == dnnl_success ? LF_OK : fail(s, "execution", err);
}

static enum lf_status reorder(const struct reorder *r, const dnnl_memory_desc_t *from,
                              const void *src, const dnnl_memory_desc_t *to, void *dst,
                              struct lf_error *err)
{
    const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    const dnnl_memory_desc_t *mds[2] = {from, to};
    void *ptrs[2] = {(void *)src, dst};
    return run(r->prim, 2, args, mds, ptrs, &r->pad, err);
}

/* attr NULL: default attributes.  The scratchpad is ours (*pad says its
** size), shared by every primitive. */
static enum lf_status create_prim(const void *op_desc, dnnl_primitive_attr_t attr,
                                  dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim,
                                  dnnl_memory_desc_t *pad, struct lf_error *err)
{
    dnnl_primitive_attr_t own = NULL;
    if (!attr) TRY(dnnl_primitive_attr_create(&own), "attribute creation");
    dnnl_status_t s =
        dnnl_primitive_attr_set_scratchpad_mode(attr ? attr : own, dnnl_scratchpad_mode_user);
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(pd, op_desc, attr ? attr : own, engine, NULL);
    if (own) dnnl_primitive_attr_destroy(own);
    if (s != dnnl_success) return fail(s, "primitive descriptor", err);
    *pad = *dnnl_primitive_desc_query_md(*pd, dnnl_query_scratchpad_md, 0);
    s = dnnl_primitive_create(prim, *pd);
    if (s != dnnl_success) {
        dnnl_primitive_desc_destroy(*pd);
        return fail(s, "primitive creation", err);
    }
    return LF_OK;
}

/* {======================================================== matmul */

static dnnl_data_type_t data_type(bool bf16)
{
    return bf16 ? dnnl_bf16 : dnnl_f32;
}

static void matrix_md(dnnl_memory_desc_t *md, int64_t batch, int64_t rows, int64_t cols,
                      int64_t bstride, bool trans, dnnl_data_type_t dt)
{
    dnnl_dims_t dims = {batch, rows, cols};
    dnnl_dims_t strides = {bstride ? bstride : rows * cols, trans ? 1 : cols, trans ? rows : 1};
    dnnl_memory_desc_init_by_strides(md, 3, dims, dt, strides);
}

static enum lf_status matmul_entry(const struct lf_cpu_gemm *g, const int64_t *key,
                                   struct entry **out, struct lf_error *err)
{
    struct entry e = {0};
    memcpy(e.key, key, sizeof e.key);
    int64_t ab = g->a_bstride ? g->batch : 1, bb = g->b_bstride ? g->batch : 1;
    dnnl_memory_desc_t bias_md;
    dnnl_data_type_t dt = data_type(g->bf16);
    matrix_md(&e.src_md, ab, g->m, g->k, g->a_bstride, g->trans_a, dt);
    matrix_md(&e.wei_md, bb, g->k, g->n, g->b_bstride, g->trans_b, dt);
    matrix_md(&e.dst_md, g->batch, g->m, g->n, 0, false, dt);
    matrix_md(&bias_md, 1, 1, g->n, 0, false, dnnl_f32);
    dnnl_matmul_desc_t desc;
    TRY(dnnl_matmul_desc_init(&desc, &e.src_md, &e.wei_md, g->bias ? &bias_md : NULL, &e.dst_md),
        "matmul description");
    dnnl_primitive_desc_t pd;
    enum lf_status st = create_prim(&desc, NULL, &pd, &e.prim, &e.pad_md, err);
    if (st != LF_OK) return st;
    dnnl_primitive_desc_destroy(pd);
    *out = keep(&e, err);
    if (!*out) entry_free(&e);
    return *out ? LF_OK : LF_ERR_OUT_OF_MEMORY;
}

enum lf_status lf_cpu_gemm(const struct lf_cpu_gemm *g, struct lf_error *err)
{
    int64_t key[KEY_MAX] = {ENTRY_MATMUL, g->m,         g->n,       g->k,       g->batch,
                            g->a_bstride, g->b_bstride, g->trans_a, g->trans_b, g->bias != NULL,
                            g->bf16};
    pthread_mutex_lock(&lock);
    struct entry *e = NULL;
    enum lf_status st = init_locked(err);
    if (st == LF_OK && !(e = find(key, NULL))) st = matmul_entry(g, key, &e, err);
    if (st == LF_OK) {
        dnnl_memory_desc_t bias;
        matrix_md(&bias, 1, 1, g->n, 0, false, dnnl_f32);
        const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
        const dnnl_memory_desc_t *mds[4] = {&e->src_md, &e->wei_md, &e->dst_md, &bias};
        void *ptrs[4] = {(void *)g->a, (void *)g->b, g->c, (void *)g->bias};
        st = run(e->prim, g->bias ? 4 : 3, args, mds, ptrs, &e->pad_md, err);
    }
    pthread_mutex_unlock(&lock);
    return st;
}

/* {======================================================== LoRA merge */

/* The merge's matmul up [n, r] @ down [r, k] -> [n, k], scaled by a value
** given at run time (one primitive per shape, not one per strength), into
** scratch; the caller adds it to the weights.  Never a sum post-op: that
** may fuse the add into the scale (one rounding instead of two), and a
** weight merged plain (a strength change, before it is packed) must get
** the bits of one merged packed (the first apply). */
static enum lf_status lora_matmul(struct entry *e, int64_t n, int64_t k, int64_t r,
                                  struct lf_error *err)
{
    matrix_md(&e->src_md, 1, n, r, 0, false, dnnl_f32);
    matrix_md(&e->wei_md, 1, r, k, 0, false, dnnl_f32);
    matrix_md(&e->dst_md, 1, n, k, 0, false, dnnl_f32);
    dnnl_matmul_desc_t desc;
    TRY(dnnl_matmul_desc_init(&desc, &e->src_md, &e->wei_md, NULL, &e->dst_md),
        "matmul description");
    dnnl_primitive_attr_t attr;
    TRY(dnnl_primitive_attr_create(&attr), "attribute creation");
    const float runtime = DNNL_RUNTIME_F32_VAL;
    dnnl_status_t s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &runtime);
    enum lf_status st = s == dnnl_success ? LF_OK : fail(s, "LoRA merge attributes", err);
    dnnl_primitive_desc_t pd;
    if (st == LF_OK) st = create_prim(&desc, attr, &pd, &e->prim, &e->pad_md, err);
    dnnl_primitive_attr_destroy(attr);
    if (st == LF_OK) dnnl_primitive_desc_destroy(pd);
    return st;
}

/* w += product, elementwise in f32 and rounded once into dtype (what the
** reorder with a sum post-op does for packed weights: the same bits); a
** 16-bit w goes through f32 in stretches on each thread's stack. */
static void add_into(void *w, enum lf_dtype dtype, const float *product, int64_t count)
{
    enum { STRETCH = 4096 };
#pragma omp parallel for schedule(static)
    for (int64_t lo = 0; lo < count; lo += STRETCH) {
        int64_t m = count - lo < STRETCH ? count - lo : STRETCH;
        if (dtype == LF_DTYPE_F32) {
            float *y = (float *)w + lo;
            for (int64_t i = 0; i < m; i++)
                y[i] += product[lo + i];
            continue;
        }
        float v[STRETCH];
        uint16_t *y = (uint16_t *)w + lo;
        lf_cpu_to_f32(dtype, y, v, m);
        for (int64_t i = 0; i < m; i++)
            v[i] += product[lo + i];
        lf_cpu_from_f32(dtype, v, y, m);
    }
}

/* The reorder plain oihw -> wmd that adds to what the destination holds. */
static enum lf_status lora_reorder_add(struct entry *e, const dnnl_memory_desc_t *wmd,
                                       struct lf_error *err)
{
    const dnnl_dims_t *d = &wmd->dims;
    dnnl_dims_t dims = {(*d)[0], (*d)[1], (*d)[2], (*d)[3]};
    TRY(dnnl_memory_desc_init_by_tag(&e->user_w, 4, dims, dnnl_f32, dnnl_oihw), "weight layout");
    return make_reorder(&e->user_w, wmd, true, &e->dst_out, err);
}

static enum lf_status lora_entry(int64_t n, int64_t k, int64_t r, const dnnl_memory_desc_t *wmd,
                                 const int64_t *key, struct entry **out, struct lf_error *err)
{
    struct entry e = {0};
    memcpy(e.key, key, sizeof e.key);
    e.key_packed = wmd != NULL;
    if (wmd) e.key_wmd = *wmd;
    enum lf_status st = lora_matmul(&e, n, k, r, err);
    if (st == LF_OK && wmd) st = lora_reorder_add(&e, wmd, err);
    if (st == LF_OK && !(*out = keep(&e, err))) st = LF_ERR_OUT_OF_MEMORY;
    if (st != LF_OK) entry_free(&e);
    return st;
}

/* w += scale * up @ down: the product goes to scratch, then is added to w,
** plain [n, k], or packed in layout wmd (added while reordered in). */
static enum lf_status lora_merge(void *w, enum lf_dtype dtype, const dnnl_memory_desc_t *wmd,
                                 const float *up, const float *down, int64_t n, int64_t k,
                                 int64_t r, float scale, struct lf_error *err)
{
    int64_t key[KEY_MAX] = {ENTRY_LORA, n, k, r};
    pthread_mutex_lock(&lock);
    struct entry *e = NULL;
    enum lf_status st = init_locked(err);
    if (st == LF_OK && !(e = find(key, wmd))) st = lora_entry(n, k, r, wmd, key, &e, err);
    void *dst = NULL;
    if (st == LF_OK && !(dst = scratch_get(SCRATCH_DST, &e->dst_md)))
        st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: no memory for a LoRA merge");
    if (st == LF_OK) {
        dnnl_memory_desc_t scale_md;
        dnnl_dims_t one = {1};
        dnnl_memory_desc_init_by_tag(&scale_md, 1, one, dnnl_f32, dnnl_a);
        const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST,
                             DNNL_ARG_ATTR_OUTPUT_SCALES};
        const dnnl_memory_desc_t *mds[4] = {&e->src_md, &e->wei_md, &e->dst_md, &scale_md};
        void *ptrs[4] = {(void *)up, (void *)down, dst, &scale};
        st = run(e->prim, 4, args, mds, ptrs, &e->pad_md, err);
    }
    if (st == LF_OK && wmd) st = reorder(&e->dst_out, &e->user_w, dst, wmd, w, err);
    if (st == LF_OK && !wmd) add_into(w, dtype, dst, n * k);
    pthread_mutex_unlock(&lock);
    return st;
}

enum lf_status lf_cpu_lora_merge(void *w, enum lf_dtype dtype, const float *up, const float *down,
                                 int64_t n, int64_t k, int64_t r, float scale, struct lf_error *err)
{
    return lora_merge(w, dtype, NULL, up, down, n, k, r, scale, err);
}

enum lf_status lf_cpu_lora_merge_packed(void *w, const struct lf_cpu_wformat *fmt, const float *up,
                                        const float *down, int64_t r, float scale,
                                        struct lf_error *err)
{
    const dnnl_dims_t *d = &fmt->md.dims;
    return lora_merge(w, LF_DTYPE_F32, &fmt->md, up, down, (*d)[0], (*d)[1] * (*d)[2] * (*d)[3], r,
                      scale, err);
}

/* {======================================================== convolution */

static void plain_md(dnnl_memory_desc_t *md, int64_t n, int64_t c, int64_t h, int64_t w,
                     dnnl_format_tag_t tag, dnnl_data_type_t dt)
{
    dnnl_dims_t dims = {n, c, h, w};
    dnnl_memory_desc_init_by_tag(md, 4, dims, dt, tag);
}

/* NCHW [n, c, h, w] whose channel planes are plane elements apart (0:
** h * w, dense). */
static void activation_md(dnnl_memory_desc_t *md, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t plane, dnnl_data_type_t dt)
{
    if (!plane) {
        plain_md(md, n, c, h, w, dnnl_nchw, dt);
        return;
    }
    dnnl_dims_t dims = {n, c, h, w}, strides = {c * plane, plane, w, 1};
    dnnl_memory_desc_init_by_strides(md, 4, dims, dt, strides);
}

/* Whether p (a whole convolution or one band) runs as a Winograd F(4x4,
** 3x3) convolution: 3x3, stride 1, at least WINO_MIN_PIXELS outputs and
** WINO_MIN_CHANNELS inputs (the VAE encoder's RGB conv_in: oneDNN's
** Winograd pads 3 channels to a block of 16 and took 0.7-1.8 s at 512x512
** where the direct kernel took 0.2 s, one op too long to interrupt), unless
** LCMFLOW_CPU_WINOGRAD=0.  f32 only: oneDNN has no bf16 Winograd.
** Every call unpacks the packed weights and transforms them into
** Winograd's layout (4x their size, through a scratchpad as large again):
** for the UNet's convolutions at 512x512 (at most 64x64 = 4096 outputs)
** that cost more than it saved, a step took 4.0-4.5 s with Winograd from
** 1024 outputs and 2.6-3.1 s without; from 128x128 outputs (the VAE
** decoder's upper levels) it pays (README.md, "Memory"). */
#define WINO_MIN_PIXELS   16384
#define WINO_MIN_CHANNELS 16
/* Winograd's transformed input and output live in its scratchpad, about
** 3x the band's blocked copies; a convolution whose scratchpad would be
** larger than this runs direct. */
#define WINO_PAD_MAX    ((size_t)128 << 20)
#define CONV_BAND_BYTES ((size_t)32 << 20)
static bool use_winograd(const struct lf_cpu_conv *p)
{
    static int allowed = -1;
    if (allowed < 0) {
        const char *env = getenv("LCMFLOW_CPU_WINOGRAD");
        allowed = !(env && !strcmp(env, "0"));
    }
    return allowed && !p->bf16 && p->kh == 3 && p->kw == 3 && p->stride == 1 &&
           p->c >= WINO_MIN_CHANNELS && p->batch * p->oh * p->ow >= WINO_MIN_PIXELS;
}

/* Builds the convolution of p's shape with weights in layout wmd (NULL:
** oneDNN's choice, reordered from oihw per call) and its reorders;
** Winograd when asked (and oneDNN has it), else direct. */
static enum lf_status conv_entry(const struct lf_cpu_conv *p, const int64_t *key,
                                 const dnnl_memory_desc_t *wmd, bool winograd, struct entry **out,
                                 struct lf_error *err)
{
    struct entry e = {0};
    memcpy(e.key, key, sizeof e.key);
    e.key_packed = wmd != NULL;
    if (wmd) e.key_wmd = *wmd;
    dnnl_data_type_t dt = data_type(p->bf16);
    activation_md(&e.user_src, p->batch, p->c, p->h, p->w, p->x_plane, dt);
    activation_md(&e.user_dst, p->batch, p->o, p->oh, p->ow, p->y_plane, dt);
    plain_md(&e.user_w, p->o, p->c, p->kh, p->kw, dnnl_oihw, dt);
    dnnl_memory_desc_t src_any, dst_any, w_any, bias_md;
    plain_md(&src_any, p->batch, p->c, p->h, p->w, dnnl_format_tag_any, dt);
    plain_md(&dst_any, p->batch, p->o, p->oh, p->ow, dnnl_format_tag_any, dt);
    plain_md(&w_any, p->o, p->c, p->kh, p->kw, dnnl_format_tag_any, dt);
    dnnl_dims_t bias_dims = {p->o};
    dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a);
    dnnl_dims_t strides = {p->stride, p->stride}, pad_l = {p->pad_top, p->pad_left};
    dnnl_dims_t pad_r = {p->pad_bottom, p->pad_right};
    dnnl_convolution_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    enum lf_status st = LF_ERR_UNSUPPORTED;
    for (int wino = !wmd && winograd; wino >= 0 && st != LF_OK; wino--) {
        dnnl_alg_kind_t alg = wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
        TRY(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, alg, &src_any,
                                               wmd ? wmd : &w_any, p->bias ? &bias_md : NULL,
                                               &dst_any, strides, pad_l, pad_r),
            "convolution description");
        st = create_prim(&desc, NULL, &pd, &e.prim, &e.pad_md, wino ? NULL : err);
        if (st == LF_OK && wino && dnnl_memory_desc_get_size(&e.pad_md) > WINO_PAD_MAX) {
            dnnl_primitive_destroy(e.prim); /* too much scratch: direct instead */
            dnnl_primitive_desc_destroy(pd);
            e.prim = NULL;
            st = LF_ERR_UNSUPPORTED;
        }
    }
    if (st != LF_OK) return st;
    const char *impl = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (wmd && !strncmp(impl, "ref", 3)) {
        /* Only the slow reference takes the packed layout for this shape:
        ** remembered as an entry without a primitive (the caller unpacks). */
        dnnl_primitive_desc_destroy(pd);
        dnnl_primitive_destroy(e.prim);
        e.prim = NULL;
        *out = keep(&e, err);
        return *out ? LF_OK : LF_ERR_OUT_OF_MEMORY;
    }
    e.src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    e.wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    e.dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_primitive_desc_destroy(pd);
    st = make_reorder(&e.user_src, &e.src_md, false, &e.src_in, err);
    if (st == LF_OK) st = make_reorder(&e.dst_md, &e.user_dst, false, &e.dst_out, err);
    if (st == LF_OK && !wmd) st = make_reorder(&e.user_w, &e.wei_md, false, &e.wei_in, err);
    if (st == LF_OK && !(*out = keep(&e, err))) st = LF_ERR_OUT_OF_MEMORY;
    if (st != LF_OK) entry_free(&e);
    return st;
}

static void *scratch_get(int slot, const dnnl_memory_desc_t *md)
{
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (scratch[slot].size < bytes) {
        free(scratch[slot].data);
        scratch[slot].data = lf_cpu_host_alloc(bytes);
        scratch[slot].size = scratch[slot].data ? bytes : 0;
    }
    return scratch[slot].data;
}

/* Runs e on p: reorders in, the convolution, the reorder out. */
static enum lf_status conv_run(const struct entry *e, const struct lf_cpu_conv *p,
                               struct lf_error *err)
{
    void *xs = e->src_in.prim ? scratch_get(SCRATCH_SRC, &e->src_md) : (void *)p->x;
    void *ys = e->dst_out.prim ? scratch_get(SCRATCH_DST, &e->dst_md) : p->y;
    void *ws = e->wei_in.prim ? scratch_get(SCRATCH_WEI, &e->wei_md) : (void *)p->weight;
    enum lf_status st = LF_OK;
    if (!xs || !ys || !ws)
        st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: no memory for a convolution");
    if (st == LF_OK && e->src_in.prim)
        st = reorder(&e->src_in, &e->user_src, p->x, &e->src_md, xs, err);
    if (st == LF_OK && e->wei_in.prim)
        st = reorder(&e->wei_in, &e->user_w, p->weight, &e->wei_md, ws, err);
    if (st == LF_OK) {
        dnnl_memory_desc_t bias_md;
        dnnl_dims_t bias_dims = {p->o};
        dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a);
        const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
        const dnnl_memory_desc_t *mds[4] = {&e->src_md, &e->wei_md, &e->dst_md, &bias_md};
        void *ptrs[4] = {xs, ws, ys, (void *)p->bias};
        st = run(e->prim, p->bias ? 4 : 3, args, mds, ptrs, &e->pad_md, err);
    }
    if (st == LF_OK && e->dst_out.prim)
        st = reorder(&e->dst_out, &e->dst_md, ys, &e->user_dst, p->y, err);
    return st;
}

static enum lf_status unpack_as(const void *packed, const struct lf_cpu_wformat *fmt,
                                dnnl_data_type_t dt, void *w, struct lf_error *err);

static enum lf_status conv_one(const struct lf_cpu_conv *p, struct lf_error *err);

static enum lf_status conv_plain_fallback(const struct lf_cpu_conv *p, struct lf_error *err)
{
    size_t bytes = (size_t)(p->o * p->c * p->kh * p->kw) * (p->bf16 ? 2 : sizeof(float));
    pthread_mutex_lock(&unpack_lock);
    if (unpacked_size < bytes) {
        free(unpacked);
        unpacked = lf_cpu_host_alloc(bytes);
        unpacked_size = unpacked ? bytes : 0;
    }
    enum lf_status st =
        unpacked ? unpack_as(p->weight, p->wformat, data_type(p->bf16), unpacked, err)
                 : lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: no memory for weights");
    struct lf_cpu_conv q = *p;
    q.weight = unpacked;
    q.wformat = NULL;
    if (st == LF_OK) st = conv_one(&q, err);
    pthread_mutex_unlock(&unpack_lock);
    return st;
}

/* One convolution (or one band of one) through oneDNN. */
static enum lf_status conv_one(const struct lf_cpu_conv *p, struct lf_error *err)
{
    int64_t key[KEY_MAX] = {
        ENTRY_CONV,   p->batch,        p->c,      p->h,       p->w,          p->o,
        p->kh,        p->kw,           p->stride, p->pad_top, p->pad_bottom, p->pad_left,
        p->pad_right, p->bias != NULL, p->bf16,   p->x_plane, p->y_plane};
    const dnnl_memory_desc_t *wmd = p->wformat && p->wformat->packed ? &p->wformat->md : NULL;
    /* Winograd takes its own weight layout, made per call from oihw. */
    bool wino = use_winograd(p);
    if (wmd && wino) return conv_plain_fallback(p, err);
    key[KEY_MAX - 1] = wino;
    pthread_mutex_lock(&lock);
    struct entry *e = NULL;
    enum lf_status st = init_locked(err);
    if (st == LF_OK && !(e = find(key, wmd))) st = conv_entry(p, key, wmd, wino, &e, err);
    bool unpack = (st == LF_OK && !e->prim) || (st == LF_ERR_UNSUPPORTED && !e && wmd);
    if (st == LF_OK && e->prim) st = conv_run(e, p, err);
    pthread_mutex_unlock(&lock);
    /* No fast convolution takes this packed layout for this shape. */
    return unpack ? conv_plain_fallback(p, err) : st;
}

/* The blocked copies of a convolution's input and output (and Winograd's
** transformed ones) grow with the image: at the VAE decoder's 512 x 512
** level 256 MiB each in f32, and the scratch keeps its largest size for
** the rest of the run.  Above CONV_BAND_BYTES the output is made in bands
** of rows, each band a convolution of its own on the input rows it reads
** (views into x and y, no copies), so the scratch holds a band.  A direct
** convolution gives the same bits either way (test cpu-dnnl); Winograd's
** may differ in the last bits (its tiles are scheduled per shape). */
static size_t conv_band_bytes = CONV_BAND_BYTES;

void lf_cpu_conv_set_band_bytes(size_t bytes)
{
    conv_band_bytes = bytes ? bytes : CONV_BAND_BYTES;
}

/* Output rows per band: all of them when the copies fit; else a multiple
** of 4 (Winograd's output tiles stay where they are in the whole image). */
static int64_t band_rows(const struct lf_cpu_conv *p)
{
    size_t es = p->bf16 ? 2 : sizeof(float);
    size_t row = (size_t)(p->batch * (p->c * p->w * p->stride + p->o * p->ow)) * es;
    int64_t rows = (int64_t)(conv_band_bytes / (row ? row : 1));
    if (rows >= p->oh) return p->oh;
    return rows < 4 ? 4 : rows / 4 * 4;
}

enum lf_status lf_cpu_conv2d(const struct lf_cpu_conv *p, struct lf_error *err)
{
    int64_t rows = band_rows(p);
    if (rows >= p->oh) return conv_one(p, err);
    size_t es = p->bf16 ? 2 : sizeof(float);
    enum lf_status st = LF_OK;
    for (int64_t y0 = 0; y0 < p->oh && st == LF_OK; y0 += rows) {
        int64_t y1 = y0 + rows < p->oh ? y0 + rows : p->oh;
        /* Input rows read, padding included: [top, bottom]. */
        int64_t top = y0 * p->stride - p->pad_top,
                bottom = (y1 - 1) * p->stride - p->pad_top + p->kh - 1;
        int64_t first = top > 0 ? top : 0, last = bottom < p->h - 1 ? bottom : p->h - 1;
        struct lf_cpu_conv q = *p;
        q.x = (const char *)p->x + (size_t)(first * p->w) * es;
        q.y = (char *)p->y + (size_t)(y0 * p->ow) * es;
        q.h = last - first + 1;
        q.oh = y1 - y0;
        q.pad_top = first - top;
        q.pad_bottom = bottom - last;
        q.x_plane = p->x_plane ? p->x_plane : p->h * p->w;
        q.y_plane = p->y_plane ? p->y_plane : p->oh * p->ow;
        st = conv_one(&q, err);
    }
    return st;
}

/* {======================================================== weight packing */

enum lf_status lf_cpu_conv_weight_pack(struct lf_device *device, const void *w, int64_t o,
                                       int64_t c, int64_t kh, int64_t kw, bool bf16, void **out,
                                       size_t *bytes, uint64_t *cap, struct lf_cpu_wformat *fmt,
                                       struct lf_error *err)
{
    /* The layout oneDNN picks for a 64 x 64 input, stride 1, same padding:
    ** the blocking depends on the channels and kernel, not the image. */
    struct lf_cpu_conv p = {.batch = 1,
                            .c = c,
                            .h = 64,
                            .w = 64,
                            .o = o,
                            .kh = kh,
                            .kw = kw,
                            .stride = 1,
                            .pad_top = kh / 2,
                            .pad_bottom = (kh - 1) / 2,
                            .pad_left = kw / 2,
                            .pad_right = (kw - 1) / 2,
                            .bf16 = bf16};
    p.oh = 64 + p.pad_top + p.pad_bottom - kh + 1;
    p.ow = 64 + p.pad_left + p.pad_right - kw + 1;
    int64_t key[KEY_MAX] = {ENTRY_CONV,   1,          c,           64, 64,  o, kh, kw, 1, p.pad_top,
                            p.pad_bottom, p.pad_left, p.pad_right, 0,  bf16};
    *out = NULL;
    pthread_mutex_lock(&lock);
    struct entry *e = NULL;
    enum lf_status st = init_locked(err);
    if (st == LF_OK && !(e = find(key, NULL))) st = conv_entry(&p, key, NULL, false, &e, err);
    if (st == LF_OK && !e->wei_in.prim)
        st = lf_error_set(err, LF_ERR_UNSUPPORTED, "cpu backend: oihw is already the layout");
    if (st == LF_OK) {
        fmt->packed = true;
        fmt->md = e->wei_md;
        *bytes = dnnl_memory_desc_get_size(&e->wei_md);
        *out = lf_cpu_block_take(device, *bytes, cap);
        if (!*out) st = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "cpu backend: no memory to pack");
    }
    if (st == LF_OK) st = reorder(&e->wei_in, &e->user_w, w, &e->wei_md, *out, err);
    pthread_mutex_unlock(&lock);
    if (st != LF_OK && *out) {
        lf_cpu_block_idle(device, *out, *cap);
        *out = NULL;
    }
    return st;
}

/* packed -> plain oihw of data type dt. */
static enum lf_status unpack_as(const void *packed, const struct lf_cpu_wformat *fmt,
                                dnnl_data_type_t dt, void *w, struct lf_error *err)
{
    const dnnl_dims_t *d = &fmt->md.dims;
    dnnl_memory_desc_t plain;
    plain_md(&plain, (*d)[0], (*d)[1], (*d)[2], (*d)[3], dnnl_oihw, dt);
    pthread_mutex_lock(&lock);
    struct reorder r = {0};
    enum lf_status st = init_locked(err);
    if (st == LF_OK) st = make_reorder(&fmt->md, &plain, false, &r, err);
    if (st == LF_OK && r.prim) st = reorder(&r, &fmt->md, packed, &plain, w, err);
    pthread_mutex_unlock(&lock);
    dnnl_primitive_destroy(r.prim);
    return st;
}

enum lf_status lf_cpu_conv_weight_unpack(const void *packed, const struct lf_cpu_wformat *fmt,
                                         float *w, struct lf_error *err)
{
    return unpack_as(packed, fmt, dnnl_f32, w, err);
}
