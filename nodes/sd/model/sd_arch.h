/*
** sd_arch.h - the architecture of an SD 1.5-structured model, in one
** struct: widths, levels, blocks per level, where the transformers are,
** heads, context dim, the text encoder's and the VAE's sizes.
**
** Read once from a model's tensors (sd_arch_read_*: the single place that
** probes tensor names for structure), or taken from a preset (real SD 1.5,
** the tiny test model).  Every consumer works from it: the UNet, VAE and
** text-encoder code (sd_unet_init, ...), the LDM <-> diffusers name table
** (sd_names.h), `lcmflow info` and the synthetic checkpoints.
**
** The module list (sd_arch_unet_modules, sd_arch_vae_modules) is the one
** description of the block layout: which module sits at which LDM and
** diffusers path with which widths.  The name table, the UNet's block
** structure and the synthetic checkpoint's tensor list are all built from it.
*/
#ifndef LCMFLOW_SD_ARCH_H
#define LCMFLOW_SD_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#define SD_ARCH_MAX_LEVELS 8

/* Component prefixes of the single-file (original LDM) checkpoint. */
#define SD_LDM_UNET_PREFIX "model.diffusion_model."
#define SD_LDM_VAE_PREFIX  "first_stage_model."
#define SD_LDM_CLIP_PREFIX "cond_stage_model.transformer."

struct sd_arch_unet {
    bool found;
    int in_channels, out_channels;      /* 4, 4 */
    int levels;                         /* 4 */
    int widths[SD_ARCH_MAX_LEVELS];     /* 320 640 1280 1280; widths[0]: model channels */
    bool attention[SD_ARCH_MAX_LEVELS]; /* transformers at this level (down and up paths) */
    int down_res, up_res;               /* res blocks per level: 2 down, 3 up */
    bool mid_attention;                 /* a transformer between the middle res blocks */
    int transformer_depth;              /* transformer blocks per transformer: 1 */
    int context_dim;                    /* cross-attention input width: 768 */
    int heads;                          /* per transformer: 8 (not stored in the weights) */
    int time_embed_dim;                 /* 4 * widths[0] */
};

struct sd_arch_text {
    bool found;
    int layers, hidden, mlp, vocab, positions; /* 12, 768, 3072, 49408, 77 */
    int heads;                                 /* 12 */
    bool heads_from_config;                    /* heads read from a config.json, not guessed */
};

struct sd_arch_vae {
    bool found, has_encoder, has_decoder, mid_attention;
    int latent_channels;                    /* 4 */
    int levels;                             /* 4 */
    int encoder_widths[SD_ARCH_MAX_LEVELS]; /* by level (0: full resolution): 128 256 512 512 */
    int decoder_widths[SD_ARCH_MAX_LEVELS]; /* by level, as the encoder's (run order reversed) */
    int encoder_res, decoder_res;           /* resnets per level: 2, 3 */
};

struct sd_arch {
    struct sd_arch_unet unet;
    struct sd_arch_text text;
    struct sd_arch_vae vae;
};

extern const struct sd_arch sd_arch_sd15;
extern const struct sd_arch sd_arch_tiny; /* the fixture's widths, a 1024-token vocabulary */

/* ---- reading the architecture from tensors ---- */

/* The shape of the tensor called name (an LDM name relative to the
** component's prefix, e.g. "input_blocks.1.0.in_layers.0.weight"); false
** when there is none.  shape has room for 4 dimensions. */
typedef bool (*sd_arch_lookup)(const char *name, int *rank, int64_t shape[4], void *user);

/* Each fills out from the component's tensors (found false: not there).
** The UNet's heads are SD 1.5's (sd_arch_sd15); the text encoder's are
** config_heads when > 0 (a diffusers config.json), else guessed from the
** width (64 per head from 256 up: CLIP ViT-L's 12; 16 below: the tiny
** model's 4). */
void sd_arch_read_unet(sd_arch_lookup lookup, void *user, struct sd_arch_unet *out);
void sd_arch_read_text(sd_arch_lookup lookup, void *user, int config_heads,
                       struct sd_arch_text *out);
void sd_arch_read_vae(sd_arch_lookup lookup, void *user, struct sd_arch_vae *out);

/* The structure alone (levels, blocks per level, attention, which parts
** exist; no widths) of a UNet or VAE under diffusers names: what the name
** table (sd_names.h) needs to map them to LDM names, after which the
** readers above take the rest. */
void sd_arch_read_unet_layout_diffusers(sd_arch_lookup lookup, void *user,
                                        struct sd_arch_unet *out);
void sd_arch_read_vae_layout_diffusers(sd_arch_lookup lookup, void *user, struct sd_arch_vae *out);

/* Spatial transformers in the whole UNet (16 in SD 1.5). */
int sd_arch_unet_transformers(const struct sd_arch_unet *a);

/* ---- the module layout ---- */

enum sd_module_kind {
    SD_MODULE_LINEAR,        /* a Linear (the time embedding's) */
    SD_MODULE_NORM,          /* a GroupNorm (the output norms) */
    SD_MODULE_CONV,          /* a convolution (conv_in, conv_out, quant convs) */
    SD_MODULE_RES,           /* UNet ResBlock: in_layers, emb_layers, out_layers, skip */
    SD_MODULE_TRANSFORMER,   /* UNet SpatialTransformer */
    SD_MODULE_DOWNSAMPLE,    /* 3x3 stride-2 conv (UNet .op, VAE downsample.conv) */
    SD_MODULE_UPSAMPLE,      /* nearest x2 then a 3x3 conv */
    SD_MODULE_VAE_RES,       /* VAE resnet: norm1, conv1, norm2, conv2, nin_shortcut */
    SD_MODULE_VAE_ATTENTION, /* VAE mid attention: norm, q, k, v, proj_out */
};

enum sd_module_side { SD_SIDE_NONE, SD_SIDE_INPUT, SD_SIDE_MIDDLE, SD_SIDE_OUTPUT };

struct sd_module {
    enum sd_module_kind kind;
    char ldm[48];       /* "input_blocks.4.1", "encoder.down.0.block.1" */
    char diffusers[64]; /* "down_blocks.1.attentions.0", "encoder.down_blocks.0.resnets.1" */
    /* UNet blocks: the side and the LDM block and part numbers
    ** (input_blocks.<block>.<part>); SD_SIDE_NONE and -1 otherwise. */
    enum sd_module_side side;
    int block, part;
    int cin, cout; /* widths (0 when the arch has none: a layout-only arch) */
    int kernel;    /* convolutions: 3 or 1 */
};

typedef void (*sd_module_fn)(const struct sd_module *m, void *user);

/* Calls fn for every module in forward order. */
void sd_arch_unet_modules(const struct sd_arch_unet *a, sd_module_fn fn, void *user);
void sd_arch_vae_modules(const struct sd_arch_vae *a, sd_module_fn fn, void *user);

/* ---- the tensors of a single-file checkpoint (synthetic checkpoints) ---- */

struct sd_arch_tensor {
    char name[160]; /* full single-file name, e.g. model.diffusion_model.out.2.weight */
    int rank;
    int64_t shape[4];
    int64_t fan_in; /* for initialisation; 0 for norm weights/biases */
    int is_norm;    /* 1: a norm's weight (init 1); 2: a norm's bias (init 0) */
};

/* Calls fn for every tensor of the single-file checkpoint, in a fixed order. */
typedef void (*sd_arch_fn)(const struct sd_arch_tensor *t, void *user);
void sd_arch_each(const struct sd_arch *arch, sd_arch_fn fn, void *user);

#endif
