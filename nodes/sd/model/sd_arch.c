/*
** sd_arch.c - enumerates the tensors of an SD 1.5 single-file checkpoint.
**
** UNet: 2 ResBlocks per level on the way down (transformers on the first
** three levels), 3 on the way up, heads 8, one transformer block each; VAE:
** 2 resnets per encoder level, 3 per decoder level, mid attention; CLIP:
** pre-LN transformer.  The same structure sd_unet.c, sd_vae.c and sd_clip.c
** read back.
*/
#include "sd_arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct sd_arch sd_arch_sd15 = {
    .unet_channels = {320, 640, 1280, 1280},
    .context_dim = 768,
    .text_hidden = 768,
    .text_layers = 12,
    .text_mlp = 3072,
    .text_vocab = 49408,
    .text_positions = 77,
    .vae_channels = {128, 256, 512, 512},
};

/* The fixture's widths; the vocabulary is the synthetic one's size. */
const struct sd_arch sd_arch_tiny = {
    .unet_channels = {32, 64, 128, 128},
    .context_dim = 64,
    .text_hidden = 64,
    .text_layers = 4,
    .text_mlp = 256,
    .text_vocab = 1024,
    .text_positions = 77,
    .vae_channels = {32, 64, 96, 96},
};

struct emitter {
    sd_arch_fn fn;
    void *user;
    char prefix[96];
};

static void emit(struct emitter *e, int is_norm, int64_t fan_in, int rank, const int64_t *shape,
                 const char *fmt, ...)
{
    struct sd_arch_tensor t;
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s%s", e->prefix, name);
    t.rank = rank;
    for (int i = 0; i < rank; i++)
        t.shape[i] = shape[i];
    t.fan_in = fan_in;
    t.is_norm = is_norm;
    e->fn(&t, e->user);
}

static void conv(struct emitter *e, const char *name, int64_t cin, int64_t cout, int k)
{
    int64_t w[4] = {cout, cin, k, k}, b[1] = {cout};
    emit(e, 0, cin * k * k, 4, w, "%s.weight", name);
    emit(e, 0, cin * k * k, 1, b, "%s.bias", name);
}

static void linear(struct emitter *e, const char *name, int64_t in, int64_t out, int bias)
{
    int64_t w[2] = {out, in}, b[1] = {out};
    emit(e, 0, in, 2, w, "%s.weight", name);
    if (bias) emit(e, 0, in, 1, b, "%s.bias", name);
}

static void norm(struct emitter *e, const char *name, int64_t c)
{
    int64_t s[1] = {c};
    emit(e, 1, 0, 1, s, "%s.weight", name);
    emit(e, 2, 0, 1, s, "%s.bias", name);
}

static void unet_res(struct emitter *e, const char *p, int cin, int cout, int temb)
{
    char n[128];
    snprintf(n, sizeof n, "%s.in_layers.0", p), norm(e, n, cin);
    snprintf(n, sizeof n, "%s.in_layers.2", p), conv(e, n, cin, cout, 3);
    snprintf(n, sizeof n, "%s.emb_layers.1", p), linear(e, n, temb, cout, 1);
    snprintf(n, sizeof n, "%s.out_layers.0", p), norm(e, n, cout);
    snprintf(n, sizeof n, "%s.out_layers.3", p), conv(e, n, cout, cout, 3);
    if (cin != cout) snprintf(n, sizeof n, "%s.skip_connection", p), conv(e, n, cin, cout, 1);
}

