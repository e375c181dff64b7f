/*
** sd_unet.c - the SD 1.5 UNet (original-LDM weight names).
**
** Structure comes from the architecture (sd_arch.h): its module layout
** says which part of which input_blocks / output_blocks is a ResBlock, a
** SpatialTransformer, a downsampler (op) or an upsampler (conv); widths
** come from the tensors themselves.  Norm epsilons are SD 1.5's:
** ResBlock and output GroupNorms 1e-5, transformer GroupNorm 1e-6,
** transformer LayerNorms 1e-5; 32 groups throughout.
*/
#include "sd_unet.h"
#include "sd_nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GROUPS 32

/* Places one module of the layout into u's block tables and checks that
** the weights have it. */
struct builder {
    struct sd_unet *u;
    const struct sd_weights *weights;
    int depth;
    char missing[160]; /* the first tensor not found, or a layout error */
};

static void place(const struct sd_module *m, void *user)
{
    static const struct {
        enum sd_module_kind kind;
        enum sd_unet_part part;
        const char *member; /* a tensor the module must have */
    } kinds[] = {
        {SD_MODULE_CONV, SD_PART_CONV, "weight"},
        {SD_MODULE_RES, SD_PART_RES, "in_layers.0.weight"},
        {SD_MODULE_TRANSFORMER, SD_PART_ATTENTION, "proj_in.weight"},
        {SD_MODULE_DOWNSAMPLE, SD_PART_DOWNSAMPLE, "weight"},
        {SD_MODULE_UPSAMPLE, SD_PART_UPSAMPLE, "weight"},
        {SD_MODULE_LINEAR, SD_PART_NONE, "weight"},
        {SD_MODULE_NORM, SD_PART_NONE, "weight"},
    };
    struct builder *b = user;
    size_t k = 0;
    while (k < sizeof kinds / sizeof *kinds && kinds[k].kind != m->kind)
        k++;
    if (b->missing[0] || k == sizeof kinds / sizeof *kinds) return;
    char name[160];
    snprintf(name, sizeof name, "%s.%s", m->ldm, kinds[k].member);
    if (!sd_weights_find(b->weights, name)) {
        snprintf(b->missing, sizeof b->missing, "missing tensor '%s' (truncated file?)", name);
        return;
    }
    if (m->side == SD_SIDE_NONE) return;
    if (m->block >= SD_UNET_MAX_BLOCKS || m->part >= 3) {
        snprintf(b->missing, sizeof b->missing, "more than %d blocks", SD_UNET_MAX_BLOCKS);
        return;
    }
    struct sd_unet_block *block = m->side == SD_SIDE_INPUT    ? &b->u->input[m->block]
                                  : m->side == SD_SIDE_MIDDLE ? &b->u->middle
                                                              : &b->u->output[m->block];
    block->parts[m->part] = kinds[k].part;
    block->depth[m->part] = kinds[k].part == SD_PART_ATTENTION ? b->depth : 0;
    if (m->side == SD_SIDE_INPUT && m->block >= b->u->input_count) b->u->input_count = m->block + 1;
    if (m->side == SD_SIDE_OUTPUT && m->block >= b->u->output_count)
        b->u->output_count = m->block + 1;
}

enum lf_status sd_unet_init(struct sd_unet *u, struct sd_weights *weights,
                            const struct sd_arch_unet *arch, struct lf_error *err)
{
    memset(u, 0, sizeof *u);
    if (!arch->found || !arch->out_channels)
        return lf_error_set(err, LF_ERR_FORMAT, "UNet: missing tensor '%s' (not an SD 1.5 UNet?)",
                            arch->found ? "out.2.weight" : "input_blocks.0.0.weight");
    u->model_channels = arch->widths[0];
    u->in_channels = arch->in_channels;
    u->out_channels = arch->out_channels;
    u->context_dim = arch->context_dim;
    u->heads = arch->heads;
    struct builder b = {.u = u, .weights = weights, .depth = arch->transformer_depth};
    sd_arch_unet_modules(arch, place, &b);
    if (b.missing[0]) return lf_error_set(err, LF_ERR_FORMAT, "UNet: %s", b.missing);
    if (u->output_count != u->input_count)
        return lf_error_set(err, LF_ERR_FORMAT,
                            "UNet: %d input blocks but %d output blocks (truncated file?)",
                            u->input_count, u->output_count);
    u->weights = sd_weights_retain(weights);
    u->act_dtype = weights->dtype;
    return LF_OK;
}

