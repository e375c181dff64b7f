/*
** sd_arch.c - the SD 1.5 presets and the module layout (see sd_arch.h).
**
** UNet: down_res ResBlocks per level on the way down, each followed by a
** transformer on the levels with attention, a downsampler after every level
** but the last; the middle block; up_res ResBlocks per level on the way up
** (transformers alike), an upsampler after every level but the first.  VAE:
** encoder_res resnets per encoder level, decoder_res per decoder level,
** mid-block resnet, attention, resnet.
*/
#include "sd_arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* SD 1.5 uses 8 heads in every transformer; the count is not stored in the
** weights, so this is the one place it is written. */
#define SD15_UNET_HEADS 8

#define SD15_UNET_STRUCTURE                                                                        \
    .found = true, .in_channels = 4, .out_channels = 4, .levels = 4,                               \
    .attention = {true, true, true, false}, .down_res = 2, .up_res = 3, .mid_attention = true,     \
    .transformer_depth = 1, .heads = SD15_UNET_HEADS
#define SD15_VAE_STRUCTURE                                                                         \
    .found = true, .has_encoder = true, .has_decoder = true, .mid_attention = true,                \
    .latent_channels = 4, .levels = 4, .encoder_res = 2, .decoder_res = 3

const struct sd_arch sd_arch_sd15 = {
    .unet = {SD15_UNET_STRUCTURE, .widths = {320, 640, 1280, 1280}, .context_dim = 768,
             .time_embed_dim = 1280},
    .text = {.found = true,
             .layers = 12,
             .hidden = 768,
             .mlp = 3072,
             .vocab = 49408,
             .positions = 77,
             .heads = 12},
    .vae = {SD15_VAE_STRUCTURE, .encoder_widths = {128, 256, 512, 512},
            .decoder_widths = {128, 256, 512, 512}},
};

/* The fixture's widths; the vocabulary is the synthetic one's size. */
const struct sd_arch sd_arch_tiny = {
    .unet = {SD15_UNET_STRUCTURE, .widths = {32, 64, 128, 128}, .context_dim = 64,
             .time_embed_dim = 128},
    .text = {.found = true,
             .layers = 4,
             .hidden = 64,
             .mlp = 256,
             .vocab = 1024,
             .positions = 77,
             .heads = 4},
    .vae = {SD15_VAE_STRUCTURE, .encoder_widths = {32, 64, 96, 96},
            .decoder_widths = {32, 64, 96, 96}},
};

int sd_arch_unet_transformers(const struct sd_arch_unet *a)
{
    int n = a->mid_attention;
    for (int l = 0; l < a->levels; l++)
        n += a->attention[l] ? a->down_res + a->up_res : 0;
    return n;
}

/* ---- the module layout ---- */

struct walk {
    sd_module_fn fn;
    void *user;
    struct sd_module m; /* the next module's side, block and part */
};

/* Emits one module at the side, block and part set by at(). */
static void put(struct walk *w, enum sd_module_kind kind, int cin, int cout, int kernel,
                const char *ldm, const char *diffusers)
{
    struct sd_module m = w->m;
    m.kind = kind;
    m.cin = cin;
    m.cout = cout;
    m.kernel = kernel;
    snprintf(m.ldm, sizeof m.ldm, "%s", ldm);
    snprintf(m.diffusers, sizeof m.diffusers, "%s", diffusers);
    w->fn(&m, w->user);
}

static void at(struct walk *w, enum sd_module_side side, int block, int part)
{
    w->m.side = side;
    w->m.block = block;
    w->m.part = part;
}

static const char *fmt(char *buf, size_t size, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, size, format, ap);
    va_end(ap);
    return buf;
}

#define MAX_SKIPS (1 + SD_ARCH_MAX_LEVELS * 16)

