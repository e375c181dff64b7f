/*
** sd_checkpoint.h - opening an SD 1.5 checkpoint in either layout and
** splitting it into UNet, VAE and text-encoder weights.
**
** Layouts: the original single-file .safetensors (model.diffusion_model.*,
** first_stage_model.*, cond_stage_model.transformer.*) and the diffusers
** folder (sd_diffusers.h), whose names are mapped to the original ones
** through the name table (sd_names.h) so the model code sees one naming.  Pickle files (.ckpt,
** .pt, .bin) are refused: loading them can execute code.
*/
#ifndef LCMFLOW_SD_CHECKPOINT_H
#define LCMFLOW_SD_CHECKPOINT_H

#include "sd_arch.h"
#include "sd_diffusers.h"
#include "sd_names.h"
#include "sd_weights.h"

struct sd_checkpoint {
    struct sd_weights *unet, *vae, *clip; /* owned references */
    bool diffusers;                       /* folder layout */
    struct sd_arch arch;                  /* read from the weights (and the text config) */
};

/* dtype: LF_DTYPE_F32 or LF_DTYPE_F16 for weights and activations. */
enum lf_status sd_checkpoint_load(struct lf_device *device, const char *path, enum lf_dtype dtype,
                                  struct sd_checkpoint *out, struct lf_error *err);
void sd_checkpoint_clear(struct sd_checkpoint *ckpt);

/* The activation dtype `auto` picks for weights of dtype weights: f32 on
** devices without LF_DEVICE_CAP_F16_ARITHMETIC (lavapipe, CPUs), the
** weights' dtype elsewhere. */
enum lf_dtype sd_activation_dtype(const struct lf_device *device, enum lf_dtype weights);

/* Refuses pickle checkpoints with a message that says why and how to convert. */
enum lf_status sd_refuse_pickle(const char *path, struct lf_error *err);

#endif
