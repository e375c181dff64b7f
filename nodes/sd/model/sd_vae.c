/*
** sd_vae.c - the SD 1.5 VAE decoder and encoder.
**
** Every GroupNorm has 32 groups and eps 1e-6.  The mid-block attention is a
** single head over all H*W positions, with q/k/v/proj_out stored as 1x1
** convs; it runs through lf_op_attention on [B, H*W, C] tokens.  The encoder
** downsamples by padding right and bottom with one zero, then a 3x3 stride-2
** conv without padding.
*/
#include "sd_vae.h"
#include "sd_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS 32
#define EPS    1e-6f

/* Head dims the flash attention op takes (ops.h); wider single heads use
** GEMMs.  LCMFLOW_VAE_ATTENTION=gemm forces the GEMM route (for tests). */
#define SD_VAE_FLASH_MAX_DIM 160

static int64_t flash_max_dim(void)
{
    const char *v = getenv("LCMFLOW_VAE_ATTENTION");
    return v && !strcmp(v, "gemm") ? 0 : SD_VAE_FLASH_MAX_DIM;
}

enum lf_status sd_vae_init(struct sd_vae *v, struct sd_weights *weights,
                           const struct sd_arch_vae *arch, struct lf_error *err)
{
    memset(v, 0, sizeof *v);
    v->has_decoder = arch->has_decoder && sd_weights_find(weights, "post_quant_conv.weight");
    v->has_encoder = arch->has_encoder && sd_weights_find(weights, "quant_conv.weight");
    if (!v->has_decoder && !v->has_encoder)
        return lf_error_set(err, LF_ERR_FORMAT,
                            "VAE: neither decoder nor encoder weights found "
                            "(decoder.conv_in.weight, encoder.conv_in.weight)");
    v->latent_channels = arch->latent_channels;
    v->decoder_levels = v->encoder_levels = arch->levels;
    v->decoder_blocks = arch->decoder_res;
    v->encoder_blocks = arch->encoder_res;
    v->weights = sd_weights_retain(weights);
    v->act_dtype = weights->dtype;
    return LF_OK;
}

void sd_vae_clear(struct sd_vae *v)
{
    sd_weights_release(v->weights);
    memset(v, 0, sizeof *v);
}

static struct lf_tensor *resnet(struct sd_nn *nn, struct lf_tensor *x, const char *p)
{
    struct lf_tensor *h = sd_group_norm(nn, x, GROUPS, EPS, true, "%s.norm1", p);
    struct lf_tensor *h1 = sd_conv3(nn, h, "%s.conv1", p);
    sd_drop(h);
    h = sd_group_norm(nn, h1, GROUPS, EPS, true, "%s.norm2", p);
    sd_drop(h1);
    struct lf_tensor *h2 = sd_conv3(nn, h, "%s.conv2", p);
    sd_drop(h);
    struct lf_tensor *skip = sd_has(nn, "%s.nin_shortcut.weight", p)
                                 ? sd_conv1(nn, x, "%s.nin_shortcut", p)
                                 : lf_tensor_retain(x);
    struct lf_tensor *y = sd_add(nn, skip, h2);
    sd_drop(skip), sd_drop(h2);
    return y;
}

/* Runs the count resnets <side>.<level>.block.N on h (consumed). */
static struct lf_tensor *resnets(struct sd_nn *nn, struct lf_tensor *h, const char *side, int level,
                                 int count)
{
    for (int b = 0; b < count && !nn->status; b++) {
        char p[64];
        snprintf(p, sizeof p, "%s.%d.block.%d", side, level, b);
        struct lf_tensor *y = resnet(nn, h, p);
        sd_drop(h);
        h = y;
    }
    return h;
}

