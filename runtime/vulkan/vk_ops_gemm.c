/*
** vk_ops_gemm.c - the Vulkan GEMM kernels (the checks and Linear are
** in ../ops_gemm.c).  Shaders: gemm.comp (portable, any
** device, any shape), gemm_lvp.comp (lavapipe: one 8-lane subgroup per
** workgroup, vec4 reads, register blocking; by default A, B and bias are
** read through uniform texel buffers bound by the runtime's descriptor
** path, see vk_impl.h) and gemm_tiled.comp (GPUs: shared-memory tiles).
**
** The variant is chosen per call: the device type picks lavapipe or tiled,
** LCMFLOW_OP_VARIANT=portable|lavapipe|gpu forces one (tests use it to check
** every variant against the reference).  The lavapipe variant needs K and N
** (and M when A is transposed) to be multiples of 4 so that every vec4 is
** aligned; other shapes take the portable shader, even when forced.
*/
#include "vk_ops.h"

#include <stdlib.h>
#include <string.h>

enum gemm_variant {
    GEMM_PORTABLE,
    GEMM_LAVAPIPE,
    GEMM_TILED,
};

/* gemm_push.flags, as in shaders/gemm_common.glsl. */
#define GEMM_HAS_BIAS 1u
#define GEMM_C_F16    2u
#define GEMM_BIAS_F16 4u
#define GEMM_A_F16    8u
#define GEMM_B_F16    16u
#define GEMM_TRANS_A  32u
#define GEMM_TRANS_B  64u

struct gemm_push {
    uint64_t a, b, bias, c;
    uint32_t m, n, k, m_offset;
    uint32_t a_bstride, b_bstride, c_bstride, flags;
};

/* One entry per shader: rows and columns of C per workgroup, how it reaches
** A, B and bias (by address, kind -1, or through descriptors), and whether
** it takes dtypes and transposes as specialization constants (the
** lavapipe kernels) or from the push constants' flags. */
struct gemm_shader {
    const char *name;
    uint32_t tile_m, tile_n;
    int kind;
    bool spec;
};

static const struct gemm_shader portable_shader = {"gemm", 8, 8, -1, false};
static const struct gemm_shader tiled_shader = {"gemm_tiled", 64, 64, -1, false};

/* Lavapipe kernels.  The texel ones read A, B and bias through uniform
** texel buffers, the fastest reads on lavapipe; the tile is chosen by shape
** (wide N: 16x128, tall M: 32x64, else 16x64; measured in
** tests/bench/README.md).  The storage-buffer and address kernels are kept
** for comparison, and the address kernel serves tensors the descriptor
** path cannot bind.  LCMFLOW_GEMM_LVP=name overrides the choice. */
static const struct gemm_shader lavapipe_shaders[] = {
    {"gemm_lvp_texel", 16, 64, LF_VK_TEXEL, true},
    {"gemm_lvp_texel_32x64", 32, 64, LF_VK_TEXEL, true},
    {"gemm_lvp_texel_16x128", 16, 128, LF_VK_TEXEL, true},
    {"gemm_lvp_ssbo", 16, 64, LF_VK_STORAGE, true},
    {"gemm_lvp", 16, 64, -1, true},
};
/* Used where the descriptor path cannot bind the tensors. */
static const struct gemm_shader *const lavapipe_address_shader = &lavapipe_shaders[4];

static const struct gemm_shader *lavapipe_shader(const struct lf_gemm_shape *g)
{
    const char *name = getenv("LCMFLOW_GEMM_LVP");
    if (name && *name)
        for (size_t i = 0; i < sizeof lavapipe_shaders / sizeof *lavapipe_shaders; i++)
            if (!strcmp(lavapipe_shaders[i].name, name)) return &lavapipe_shaders[i];
    if (g->n >= 512 && g->n % 128 == 0) return &lavapipe_shaders[2];
    if (g->m >= 512) return &lavapipe_shaders[1];
    return &lavapipe_shaders[0];
}

static enum gemm_variant choose_variant(const struct lf_vk_device *device)
{
    const char *force = getenv("LCMFLOW_OP_VARIANT");
    if (force && !strcmp(force, "portable")) return GEMM_PORTABLE;
    if (force && !strcmp(force, "lavapipe")) return GEMM_LAVAPIPE;
    if (force && !strcmp(force, "gpu")) return GEMM_TILED;
    if (lf_vk_is_cpu(device)) return GEMM_LAVAPIPE;
    if (device->vk.max_shared_memory >= 2 * 16 * 65 * sizeof(float)) return GEMM_TILED;
    return GEMM_PORTABLE;
}

static bool lavapipe_fits(const struct lf_vk_device *device, const struct lf_gemm_shape *g,
                          bool trans_a)
{
    return device->vk.subgroup_size >= 8 && g->k % 4 == 0 && g->n % 4 == 0 &&
           (!trans_a || g->m % 4 == 0);
}

static struct lf_vk_binding binding_of(const struct lf_tensor *t)
{
    return (struct lf_vk_binding){
        .buffer = t->buffer,
        .offset = t->offset,
        .size = lf_tensor_nbytes(t),
        .format = t->dtype == LF_DTYPE_F16 ? VK_FORMAT_R16G16B16A16_SFLOAT
                                           : VK_FORMAT_R32G32B32A32_SFLOAT,
    };
}

