/*
** sd_arch_read.c - the architecture read from a model's tensors (original
** LDM names): the one place that probes names for structure.
**
** UNet: widths from each res block's output conv, levels from the
** downsamplers between them, transformers from proj_in, their depth from
** transformer_blocks.N, the context dim from attn2.to_k.  Text encoder:
** vocabulary and width from the token embedding, positions, layer count,
** MLP width.  VAE: widths from each level's first resnet, blocks per level,
** latent channels from the convs around the latent.
*/
#include "sd_arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct reader {
    sd_arch_lookup lookup;
    void *user;
    int rank;
    int64_t shape[4];
};

static bool find(struct reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Looks the formatted name up; its shape stays in r until the next call. */
static bool find(struct reader *r, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    r->rank = 0;
    memset(r->shape, 0, sizeof r->shape);
    return r->lookup(name, &r->rank, r->shape, r->user);
}

/* Dimension i of the last tensor found (0 when absent or of lower rank). */
static int dim(const struct reader *r, int i)
{
    return i < r->rank ? (int)r->shape[i] : 0;
}

/* Counts fmt(0), fmt(1), ... while they exist (at most limit). */
static int count(struct reader *r, const char *fmt, int limit)
{
    int n = 0;
    while (n < limit && find(r, fmt, n))
        n++;
    return n;
}

#define MAX_RES 16 /* res blocks per level looked for */

/* The first transformer's depth and context dim. */
static void read_transformer(struct reader *r, struct sd_arch_unet *u, const char *p)
{
    if (u->transformer_depth) return;
    char fmt[160];
    snprintf(fmt, sizeof fmt, "%s.transformer_blocks.%%d.norm1.weight", p);
    u->transformer_depth = count(r, fmt, 64);
    if (find(r, "%s.transformer_blocks.0.attn2.to_k.weight", p)) u->context_dim = dim(r, 1);
}

void sd_arch_read_unet(sd_arch_lookup lookup, void *user, struct sd_arch_unet *u)
{
    struct reader r = {.lookup = lookup, .user = user};
    memset(u, 0, sizeof *u);
    if (!find(&r, "input_blocks.0.0.weight") || r.rank != 4) return;
    u->found = true;
    u->in_channels = dim(&r, 1);
    u->heads = sd_arch_sd15.unet.heads;
    if (find(&r, "out.2.weight")) u->out_channels = dim(&r, 0);
    if (find(&r, "time_embed.0.weight")) u->time_embed_dim = dim(&r, 0);
    int level = 0;
    for (int b = 1; b < 1 + SD_ARCH_MAX_LEVELS * (MAX_RES + 1); b++) {
        if (find(&r, "input_blocks.%d.0.op.weight", b)) {
            if (level + 1 == SD_ARCH_MAX_LEVELS) break;
            level++;
            continue;
        }
        if (!find(&r, "input_blocks.%d.0.out_layers.3.weight", b)) break;
        u->widths[level] = dim(&r, 0);
        if (level == 0) u->down_res++;
        char p[48];
        snprintf(p, sizeof p, "input_blocks.%d.1", b);
        if (find(&r, "%s.proj_in.weight", p)) {
            u->attention[level] = true;
            read_transformer(&r, u, p);
        }
    }
    u->levels = level + 1;
    u->up_res =
        count(&r, "output_blocks.%d.0.out_layers.3.weight", SD_ARCH_MAX_LEVELS * (MAX_RES + 1)) /
        u->levels;
    u->mid_attention = find(&r, "middle_block.1.proj_in.weight");
    if (u->mid_attention) read_transformer(&r, u, "middle_block.1");
}

void sd_arch_read_text(sd_arch_lookup lookup, void *user, int config_heads, struct sd_arch_text *c)
{
    struct reader r = {.lookup = lookup, .user = user};
    memset(c, 0, sizeof *c);
    if (!find(&r, "text_model.embeddings.token_embedding.weight") || r.rank != 2) return;
    c->found = true;
    c->vocab = dim(&r, 0);
    c->hidden = dim(&r, 1);
    if (find(&r, "text_model.embeddings.position_embedding.weight")) c->positions = dim(&r, 0);
    c->layers = count(&r, "text_model.encoder.layers.%d.layer_norm1.weight", 1024);
    if (find(&r, "text_model.encoder.layers.0.mlp.fc1.weight")) c->mlp = dim(&r, 0);
    c->heads_from_config = config_heads > 0;
    c->heads = config_heads > 0 ? config_heads : c->hidden >= 256 ? c->hidden / 64 : c->hidden / 16;
}

/* Widths of side's levels (fmt: "<side>.<down|up>.%d.block.0.conv1.weight"). */
static int read_widths(struct reader *r, const char *fmt, int *widths)
{
    int n = 0;
    while (n < SD_ARCH_MAX_LEVELS && find(r, fmt, n))
        widths[n++] = dim(r, 0);
    return n;
}

void sd_arch_read_vae(sd_arch_lookup lookup, void *user, struct sd_arch_vae *a)
{
    struct reader r = {.lookup = lookup, .user = user};
    memset(a, 0, sizeof *a);
    a->has_encoder = find(&r, "encoder.conv_in.weight");
    a->has_decoder = find(&r, "decoder.conv_in.weight");
    a->found = a->has_encoder || a->has_decoder;
    if (!a->found) return;
    if (a->has_decoder)
        a->latent_channels = dim(&r, 1); /* decoder.conv_in, the last found */
    else if (find(&r, "encoder.conv_out.weight"))
        a->latent_channels = dim(&r, 0) / 2;
    int enc = read_widths(&r, "encoder.down.%d.block.0.conv1.weight", a->encoder_widths);
    int dec = read_widths(&r, "decoder.up.%d.block.0.conv1.weight", a->decoder_widths);
    a->levels = enc > dec ? enc : dec;
    a->encoder_res = count(&r, "encoder.down.0.block.%d.conv1.weight", MAX_RES);
    a->decoder_res = count(&r, "decoder.up.0.block.%d.conv1.weight", MAX_RES);
    a->mid_attention =
        find(&r, "encoder.mid.attn_1.q.weight") || find(&r, "decoder.mid.attn_1.q.weight");
}

void sd_arch_read_unet_layout_diffusers(sd_arch_lookup lookup, void *user, struct sd_arch_unet *u)
{
    struct reader r = {.lookup = lookup, .user = user};
    memset(u, 0, sizeof *u);
    u->levels = count(&r, "down_blocks.%d.resnets.0.conv1.weight", SD_ARCH_MAX_LEVELS);
    u->found = u->levels > 0;
    u->down_res = count(&r, "down_blocks.0.resnets.%d.conv1.weight", MAX_RES);
    u->up_res = count(&r, "up_blocks.0.resnets.%d.conv1.weight", MAX_RES);
    for (int l = 0; l < u->levels; l++)
        u->attention[l] = find(&r, "down_blocks.%d.attentions.0.proj_in.weight", l);
    u->mid_attention = find(&r, "mid_block.attentions.0.proj_in.weight");
}

void sd_arch_read_vae_layout_diffusers(sd_arch_lookup lookup, void *user, struct sd_arch_vae *a)
{
    struct reader r = {.lookup = lookup, .user = user};
    memset(a, 0, sizeof *a);
    a->has_encoder = find(&r, "encoder.conv_in.weight");
    a->has_decoder = find(&r, "decoder.conv_in.weight");
    a->found = a->has_encoder || a->has_decoder;
    int enc = count(&r, "encoder.down_blocks.%d.resnets.0.conv1.weight", SD_ARCH_MAX_LEVELS);
    int dec = count(&r, "decoder.up_blocks.%d.resnets.0.conv1.weight", SD_ARCH_MAX_LEVELS);
    a->levels = enc > dec ? enc : dec;
    a->encoder_res = count(&r, "encoder.down_blocks.0.resnets.%d.conv1.weight", MAX_RES);
    a->decoder_res = count(&r, "decoder.up_blocks.0.resnets.%d.conv1.weight", MAX_RES);
    a->mid_attention = find(&r, "encoder.mid_block.attentions.0.to_q.weight") ||
                       find(&r, "decoder.mid_block.attentions.0.to_q.weight");
}