void sd_unet_clear(struct sd_unet *u)
{
    sd_weights_release(u->weights);
    memset(u, 0, sizeof *u);
}

struct forward {
    const struct sd_unet *u;
    struct sd_nn nn;
    struct lf_tensor *emb; /* SiLU(time embedding), shared by every ResBlock */
    struct lf_tensor *context;
    sd_unet_probe probe;
    void *user;
};

static void probe(struct forward *f, const char *name, struct lf_tensor *t)
{
    if (f->probe && t && !f->nn.status && !f->probe(name, t, f->user))
        f->nn.status = lf_error_set(f->nn.err, LF_ERR_INTERRUPTED, "UNet: interrupted");
}

static struct lf_tensor *res_block(struct forward *f, struct lf_tensor *x, const char *p)
{
    struct sd_nn *nn = &f->nn;
    struct lf_tensor *h = sd_group_norm(nn, x, GROUPS, 1e-5f, true, "%s.in_layers.0", p);
    struct lf_tensor *h1 = sd_conv3(nn, h, "%s.in_layers.2", p);
    sd_drop(h);
    struct lf_tensor *e = sd_linear(nn, f->emb, "%s.emb_layers.1", p);
    struct lf_tensor *e4 = e ? sd_reshape(nn, e, 4, e->shape[0], e->shape[1], 1, 1) : NULL;
    struct lf_tensor *h2 = sd_add(nn, h1, e4);
    sd_drop(h1), sd_drop(e), sd_drop(e4);
    h = sd_group_norm(nn, h2, GROUPS, 1e-5f, true, "%s.out_layers.0", p);
    sd_drop(h2);
    struct lf_tensor *h3 = sd_conv3(nn, h, "%s.out_layers.3", p);
    sd_drop(h);
    struct lf_tensor *skip = sd_has(nn, "%s.skip_connection.weight", p)
                                 ? sd_conv1(nn, x, "%s.skip_connection", p)
                                 : lf_tensor_retain(x);
    struct lf_tensor *y = sd_add(nn, skip, h3);
    sd_drop(skip), sd_drop(h3);
    return y;
}

static struct lf_tensor *attention(struct forward *f, struct lf_tensor *x, struct lf_tensor *ctx,
                                   const char *p)
{
    struct sd_nn *nn = &f->nn;
    struct lf_tensor *q = sd_linear(nn, x, "%s.to_q", p);
    struct lf_tensor *k = sd_linear(nn, ctx, "%s.to_k", p);
    struct lf_tensor *v = sd_linear(nn, ctx, "%s.to_v", p);
    struct lf_tensor *a = NULL;
    if (!nn->status) {
        int dim = (int)q->shape[2] / f->u->heads;
        sd_check(
            nn, lf_op_attention(q, k, v, f->u->heads, 1.0f / sqrtf((float)dim), false, &a, nn->err),
            &a);
    }
    sd_drop(q), sd_drop(k), sd_drop(v);
    struct lf_tensor *y = sd_linear(nn, a, "%s.to_out.0", p);
    sd_drop(a);
    return y;
}

static struct lf_tensor *transformer_block(struct forward *f, struct lf_tensor *x, const char *p)
{
    struct sd_nn *nn = &f->nn;
    char name[256];
    struct lf_tensor *n = sd_layer_norm(nn, x, 1e-5f, "%s.norm1", p);
    snprintf(name, sizeof name, "%s.attn1", p);
    struct lf_tensor *a = attention(f, n, n, name);
    struct lf_tensor *x1 = sd_add(nn, x, a);
    sd_drop(n), sd_drop(a);
    n = sd_layer_norm(nn, x1, 1e-5f, "%s.norm2", p);
    snprintf(name, sizeof name, "%s.attn2", p);
    a = attention(f, n, f->context, name);
    struct lf_tensor *x2 = sd_add(nn, x1, a);
    sd_drop(x1), sd_drop(n), sd_drop(a);
    n = sd_layer_norm(nn, x2, 1e-5f, "%s.norm3", p);
    struct lf_tensor *g = sd_linear(nn, n, "%s.ff.net.0.proj", p), *gg = NULL;
    sd_drop(n);
    if (g) sd_check(nn, lf_op_geglu(g, &gg, nn->err), &gg);
    sd_drop(g);
    struct lf_tensor *ff = sd_linear(nn, gg, "%s.ff.net.2", p);
    sd_drop(gg);
    struct lf_tensor *y = sd_add(nn, x2, ff);
    sd_drop(x2), sd_drop(ff);
    return y;
}