static struct lf_tensor *mid_attention(struct sd_nn *nn, struct lf_tensor *x, const char *p)
{
    int64_t h = x->shape[2], w = x->shape[3];
    struct lf_tensor *n = sd_group_norm(nn, x, GROUPS, EPS, false, "%s.norm", p);
    struct lf_tensor *q = sd_conv1(nn, n, "%s.q", p);
    struct lf_tensor *k = sd_conv1(nn, n, "%s.k", p);
    struct lf_tensor *v = sd_conv1(nn, n, "%s.v", p);
    sd_drop(n);
    struct lf_tensor *qt = sd_to_tokens(nn, q), *kt = sd_to_tokens(nn, k),
                     *vt = sd_to_tokens(nn, v), *a = NULL;
    sd_drop(q), sd_drop(k), sd_drop(v);
    if (!nn->status) {
        float scale = 1.0f / sqrtf((float)qt->shape[2]);
        if (qt->shape[2] <= flash_max_dim()) {
            sd_check(nn, lf_op_attention(qt, kt, vt, 1, scale, false, &a, nn->err), &a);
        } else {
            /* One head as wide as the channels (512 in SD 1.5) is beyond the
            ** flash kernel's register budget: scores are [HW, HW] (64 MiB at
            ** 512x512), so take the plain route through two GEMMs. */
            struct lf_tensor *scores = NULL, *scaled = NULL, *p = NULL;
            sd_check(nn, lf_op_gemm(qt, kt, NULL, false, true, &scores, nn->err), &scores);
            if (scores) sd_check(nn, lf_op_scale(scores, scale, 0.0f, &scaled, nn->err), &scaled);
            if (scaled) sd_check(nn, lf_op_softmax(scaled, &p, nn->err), &p);
            if (p) sd_check(nn, lf_op_gemm(p, vt, NULL, false, false, &a, nn->err), &a);
            sd_drop(scores), sd_drop(scaled), sd_drop(p);
        }
    }
    sd_drop(qt), sd_drop(kt), sd_drop(vt);
    struct lf_tensor *s = sd_from_tokens(nn, a, h, w);
    sd_drop(a);
    struct lf_tensor *o = sd_conv1(nn, s, "%s.proj_out", p);
    sd_drop(s);
    struct lf_tensor *y = sd_add(nn, x, o);
    sd_drop(o);
    return y;
}

static struct lf_tensor *mid(struct sd_nn *nn, struct lf_tensor *x, const char *side)
{
    char p[64];
    snprintf(p, sizeof p, "%s.mid.block_1", side);
    struct lf_tensor *h = resnet(nn, x, p);
    snprintf(p, sizeof p, "%s.mid.attn_1", side);
    struct lf_tensor *a = h ? mid_attention(nn, h, p) : NULL;
    sd_drop(h);
    snprintf(p, sizeof p, "%s.mid.block_2", side);
    struct lf_tensor *y = a ? resnet(nn, a, p) : NULL;
    sd_drop(a);
    return y;
}

static void probe_call(struct sd_nn *nn, sd_vae_probe probe, void *user, const char *name,
                       struct lf_tensor *t)
{
    if (probe && t && !nn->status && !probe(name, t, user))
        nn->status = lf_error_set(nn->err, LF_ERR_INTERRUPTED, "VAE: interrupted");
}

enum lf_status sd_vae_decode(const struct sd_vae *v, struct lf_tensor *latents, sd_vae_probe probe,
                             void *user, struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    if (!v->has_decoder)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "VAE: this model has no decoder weights");
    if (latents->rank != 4 || latents->shape[1] != v->latent_channels)
        return lf_error_set(err, LF_ERR_INVALID, "VAE decode: latent must be [B, %d, h, w]",
                            v->latent_channels);
    struct sd_nn nn = {.weights = v->weights, .component = "VAE", .err = err};
    struct lf_tensor *z = sd_cast(&nn, latents, v->act_dtype);
    struct lf_tensor *zs = sd_scale(&nn, z, 1.0f / SD_VAE_SCALING, 0.0f);
    sd_drop(z);
    struct lf_tensor *h = sd_conv1(&nn, zs, "post_quant_conv");
    sd_drop(zs);
    probe_call(&nn, probe, user, "post_quant_conv", h);
    struct lf_tensor *x = sd_conv3(&nn, h, "decoder.conv_in");
    sd_drop(h);
    probe_call(&nn, probe, user, "decoder.conv_in", x);
    h = x ? mid(&nn, x, "decoder") : NULL;
    sd_drop(x);
    probe_call(&nn, probe, user, "decoder.mid_block", h);
    /* LDM numbers decoder levels bottom-up: up.3 runs first. */
    for (int level = v->decoder_levels - 1, k = 0; level >= 0 && !nn.status; level--, k++) {
        h = resnets(&nn, h, "decoder.up", level, v->decoder_blocks);
        if (sd_has(&nn, "decoder.up.%d.upsample.conv.weight", level) && h) {
            struct lf_tensor *up = NULL;
            sd_check(&nn, lf_op_resize_nearest(h, h->shape[2] * 2, h->shape[3] * 2, &up, err), &up);
            sd_drop(h);
            h = sd_conv3(&nn, up, "decoder.up.%d.upsample.conv", level);
            sd_drop(up);
        }
        char name[64];
        snprintf(name, sizeof name, "decoder.up_blocks.%d", k);
        probe_call(&nn, probe, user, name, h);
    }
    struct lf_tensor *n;
    if (probe) {
        n = sd_group_norm(&nn, h, GROUPS, EPS, false, "decoder.norm_out");
        probe_call(&nn, probe, user, "decoder.conv_norm_out", n);
        struct lf_tensor *ns = sd_unary(&nn, n, LF_UNARY_SILU);
        sd_drop(n);
        n = ns;
    } else {
        n = sd_group_norm(&nn, h, GROUPS, EPS, true, "decoder.norm_out");
    }
    sd_drop(h);
    struct lf_tensor *y = sd_conv3(&nn, n, "decoder.conv_out");
    sd_drop(n);
    return sd_finish(&nn, y, out);
}

