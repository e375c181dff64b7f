/*
** sd_taesd.h - the TAESD family of tiny autoencoders (TAESD for SD 1.5,
** TAESDXL, TAEF1, TAEF2, ...): encoder and decoder on the device, structure
** read from the weights.
**
** Files: one for the encoder, one for the decoder; either may be absent.
** Both key layouts load: the sequential-container indices of the .pth /
** .safetensors files users download for ComfyUI ("1.weight",
** "3.conv.0.weight", "3.pool.0.weight") and the diffusers AutoencoderTiny
** names ("encoder.layers.N...", "decoder.layers.N..."), in which case the
** same file may be given as both encoder and decoder.  Latent channels
** (4 for SD 1.5's TAESD, 16 for TAEF1, 32 for TAEF2) and the optional
** mid-block pooling branch come from the tensors present.
**
** Conventions (those of the TAESD reference code):
** - Latents are the TAESD's own latent space.  For SD 1.5's TAESD that is
**   the sampler's scaled space (SD VAE latents * 0.18215): TAESD was trained
**   on scaled latents, so no 0.18215 factor is applied here (ComfyUI's
**   "vae_scale" for taesd does the same conversion from unscaled latents).
**   For FLUX-family members the latents are the raw VAE latents of that
**   family; a caller converting from another space does so itself.
** - Images are NCHW in [0, 1]: encode takes [B, 3, H, W] in [0, 1]
**   (H, W multiples of 8), decode returns [B, 3, 8h, 8w] f32 clamped to
**   [0, 1].  This differs from sd_vae.h, whose images are in [-1, 1].
*/
#ifndef LCMFLOW_SD_TAESD_H
#define LCMFLOW_SD_TAESD_H

#include "sd_weights.h"

enum sd_taesd_layer_kind {
    SD_TAESD_CONV = 0, /* 3x3 conv, padding 1 */
    SD_TAESD_BLOCK,    /* residual block of three 3x3 convs */
};

/* One layer of an encoder or decoder, in execution order.  The weight names
** are "<index>.weight" / "<index>.conv.0.weight" after the key prefix is
** stripped. */
struct sd_taesd_layer {
    enum sd_taesd_layer_kind kind;
    int index; /* the sequential index in the file */
    int in_channels, out_channels;
    bool bias;       /* conv: has <index>.bias */
    bool stride2;    /* conv: stride 2 (encoder downsample) */
    bool upsample;   /* conv: nearest x2 upsample before it (decoder) */
    bool relu_after; /* conv: ReLU after it (the decoder's first conv) */
    bool pool;       /* block: mid-block pooling branch (<index>.pool.*) */
    bool skip_conv;  /* block: 1x1 skip conv (<index>.skip.weight) */
};

struct sd_taesd_part {
    struct sd_weights *weights;    /* retained; NULL when the part is absent */
    struct sd_taesd_layer *layers; /* owned */
    int layer_count;
    int block_count, pool_block_count;
    int64_t params;
};

struct sd_taesd {
    struct sd_taesd_part encoder, decoder;
    int latent_channels;
    enum lf_dtype dtype; /* weights and activations */
};

/* Loads the files (either path may be NULL, not both) onto device with
** weights and activations in dtype (LF_DTYPE_F32 or LF_DTYPE_F16).  Errors
** name the file and the tensor or layer that does not fit.  On success the
** caller frees with sd_taesd_clear(); on failure *out is cleared. */
enum lf_status sd_taesd_load(struct lf_device *device, const char *encoder_path,
                             const char *decoder_path, enum lf_dtype dtype, struct sd_taesd *out,
                             struct lf_error *err);
void sd_taesd_clear(struct sd_taesd *t); /* a zeroed struct is fine */

/* latents [B, latent_channels, h, w] (f32 or f16) -> image [B, 3, 8h, 8w]
** f32 in [0, 1].  Caller releases *out.  LF_ERR_UNSUPPORTED when no decoder
** was loaded. */
enum lf_status sd_taesd_decode(const struct sd_taesd *t, struct lf_tensor *latents,
                               struct lf_tensor **out, struct lf_error *err);

/* image [B, 3, H, W] in [0, 1] (f32 or f16; H, W multiples of 8) -> latents
** [B, latent_channels, H/8, W/8] f32.  Caller releases *out. */
enum lf_status sd_taesd_encode(const struct sd_taesd *t, struct lf_tensor *image,
                               struct lf_tensor **out, struct lf_error *err);

/* What a safetensors file holds of the TAESD family, without loading it
** (for the loader's checks and `lcmflow info`).  A sequential file is an
** encoder when its first conv reads 3 channels, else a decoder. */
struct sd_taesd_file_info {
    bool encoder, decoder;
    const char *encoder_prefix, *decoder_prefix; /* static strings, "" for bare indices */
    int encoder_latent, decoder_latent;          /* latent channels, 0 when absent */
    int encoder_blocks, decoder_blocks;          /* residual blocks */
    int encoder_pool, decoder_pool;              /* blocks with the pooling branch */
    int64_t encoder_params, decoder_params;
};
/* False when the file holds neither part. */
bool sd_taesd_inspect(const struct lf_safetensors *st, struct sd_taesd_file_info *out);

#endif