static struct lf_tensor *spatial_transformer(struct forward *f, struct lf_tensor *x, const char *p,
                                             int depth)
{
    struct sd_nn *nn = &f->nn;
    int64_t h = x->shape[2], w = x->shape[3];
    struct lf_tensor *n = sd_group_norm(nn, x, GROUPS, 1e-6f, false, "%s.norm", p);
    struct lf_tensor *pin = sd_conv1(nn, n, "%s.proj_in", p);
    sd_drop(n);
    struct lf_tensor *t = sd_to_tokens(nn, pin);
    sd_drop(pin);
    for (int d = 0; d < depth && !nn->status; d++) {
        char name[256];
        snprintf(name, sizeof name, "%s.transformer_blocks.%d", p, d);
        struct lf_tensor *next = transformer_block(f, t, name);
        sd_drop(t);
        t = next;
    }
    struct lf_tensor *s = sd_from_tokens(nn, t, h, w);
    sd_drop(t);
    struct lf_tensor *pout = sd_conv1(nn, s, "%s.proj_out", p);
    sd_drop(s);
    struct lf_tensor *y = sd_add(nn, pout, x);
    sd_drop(pout);
    return y;
}

/* Runs one block's parts on x (consumed); target_h/w: the skip size an
** upsampler resizes to. */
static struct lf_tensor *run_block(struct forward *f, const struct sd_unet_block *b,
                                   const char *block, int i, struct lf_tensor *x, int64_t target_h,
                                   int64_t target_w)
{
    struct sd_nn *nn = &f->nn;
    for (int j = 0; j < 3 && x && !nn->status; j++) {
        char p[128];
        if (i >= 0)
            snprintf(p, sizeof p, "%s.%d.%d", block, i, j);
        else
            snprintf(p, sizeof p, "%s.%d", block, j);
        struct lf_tensor *y = NULL;
        switch (b->parts[j]) {
        case SD_PART_NONE:
            continue;
        case SD_PART_CONV:
            y = sd_conv3(nn, x, "%s.%d.%d", block, i, j);
            break;
        case SD_PART_RES:
            y = res_block(f, x, p);
            break;
        case SD_PART_ATTENTION:
            y = spatial_transformer(f, x, p, b->depth[j]);
            break;
        case SD_PART_DOWNSAMPLE: {
            static const int pad[4] = {1, 1, 1, 1};
            y = sd_conv(nn, x, 2, pad, "%s.op", p);
            break;
        }
        case SD_PART_UPSAMPLE: {
            struct lf_tensor *up = NULL;
            sd_check(nn, lf_op_resize_nearest(x, target_h, target_w, &up, nn->err), &up);
            y = sd_conv3(nn, up, "%s.conv", p);
            sd_drop(up);
            break;
        }
        }
        sd_drop(x);
        x = y;
    }
    return x;
}

static bool block_has(const struct sd_unet_block *b, enum sd_unet_part part)
{
    return b->parts[0] == part || b->parts[1] == part || b->parts[2] == part;
}

static struct lf_tensor *time_embedding(struct forward *f, struct lf_tensor *like, float timestep,
                                        int batch)
{
    struct sd_nn *nn = &f->nn;
    float t[64];
    int64_t b = batch;
    struct lf_tensor *tt = NULL, *proj = NULL;
    for (int i = 0; i < batch && i < 64; i++)
        t[i] = timestep;
    sd_check(nn, lf_tensor_from_f32(like->device, LF_DTYPE_F32, 1, &b, t, &tt, nn->err), &tt);
    if (tt)
        sd_check(nn,
                 lf_op_timestep_embedding(tt, f->u->model_channels, true, 0.0f, 10000.0f, &proj,
                                          nn->err),
                 &proj);
    sd_drop(tt);
    probe(f, "time_proj", proj);
    struct lf_tensor *pc = sd_cast(nn, proj, f->u->act_dtype);
    sd_drop(proj);
    struct lf_tensor *h = sd_linear(nn, pc, "time_embed.0");
    sd_drop(pc);
    struct lf_tensor *hs = sd_unary(nn, h, LF_UNARY_SILU);
    sd_drop(h);
    struct lf_tensor *emb = sd_linear(nn, hs, "time_embed.2");
    sd_drop(hs);
    probe(f, "time_embedding", emb);
    struct lf_tensor *silu = sd_unary(nn, emb, LF_UNARY_SILU);
    sd_drop(emb);
    return silu;
}