/* Binds A, B and bias (binding 2 repeats B without a bias) when the device
** and the tensors allow it. */
static bool bind_operands(const struct lf_vk_device *device, const struct gemm_shader *shader,
                          struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                          struct lf_vk_binding bindings[3])
{
    bindings[0] = binding_of(a);
    bindings[1] = binding_of(b);
    /* Without a bias, B's view again: llvmpipe compiles a kernel per set
    ** of texel formats, and the bias usually has B's dtype. */
    bindings[2] = binding_of(bias ? bias : b);
    for (int i = 0; i < 3; i++) {
        uint64_t base;
        lf_vk_buffer_handle(bindings[i].buffer, &base);
        if (!lf_vk_binding_fits(device, (enum lf_vk_binding_kind)shader->kind,
                                base + bindings[i].offset, bindings[i].size, bindings[i].format))
            return false;
    }
    return true;
}

enum lf_status lf_vk_gemm(struct lf_tensor *a, struct lf_tensor *b, struct lf_tensor *bias,
                          bool trans_a, bool trans_b, const struct lf_gemm_shape *g,
                          struct lf_tensor *c, struct lf_error *err)
{
    struct lf_vk_device *device = lf_vk_tensor_device(a);
    const struct gemm_shader *shader = &portable_shader;
    switch (choose_variant(device)) {
    case GEMM_LAVAPIPE:
        if (lavapipe_fits(device, g, trans_a)) shader = lavapipe_shader(g);
        break;
    case GEMM_TILED:
        shader = &tiled_shader;
        break;
    case GEMM_PORTABLE:
        break;
    }
    /* Texel fetches convert f16 themselves: those pipelines ignore the
    ** operand dtypes, so they are not told them (fewer pipelines). */
    uint32_t spec[4] = {lf_vk_dtype(a), lf_vk_dtype(b), trans_a, trans_b};
    struct gemm_push p = {
        .a = lf_vk_address(a),
        .b = lf_vk_address(b),
        .bias = lf_vk_address(bias),
        .c = lf_vk_address(c),
        .m = g->m,
        .n = g->n,
        .k = g->k,
        .a_bstride = g->a_bstride,
        .b_bstride = g->b_bstride,
        .c_bstride = g->m * g->n,
        .flags = (bias ? GEMM_HAS_BIAS : 0u) | (c->dtype == LF_DTYPE_F16 ? GEMM_C_F16 : 0u) |
                 (bias && bias->dtype == LF_DTYPE_F16 ? GEMM_BIAS_F16 : 0u) |
                 (a->dtype == LF_DTYPE_F16 ? GEMM_A_F16 : 0u) |
                 (b->dtype == LF_DTYPE_F16 ? GEMM_B_F16 : 0u) | (trans_a ? GEMM_TRANS_A : 0u) |
                 (trans_b ? GEMM_TRANS_B : 0u),
    };

    uint32_t groups_x = (g->n + shader->tile_n - 1) / shader->tile_n;
    uint64_t groups_y = (g->m + shader->tile_m - 1) / shader->tile_m;

    /* llvmpipe (Mesa 22) silently stops an invocation after 65535 loop
    ** iterations; the only loop left in these shaders runs over K, in
    ** steps of 1 (portable), 4 (lavapipe) or 16 (tiled). */
    uint32_t k_step = shader == &portable_shader ? 1 : shader == &tiled_shader ? 16 : 4;
    if (lf_vk_is_cpu(device) && g->k / k_step >= 65535)
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "gemm: K = %u is beyond what shader %s can loop over on lavapipe", g->k,
                            shader->name);

    if (shader->kind >= 0) {
        /* Descriptor path: one dispatch, the whole tensors bound. */
        struct lf_vk_binding bindings[3];
        if (g->batch <= 65535 && groups_y <= 65535 &&
            bind_operands(device, shader, a, b, bias, bindings)) {
            enum lf_vk_binding_kind kind = (enum lf_vk_binding_kind)shader->kind;
            if (kind == LF_VK_TEXEL) spec[0] = spec[1] = 0;
            VkPipeline pipeline;
            enum lf_status s =
                lf_vk_pipeline_get_bound(device, shader->name, kind, spec, 4, &pipeline, err);
            if (s) return s;
            return lf_vk_dispatch_bound(device, pipeline, kind, bindings, 3, &p, sizeof p, groups_x,
                                        (uint32_t)groups_y, g->batch, err);
        }
        shader = lavapipe_address_shader;
        groups_x = (g->n + shader->tile_n - 1) / shader->tile_n;
        groups_y = (g->m + shader->tile_m - 1) / shader->tile_m;
    }

    /* Grids beyond 65535 in y or z become several dispatches: rows through
    ** m_offset, batches by moving the base addresses. */
    for (uint32_t z0 = 0; z0 < g->batch; z0 += 65535) {
        uint32_t nz = g->batch - z0 < 65535 ? g->batch - z0 : 65535;
        struct gemm_push q = p;
        q.a += (uint64_t)z0 * g->a_bstride * lf_dtype_size(a->dtype);
        q.b += (uint64_t)z0 * g->b_bstride * lf_dtype_size(b->dtype);
        q.c += (uint64_t)z0 * q.c_bstride * lf_dtype_size(c->dtype);
        for (uint64_t y0 = 0; y0 < groups_y; y0 += 65535) {
            uint32_t ny = (uint32_t)(groups_y - y0 < 65535 ? groups_y - y0 : 65535);
            q.m_offset = (uint32_t)(y0 * shader->tile_m);
            enum lf_status s = lf_vk_run(device, shader->name, spec, shader->spec ? 4 : 0, &q,
                                         sizeof q, groups_x, ny, nz, err);
            if (s) return s;
        }
    }
    return LF_OK;
}
