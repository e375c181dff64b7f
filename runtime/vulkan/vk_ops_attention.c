/*
** vk_ops_attention.c - the Vulkan multi-head attention kernels, flash style (the Lq x Lk score
** matrix is never stored).  Shaders: attention.comp (portable; with TILED
** the GPU variant using shared-memory tiles) and attention_lavapipe.comp
** (one 8-lane subgroup per workgroup; lanes own query rows and share each
** block of 8 keys through subgroupBroadcast).
**
** The variant is chosen per device (lavapipe for CPU devices, gpu for
** others) unless LCMFLOW_OP_VARIANT=portable|lavapipe|gpu forces one, so
** tests can compare every variant with the reference.  The checks are in
** ../ops_attention.c.
*/
#include "vk_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD_DIM   160
#define ROWS_PER_GROUP 64 /* attention.comp's local size */
/* Key loop iterations per key: 1 (portable), at most about 1.5 (lavapipe),
** at most 1 + 160/64 + 1/TK (gpu); times 16384 keys stays under 65535. */
#define MAX_CPU_KEYS 16384

enum variant { VARIANT_PORTABLE, VARIANT_LAVAPIPE, VARIANT_GPU };

struct attention_push {
    uint64_t q, k, v, o;
    uint32_t lq, lk, heads, causal;
    float scale_log2;
    uint32_t q_dtype, k_dtype, v_dtype, o_dtype;
};

static enum variant pick_variant(const struct lf_vk_device *vk)
{
    const char *env = getenv("LCMFLOW_OP_VARIANT");
    enum variant v = lf_vk_is_cpu(vk) ? VARIANT_LAVAPIPE : VARIANT_GPU;
    if (env && !strcmp(env, "portable")) v = VARIANT_PORTABLE;
    if (env && !strcmp(env, "lavapipe")) v = VARIANT_LAVAPIPE;
    if (env && !strcmp(env, "gpu")) v = VARIANT_GPU;
    /* The lavapipe shader shares keys between its 8 lanes with
    ** subgroupBroadcast: a workgroup of 8 must lie in one subgroup. */
    if (v == VARIANT_LAVAPIPE && vk->vk.subgroup_size < 8) v = VARIANT_PORTABLE;
    return v;
}

/* What the kernels cannot run (the arguments are checked, backend.h). */
static enum lf_status check_limits(struct lf_tensor *q, struct lf_tensor *k, int heads,
                                   struct lf_error *err)
{
    char a[96];
    if (q->shape[2] / heads > MAX_HEAD_DIM)
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "attention: head dim %lld is over the supported %d (q %s, %d heads)",
                            (long long)(q->shape[2] / heads), MAX_HEAD_DIM,
                            lf_op_shape_text(q, a, sizeof a), heads);
    /* llvmpipe silently ends a shader's loops after 65535 iterations in
    ** all; the key loops of every variant stay below that up to here. */
    if (lf_vk_is_cpu(lf_vk_tensor_device(q)) && k->shape[1] > MAX_CPU_KEYS)
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "attention: %lld keys (k %s) are over the %d this CPU device "
                            "(llvmpipe) runs correctly",
                            (long long)k->shape[1], lf_op_shape_text(k, a, sizeof a), MAX_CPU_KEYS);
    if (q->shape[0] > 65535 || q->shape[1] > 65535 * 64 || heads > 65535)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "attention: q %s with %d heads is too large",
                            lf_op_shape_text(q, a, sizeof a), heads);
    return LF_OK;
}