static void unet_down(struct walk *w, const struct sd_arch_unet *a, int *skips, int *nskip, int *c)
{
    char l[48], d[64];
    int block = 1;
    for (int level = 0; level < a->levels; level++) {
        for (int r = 0; r < a->down_res; r++, block++) {
            at(w, SD_SIDE_INPUT, block, 0);
            put(w, SD_MODULE_RES, *c, a->widths[level], 3,
                fmt(l, sizeof l, "input_blocks.%d.0", block),
                fmt(d, sizeof d, "down_blocks.%d.resnets.%d", level, r));
            *c = a->widths[level];
            if (a->attention[level]) {
                at(w, SD_SIDE_INPUT, block, 1);
                put(w, SD_MODULE_TRANSFORMER, *c, *c, 1,
                    fmt(l, sizeof l, "input_blocks.%d.1", block),
                    fmt(d, sizeof d, "down_blocks.%d.attentions.%d", level, r));
            }
            if (*nskip < MAX_SKIPS) skips[(*nskip)++] = *c;
        }
        if (level + 1 < a->levels) {
            at(w, SD_SIDE_INPUT, block, 0);
            put(w, SD_MODULE_DOWNSAMPLE, *c, *c, 3, fmt(l, sizeof l, "input_blocks.%d.0.op", block),
                fmt(d, sizeof d, "down_blocks.%d.downsamplers.0.conv", level));
            block++;
            if (*nskip < MAX_SKIPS) skips[(*nskip)++] = *c;
        }
    }
}

static void unet_middle(struct walk *w, const struct sd_arch_unet *a, int c)
{
    int part = 0;
    char l[48];
    at(w, SD_SIDE_MIDDLE, 0, part);
    put(w, SD_MODULE_RES, c, c, 3, fmt(l, sizeof l, "middle_block.%d", part++),
        "mid_block.resnets.0");
    if (a->mid_attention) {
        at(w, SD_SIDE_MIDDLE, 0, part);
        put(w, SD_MODULE_TRANSFORMER, c, c, 1, fmt(l, sizeof l, "middle_block.%d", part++),
            "mid_block.attentions.0");
    }
    at(w, SD_SIDE_MIDDLE, 0, part);
    put(w, SD_MODULE_RES, c, c, 3, fmt(l, sizeof l, "middle_block.%d", part),
        "mid_block.resnets.1");
}

/* diffusers numbers up blocks in run order (up_blocks.0 is the deepest
** level), LDM numbers output blocks consecutively. */
static void unet_up(struct walk *w, const struct sd_arch_unet *a, const int *skips, int nskip,
                    int *c)
{
    char l[48], d[64];
    int block = 0;
    for (int i = 0; i < a->levels; i++) {
        int level = a->levels - 1 - i;
        for (int r = 0; r < a->up_res; r++, block++) {
            int skip = nskip > 0 ? skips[--nskip] : 0;
            at(w, SD_SIDE_OUTPUT, block, 0);
            put(w, SD_MODULE_RES, *c + skip, a->widths[level], 3,
                fmt(l, sizeof l, "output_blocks.%d.0", block),
                fmt(d, sizeof d, "up_blocks.%d.resnets.%d", i, r));
            *c = a->widths[level];
            int part = 1;
            if (a->attention[level]) {
                at(w, SD_SIDE_OUTPUT, block, part++);
                put(w, SD_MODULE_TRANSFORMER, *c, *c, 1,
                    fmt(l, sizeof l, "output_blocks.%d.1", block),
                    fmt(d, sizeof d, "up_blocks.%d.attentions.%d", i, r));
            }
            if (level > 0 && r + 1 == a->up_res) {
                at(w, SD_SIDE_OUTPUT, block, part);
                put(w, SD_MODULE_UPSAMPLE, *c, *c, 3,
                    fmt(l, sizeof l, "output_blocks.%d.%d.conv", block, part),
                    fmt(d, sizeof d, "up_blocks.%d.upsamplers.0.conv", i));
            }
        }
    }
}

void sd_arch_unet_modules(const struct sd_arch_unet *a, sd_module_fn fn, void *user)
{
    struct walk w = {.fn = fn, .user = user};
    int skips[MAX_SKIPS], nskip = 0, c = a->widths[0];
    at(&w, SD_SIDE_NONE, -1, -1);
    put(&w, SD_MODULE_LINEAR, a->widths[0], a->time_embed_dim, 0, "time_embed.0",
        "time_embedding.linear_1");
    put(&w, SD_MODULE_LINEAR, a->time_embed_dim, a->time_embed_dim, 0, "time_embed.2",
        "time_embedding.linear_2");
    at(&w, SD_SIDE_INPUT, 0, 0);
    put(&w, SD_MODULE_CONV, a->in_channels, c, 3, "input_blocks.0.0", "conv_in");
    skips[nskip++] = c;
    unet_down(&w, a, skips, &nskip, &c);
    unet_middle(&w, a, c);
    unet_up(&w, a, skips, nskip, &c);
    at(&w, SD_SIDE_NONE, -1, -1);
    put(&w, SD_MODULE_NORM, c, c, 0, "out.0", "conv_norm_out");
    put(&w, SD_MODULE_CONV, c, a->out_channels, 3, "out.2", "conv_out");
}