static void unet_attn(struct emitter *e, const char *p, int c, int ctx)
{
    char n[160];
    snprintf(n, sizeof n, "%s.norm", p), norm(e, n, c);
    snprintf(n, sizeof n, "%s.proj_in", p), conv(e, n, c, c, 1);
    const char *tb = "transformer_blocks.0";
    snprintf(n, sizeof n, "%s.%s.norm1", p, tb), norm(e, n, c);
    snprintf(n, sizeof n, "%s.%s.attn1.to_q", p, tb), linear(e, n, c, c, 0);
    snprintf(n, sizeof n, "%s.%s.attn1.to_k", p, tb), linear(e, n, c, c, 0);
    snprintf(n, sizeof n, "%s.%s.attn1.to_v", p, tb), linear(e, n, c, c, 0);
    snprintf(n, sizeof n, "%s.%s.attn1.to_out.0", p, tb), linear(e, n, c, c, 1);
    snprintf(n, sizeof n, "%s.%s.norm2", p, tb), norm(e, n, c);
    snprintf(n, sizeof n, "%s.%s.attn2.to_q", p, tb), linear(e, n, c, c, 0);
    snprintf(n, sizeof n, "%s.%s.attn2.to_k", p, tb), linear(e, n, ctx, c, 0);
    snprintf(n, sizeof n, "%s.%s.attn2.to_v", p, tb), linear(e, n, ctx, c, 0);
    snprintf(n, sizeof n, "%s.%s.attn2.to_out.0", p, tb), linear(e, n, c, c, 1);
    snprintf(n, sizeof n, "%s.%s.norm3", p, tb), norm(e, n, c);
    snprintf(n, sizeof n, "%s.%s.ff.net.0.proj", p, tb), linear(e, n, c, 8 * c, 1);
    snprintf(n, sizeof n, "%s.%s.ff.net.2", p, tb), linear(e, n, 4 * c, c, 1);
    snprintf(n, sizeof n, "%s.proj_out", p), conv(e, n, c, c, 1);
}

static void unet(struct emitter *e, const struct sd_arch *a)
{
    const int *ch = a->unet_channels;
    int temb = 4 * ch[0];
    char p[64];
    snprintf(e->prefix, sizeof e->prefix, "model.diffusion_model.");
    linear(e, "time_embed.0", ch[0], temb, 1);
    linear(e, "time_embed.2", temb, temb, 1);
    conv(e, "input_blocks.0.0", 4, ch[0], 3);
    int skips[16], nskip = 0, block = 1, c = ch[0];
    skips[nskip++] = c;
    for (int level = 0; level < 4; level++) {
        for (int r = 0; r < 2; r++, block++) {
            snprintf(p, sizeof p, "input_blocks.%d.0", block);
            unet_res(e, p, c, ch[level], temb);
            c = ch[level];
            if (level < 3) {
                snprintf(p, sizeof p, "input_blocks.%d.1", block);
                unet_attn(e, p, c, a->context_dim);
            }
            skips[nskip++] = c;
        }
        if (level < 3) {
            snprintf(p, sizeof p, "input_blocks.%d.0.op", block++);
            conv(e, p, c, c, 3);
            skips[nskip++] = c;
        }
    }
    unet_res(e, "middle_block.0", c, c, temb);
    unet_attn(e, "middle_block.1", c, a->context_dim);
    unet_res(e, "middle_block.2", c, c, temb);
    block = 0;
    for (int level = 3; level >= 0; level--) {
        for (int r = 0; r < 3; r++, block++) {
            int skip = skips[--nskip];
            snprintf(p, sizeof p, "output_blocks.%d.0", block);
            unet_res(e, p, c + skip, ch[level], temb);
            c = ch[level];
            int part = 1;
            if (level < 3) {
                snprintf(p, sizeof p, "output_blocks.%d.1", block);
                unet_attn(e, p, c, a->context_dim);
                part = 2;
            }
            if (level > 0 && r == 2) {
                snprintf(p, sizeof p, "output_blocks.%d.%d.conv", block, part);
                conv(e, p, c, c, 3);
            }
        }
    }
    norm(e, "out.0", c);
    conv(e, "out.2", c, 4, 3);
}

static void vae_res(struct emitter *e, const char *p, int cin, int cout)
{
    char n[128];
    snprintf(n, sizeof n, "%s.norm1", p), norm(e, n, cin);
    snprintf(n, sizeof n, "%s.conv1", p), conv(e, n, cin, cout, 3);
    snprintf(n, sizeof n, "%s.norm2", p), norm(e, n, cout);
    snprintf(n, sizeof n, "%s.conv2", p), conv(e, n, cout, cout, 3);
    if (cin != cout) snprintf(n, sizeof n, "%s.nin_shortcut", p), conv(e, n, cin, cout, 1);
}