/* Query rows per lane of the lavapipe shader (a workgroup has 8 * rows):
** more rows give more FMAs per loaded key, but the accumulators of all
** rows stay live, and LLVM's compile time grows steeply with them (on the
** 2-core VM: about 2 s for D 40 and 8 rows, 10 s for D 160 and 2 rows).
** Measured on the development VM against OpenBLAS (before the fast blocks
** of attention_lavapipe.comp, which add about half): D 40 with 8 rows 15 %,
** 4 rows 10 %; D 80 with 4 rows 11 %, 2 rows 7 %.
** LCMFLOW_ATTENTION_ROWS=1..16 overrides (for tuning on other CPUs). */
static uint32_t lavapipe_rows(uint32_t d)
{
    uint32_t rows = d <= 48 ? 8 : d <= 96 ? 4 : 1;
    const char *env = getenv("LCMFLOW_ATTENTION_ROWS");
    if (env && atoi(env) >= 1 && atoi(env) <= 16) rows = (uint32_t)atoi(env);
    return rows;
}

static enum lf_status run(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                          struct lf_tensor *o, uint32_t d, const struct attention_push *p,
                          struct lf_error *err)
{
    struct lf_vk_device *device = lf_vk_tensor_device(q);
    uint32_t batch = (uint32_t)q->shape[0];
    switch (pick_variant(device)) {
    case VARIANT_LAVAPIPE: {
        uint32_t rows = lavapipe_rows(d);
        /* vec4 loads need every row start aligned to a whole vec4. */
        bool vec = d % 4 == 0;
        struct lf_tensor *t[4] = {q, k, v, o};
        for (int i = 0; i < 4; i++)
            if (lf_vk_address(t[i]) % 16) vec = false;
        /* Fast blocks (no max tracking) for the head dims with several
        ** rows per lane; wide heads compile half the code without. */
        uint32_t fast = d <= 96;
        uint32_t spec[8] = {
            d, rows, lf_vk_dtype(q), lf_vk_dtype(k), lf_vk_dtype(v), lf_vk_dtype(o), vec, fast};
        uint32_t groups = (p->lq + 8 * rows - 1) / (8 * rows);
        if (groups > 65535) {
            /* Too many rows for one grid: fall back to the portable one. */
            break;
        }
        return lf_vk_run(device, "attention_lavapipe", spec, 8, p, sizeof *p, groups, p->heads,
                         batch, err);
    }
    case VARIANT_GPU: {
        uint32_t shared = device->vk.max_shared_memory;
        uint32_t tk = shared / (2 * 4 * d);
        if (tk > 64) tk = 64;
        if (tk < 1) break;
        uint32_t spec[6] = {d, tk, p->q_dtype, p->k_dtype, p->v_dtype, p->o_dtype};
        return lf_vk_run(device, "attention_gpu", spec, 6, p, sizeof *p,
                         (p->lq + ROWS_PER_GROUP - 1) / ROWS_PER_GROUP, p->heads, batch, err);
    }
    case VARIANT_PORTABLE:
        break;
    }
    /* Constant 1 (TK) is unused by the portable shader. */
    uint32_t spec[6] = {d, 1, p->q_dtype, p->k_dtype, p->v_dtype, p->o_dtype};
    return lf_vk_run(device, "attention", spec, 6, p, sizeof *p,
                     (p->lq + ROWS_PER_GROUP - 1) / ROWS_PER_GROUP, p->heads, batch, err);
}

enum lf_status lf_vk_attention(struct lf_tensor *q, struct lf_tensor *k, struct lf_tensor *v,
                               int heads, float scale, bool causal, struct lf_tensor *y,
                               struct lf_error *err)
{
    enum lf_status s = check_limits(q, k, heads, err);
    if (s) return s;
    struct attention_push p = {
        .q = lf_vk_address(q),
        .k = lf_vk_address(k),
        .v = lf_vk_address(v),
        .o = lf_vk_address(y),
        .lq = (uint32_t)q->shape[1],
        .lk = (uint32_t)k->shape[1],
        .heads = (uint32_t)heads,
        .causal = causal,
        .scale_log2 = (float)(scale * 1.4426950408889634),
        .q_dtype = lf_vk_dtype(q),
        .k_dtype = lf_vk_dtype(k),
        .v_dtype = lf_vk_dtype(v),
        .o_dtype = lf_vk_dtype(y),
    };
    return run(q, k, v, y, (uint32_t)(q->shape[2] / heads), &p, err);
}