static void vae_mid(struct walk *w, const char *side, int c, bool attention)
{
    char l[48], d[64];
    put(w, SD_MODULE_VAE_RES, c, c, 3, fmt(l, sizeof l, "%s.mid.block_1", side),
        fmt(d, sizeof d, "%s.mid_block.resnets.0", side));
    if (attention)
        put(w, SD_MODULE_VAE_ATTENTION, c, c, 1, fmt(l, sizeof l, "%s.mid.attn_1", side),
            fmt(d, sizeof d, "%s.mid_block.attentions.0", side));
    put(w, SD_MODULE_VAE_RES, c, c, 3, fmt(l, sizeof l, "%s.mid.block_2", side),
        fmt(d, sizeof d, "%s.mid_block.resnets.1", side));
}

static void vae_encoder(struct walk *w, const struct sd_arch_vae *a)
{
    const int *ch = a->encoder_widths;
    char l[48], d[64];
    int c = ch[0];
    put(w, SD_MODULE_CONV, 3, c, 3, "encoder.conv_in", "encoder.conv_in");
    for (int level = 0; level < a->levels; level++) {
        for (int b = 0; b < a->encoder_res; b++) {
            put(w, SD_MODULE_VAE_RES, c, ch[level], 3,
                fmt(l, sizeof l, "encoder.down.%d.block.%d", level, b),
                fmt(d, sizeof d, "encoder.down_blocks.%d.resnets.%d", level, b));
            c = ch[level];
        }
        if (level + 1 < a->levels)
            put(w, SD_MODULE_DOWNSAMPLE, c, c, 3,
                fmt(l, sizeof l, "encoder.down.%d.downsample.conv", level),
                fmt(d, sizeof d, "encoder.down_blocks.%d.downsamplers.0.conv", level));
    }
    vae_mid(w, "encoder", c, a->mid_attention);
    put(w, SD_MODULE_NORM, c, c, 0, "encoder.norm_out", "encoder.conv_norm_out");
    put(w, SD_MODULE_CONV, c, 2 * a->latent_channels, 3, "encoder.conv_out", "encoder.conv_out");
    put(w, SD_MODULE_CONV, 2 * a->latent_channels, 2 * a->latent_channels, 1, "quant_conv",
        "quant_conv");
}

/* LDM numbers decoder levels as the encoder's (up.N-1 runs first),
** diffusers in run order. */
static void vae_decoder(struct walk *w, const struct sd_arch_vae *a)
{
    const int *ch = a->decoder_widths;
    char l[48], d[64];
    int c = a->levels > 0 ? ch[a->levels - 1] : 0;
    put(w, SD_MODULE_CONV, a->latent_channels, a->latent_channels, 1, "post_quant_conv",
        "post_quant_conv");
    put(w, SD_MODULE_CONV, a->latent_channels, c, 3, "decoder.conv_in", "decoder.conv_in");
    vae_mid(w, "decoder", c, a->mid_attention);
    for (int i = 0; i < a->levels; i++) {
        int level = a->levels - 1 - i;
        for (int b = 0; b < a->decoder_res; b++) {
            put(w, SD_MODULE_VAE_RES, c, ch[level], 3,
                fmt(l, sizeof l, "decoder.up.%d.block.%d", level, b),
                fmt(d, sizeof d, "decoder.up_blocks.%d.resnets.%d", i, b));
            c = ch[level];
        }
        if (level > 0)
            put(w, SD_MODULE_UPSAMPLE, c, c, 3,
                fmt(l, sizeof l, "decoder.up.%d.upsample.conv", level),
                fmt(d, sizeof d, "decoder.up_blocks.%d.upsamplers.0.conv", i));
    }
    put(w, SD_MODULE_NORM, c, c, 0, "decoder.norm_out", "decoder.conv_norm_out");
    put(w, SD_MODULE_CONV, c, 3, 3, "decoder.conv_out", "decoder.conv_out");
}

void sd_arch_vae_modules(const struct sd_arch_vae *a, sd_module_fn fn, void *user)
{
    struct walk w = {.fn = fn, .user = user};
    at(&w, SD_SIDE_NONE, -1, -1);
    if (a->has_encoder) vae_encoder(&w, a);
    if (a->has_decoder) vae_decoder(&w, a);
}