static void vae_mid(struct emitter *e, const char *side, int c)
{
    char n[128];
    snprintf(n, sizeof n, "%s.mid.block_1", side), vae_res(e, n, c, c);
    snprintf(n, sizeof n, "%s.mid.attn_1.norm", side), norm(e, n, c);
    snprintf(n, sizeof n, "%s.mid.attn_1.q", side), conv(e, n, c, c, 1);
    snprintf(n, sizeof n, "%s.mid.attn_1.k", side), conv(e, n, c, c, 1);
    snprintf(n, sizeof n, "%s.mid.attn_1.v", side), conv(e, n, c, c, 1);
    snprintf(n, sizeof n, "%s.mid.attn_1.proj_out", side), conv(e, n, c, c, 1);
    snprintf(n, sizeof n, "%s.mid.block_2", side), vae_res(e, n, c, c);
}

static void vae(struct emitter *e, const struct sd_arch *a)
{
    const int *ch = a->vae_channels;
    char p[96];
    snprintf(e->prefix, sizeof e->prefix, "first_stage_model.");
    conv(e, "encoder.conv_in", 3, ch[0], 3);
    int c = ch[0];
    for (int level = 0; level < 4; level++) {
        for (int b = 0; b < 2; b++) {
            snprintf(p, sizeof p, "encoder.down.%d.block.%d", level, b);
            vae_res(e, p, c, ch[level]);
            c = ch[level];
        }
        if (level < 3) {
            snprintf(p, sizeof p, "encoder.down.%d.downsample.conv", level);
            conv(e, p, c, c, 3);
        }
    }
    vae_mid(e, "encoder", c);
    norm(e, "encoder.norm_out", c);
    conv(e, "encoder.conv_out", c, 8, 3);
    conv(e, "quant_conv", 8, 8, 1);
    conv(e, "post_quant_conv", 4, 4, 1);
    c = ch[3];
    conv(e, "decoder.conv_in", 4, c, 3);
    vae_mid(e, "decoder", c);
    for (int level = 3; level >= 0; level--) {
        for (int b = 0; b < 3; b++) {
            snprintf(p, sizeof p, "decoder.up.%d.block.%d", level, b);
            vae_res(e, p, c, ch[level]);
            c = ch[level];
        }
        if (level > 0) {
            snprintf(p, sizeof p, "decoder.up.%d.upsample.conv", level);
            conv(e, p, c, c, 3);
        }
    }
    norm(e, "decoder.norm_out", c);
    conv(e, "decoder.conv_out", c, 3, 3);
}

static void clip(struct emitter *e, const struct sd_arch *a)
{
    int h = a->text_hidden;
    char p[128];
    snprintf(e->prefix, sizeof e->prefix, "cond_stage_model.transformer.text_model.");
    int64_t tok[2] = {a->text_vocab, h}, pos[2] = {a->text_positions, h};
    emit(e, 0, h, 2, tok, "embeddings.token_embedding.weight");
    emit(e, 0, h, 2, pos, "embeddings.position_embedding.weight");
    for (int l = 0; l < a->text_layers; l++) {
        snprintf(p, sizeof p, "encoder.layers.%d.layer_norm1", l), norm(e, p, h);
        snprintf(p, sizeof p, "encoder.layers.%d.self_attn.q_proj", l), linear(e, p, h, h, 1);
        snprintf(p, sizeof p, "encoder.layers.%d.self_attn.k_proj", l), linear(e, p, h, h, 1);
        snprintf(p, sizeof p, "encoder.layers.%d.self_attn.v_proj", l), linear(e, p, h, h, 1);
        snprintf(p, sizeof p, "encoder.layers.%d.self_attn.out_proj", l), linear(e, p, h, h, 1);
        snprintf(p, sizeof p, "encoder.layers.%d.layer_norm2", l), norm(e, p, h);
        snprintf(p, sizeof p, "encoder.layers.%d.mlp.fc1", l), linear(e, p, h, a->text_mlp, 1);
        snprintf(p, sizeof p, "encoder.layers.%d.mlp.fc2", l), linear(e, p, a->text_mlp, h, 1);
    }
    norm(e, "final_layer_norm", h);
}

void sd_arch_each(const struct sd_arch *arch, sd_arch_fn fn, void *user)
{
    struct emitter e = {.fn = fn, .user = user};
    unet(&e, arch);
    vae(&e, arch);
    clip(&e, arch);
}