enum lf_status sd_vae_encode(const struct sd_vae *v, struct lf_tensor *image,
                             struct lf_tensor **mean, struct lf_tensor **std, struct lf_error *err)
{
    *mean = *std = NULL;
    if (!v->has_encoder)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "VAE: this model has no encoder weights");
    if (image->rank != 4 || image->shape[1] != 3)
        return lf_error_set(err, LF_ERR_INVALID, "VAE encode: image must be [B, 3, H, W]");
    struct sd_nn nn = {.weights = v->weights, .component = "VAE", .err = err};
    struct lf_tensor *x = sd_cast(&nn, image, v->act_dtype);
    struct lf_tensor *h = sd_conv3(&nn, x, "encoder.conv_in");
    sd_drop(x);
    for (int level = 0; level < v->encoder_levels && !nn.status; level++) {
        h = resnets(&nn, h, "encoder.down", level, v->encoder_blocks);
        if (sd_has(&nn, "encoder.down.%d.downsample.conv.weight", level)) {
            static const int pad[4] = {0, 1, 0, 1};
            struct lf_tensor *y = sd_conv(&nn, h, 2, pad, "encoder.down.%d.downsample.conv", level);
            sd_drop(h);
            h = y;
        }
    }
    x = h ? mid(&nn, h, "encoder") : NULL;
    sd_drop(h);
    h = sd_group_norm(&nn, x, GROUPS, EPS, true, "encoder.norm_out");
    sd_drop(x);
    x = sd_conv3(&nn, h, "encoder.conv_out");
    sd_drop(h);
    struct lf_tensor *moments = sd_conv1(&nn, x, "quant_conv");
    sd_drop(x);
    struct lf_tensor *m32 = sd_cast(&nn, moments, LF_DTYPE_F32);
    sd_drop(moments);
    if (nn.status) {
        sd_drop(m32);
        return nn.status;
    }
    /* Split the 2*C channels on the host: the moments are small. */
    int64_t b = m32->shape[0], c2 = m32->shape[1], hw = m32->shape[2] * m32->shape[3];
    int64_t c = c2 / 2, n = b * c2 * hw;
    float *m = malloc((size_t)n * sizeof *m);
    float *mu = malloc((size_t)(n / 2) * sizeof *mu), *sd = malloc((size_t)(n / 2) * sizeof *sd);
    enum lf_status s = LF_OK;
    if (!m || !mu || !sd)
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    else
        s = lf_tensor_download_f32(m32, m, n, err);
    for (int64_t i = 0; s == LF_OK && i < b; i++)
        for (int64_t j = 0; j < c * hw; j++) {
            float lv = m[(i * c2 + c) * hw + j];
            lv = lv < -30.0f ? -30.0f : lv > 20.0f ? 20.0f : lv;
            mu[i * c * hw + j] = m[i * c2 * hw + j];
            sd[i * c * hw + j] = expf(0.5f * lv);
        }
    int64_t shape[4] = {b, c, m32->shape[2], m32->shape[3]};
    if (s == LF_OK) s = lf_tensor_from_f32(image->device, LF_DTYPE_F32, 4, shape, mu, mean, err);
    if (s == LF_OK) s = lf_tensor_from_f32(image->device, LF_DTYPE_F32, 4, shape, sd, std, err);
    if (s) {
        lf_tensor_release(*mean);
        *mean = NULL;
    }
    free(m), free(mu), free(sd);
    sd_drop(m32);
    return s;
}
