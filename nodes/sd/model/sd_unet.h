/*
** sd_unet.h - the SD 1.5 UNet: structure read from its weights, forward pass
** on the device through ops.h.
*/
#ifndef LCMFLOW_SD_UNET_H
#define LCMFLOW_SD_UNET_H

#include "sd_arch.h"
#include "sd_weights.h"

#define SD_UNET_MAX_BLOCKS 32

enum sd_unet_part {
    SD_PART_NONE = 0,
    SD_PART_CONV,       /* input_blocks.0.0: conv_in */
    SD_PART_RES,        /* ResBlock with timestep embedding */
    SD_PART_ATTENTION,  /* SpatialTransformer */
    SD_PART_DOWNSAMPLE, /* .op: 3x3 stride 2 */
    SD_PART_UPSAMPLE,   /* .conv: nearest resize + 3x3 */
};

struct sd_unet_block {
    enum sd_unet_part parts[3];
    int depth[3]; /* transformer blocks in an attention part */
};

struct sd_unet {
    struct sd_weights *weights; /* retained */
    int model_channels;         /* conv_in output width (320 in SD 1.5) */
    int in_channels, out_channels;
    int context_dim;
    int heads;               /* per transformer (sd_arch_unet's) */
    enum lf_dtype act_dtype; /* activations: the weights' dtype unless set after init */
    int input_count, output_count;
    struct sd_unet_block input[SD_UNET_MAX_BLOCKS];
    struct sd_unet_block middle;
    struct sd_unet_block output[SD_UNET_MAX_BLOCKS];
};

/* The structure and heads are arch's (read from these weights or ones of
** the same shape, sd_arch_read_unet); weights (names relative to
** model.diffusion_model.) are retained and checked to hold every block.
** u is caller-owned; release with sd_unet_clear(). */
enum lf_status sd_unet_init(struct sd_unet *u, struct sd_weights *weights,
                            const struct sd_arch_unet *arch, struct lf_error *err);
void sd_unet_clear(struct sd_unet *u);

/* eps = UNet(x, t, context).  x [B, 4, h, w] (any float dtype), context
** [B, L, context_dim]; timestep is the integer t of the scheduler, the same
** for the whole batch.  *out is [B, out_channels, h, w] f32, caller releases. */
enum lf_status sd_unet_forward(const struct sd_unet *u, struct lf_tensor *x, float timestep,
                               struct lf_tensor *context, struct lf_tensor **out,
                               struct lf_error *err);

/* For tests: called with each block's output as the forward pass goes
** ("time_proj", "time_embedding", "conv_in", "down0".., "mid", "up0".., "conv_norm_out").
** Borrowed tensor, valid during the call.  Returning false stops the pass
** with LF_ERR_INTERRUPTED (how Ctrl-C reaches into a long step). */
typedef bool (*sd_unet_probe)(const char *name, struct lf_tensor *t, void *user);
enum lf_status sd_unet_forward_probed(const struct sd_unet *u, struct lf_tensor *x, float timestep,
                                      struct lf_tensor *context, sd_unet_probe probe, void *user,
                                      struct lf_tensor **out, struct lf_error *err);

#endif