enum lf_status sd_unet_forward_probed(const struct sd_unet *u, struct lf_tensor *x, float timestep,
                                      struct lf_tensor *context, sd_unet_probe probe_fn, void *user,
                                      struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    if (x->rank != 4 || x->shape[1] != u->in_channels)
        return lf_error_set(err, LF_ERR_INVALID, "UNet: latent must be [B, %d, h, w]",
                            u->in_channels);
    if (context->rank != 3 || context->shape[2] != u->context_dim ||
        context->shape[0] != x->shape[0])
        return lf_error_set(err, LF_ERR_INVALID,
                            "UNet: conditioning must be [%lld, L, %d], got a rank-%d tensor "
                            "with last dimension %lld",
                            (long long)x->shape[0], u->context_dim, context->rank,
                            (long long)context->shape[context->rank - 1]);
    struct forward f = {
        .u = u,
        .nn = {.weights = u->weights, .component = "UNet", .err = err},
        .probe = probe_fn,
        .user = user,
    };
    struct sd_nn *nn = &f.nn;
    enum lf_dtype dtype = u->act_dtype;
    f.emb = time_embedding(&f, x, timestep, (int)x->shape[0]);
    f.context = sd_cast(nn, context, dtype);
    struct lf_tensor *skips[SD_UNET_MAX_BLOCKS] = {0};
    int level = 0;
    struct lf_tensor *h = sd_cast(nn, x, dtype);
    for (int i = 0; i < u->input_count && !nn->status; i++) {
        h = run_block(&f, &u->input[i], "input_blocks", i, h, 0, 0);
        skips[i] = lf_tensor_retain(h);
        if (i == 0)
            probe(&f, "conv_in", h);
        else if (block_has(&u->input[i], SD_PART_DOWNSAMPLE) || i == u->input_count - 1) {
            char name[32];
            snprintf(name, sizeof name, "down_blocks.%d", level++);
            probe(&f, name, h);
        }
    }
    h = run_block(&f, &u->middle, "middle_block", -1, h, 0, 0);
    probe(&f, "mid_block", h);
    level = 0;
    for (int i = 0; i < u->output_count && !nn->status; i++) {
        int s = u->input_count - 1 - i;
        struct lf_tensor *cat = NULL;
        sd_check(nn, lf_op_concat(h, skips[s], 1, &cat, nn->err), &cat);
        sd_drop(h);
        sd_drop(skips[s]);
        skips[s] = NULL;
        /* An upsampler resizes to the next skip's size (x2 unless odd sizes). */
        int64_t th = 0, tw = 0;
        if (cat && s > 0) {
            th = skips[s - 1]->shape[2];
            tw = skips[s - 1]->shape[3];
        }
        h = run_block(&f, &u->output[i], "output_blocks", i, cat, th, tw);
        if (block_has(&u->output[i], SD_PART_UPSAMPLE) || i == u->output_count - 1) {
            char name[32];
            snprintf(name, sizeof name, "up_blocks.%d", level++);
            probe(&f, name, h);
        }
    }
    for (int i = 0; i < SD_UNET_MAX_BLOCKS; i++)
        sd_drop(skips[i]);
    struct lf_tensor *n = NULL;
    if (f.probe) {
        n = sd_group_norm(nn, h, GROUPS, 1e-5f, false, "out.0");
        probe(&f, "conv_norm_out", n);
        struct lf_tensor *ns = sd_unary(nn, n, LF_UNARY_SILU);
        sd_drop(n);
        n = ns;
    } else {
        n = sd_group_norm(nn, h, GROUPS, 1e-5f, true, "out.0");
    }
    sd_drop(h);
    struct lf_tensor *y = sd_conv3(nn, n, "out.2");
    sd_drop(n);
    sd_drop(f.emb);
    sd_drop(f.context);
    return sd_finish(nn, y, out);
}

enum lf_status sd_unet_forward(const struct sd_unet *u, struct lf_tensor *x, float timestep,
                               struct lf_tensor *context, struct lf_tensor **out,
                               struct lf_error *err)
{
    return sd_unet_forward_probed(u, x, timestep, context, NULL, NULL, out, err);
}
