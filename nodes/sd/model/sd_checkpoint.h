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

/* dtype: LF_DTYPE_F32, LF_DTYPE_F16 or LF_DTYPE_BF16 for weights and
** activations (sd_dtype_choose says which). */
enum lf_status sd_checkpoint_load(struct lf_device *device, const char *path, enum lf_dtype dtype,
                                  struct sd_checkpoint *out, struct lf_error *err);
void sd_checkpoint_clear(struct sd_checkpoint *ckpt);

/* The activation dtype `auto` picks for weights of dtype weights: bf16 for
** bf16 weights (the CPU backend computes bf16 only on bf16 operands); for
** f16 weights f16 on devices with LF_DEVICE_CAP_F16_ARITHMETIC, f32 on the
** others (lavapipe, CPUs); f32 for f32. */
enum lf_dtype sd_activation_dtype(const struct lf_device *device, enum lf_dtype weights);

/* A model's dtype param ("auto", "f32", "f16", "bf16") on device: the
** weights' and the activations' dtype.  auto: bf16 where the device
** computes bf16 natively (LF_DEVICE_CAP_BF16_NATIVE: the CPU backend on a
** CPU with AVX512_BF16 or AMX), else f16 weights where its kernels read
** them (LF_DEVICE_CAP_F16_WEIGHTS: Vulkan with f16 storage) with
** sd_activation_dtype's activations, else f32.  An explicit value is
** used for both, and refused with a message on a device that cannot hold
** or compute it. */
enum lf_status sd_dtype_choose(const struct lf_device *device, const char *name,
                               enum lf_dtype *weights, enum lf_dtype *activations,
                               struct lf_error *err);

/* Whether name is a dtype param value sd_dtype_choose takes. */
bool sd_dtype_name_valid(const char *name);

/* Refuses pickle checkpoints with a message that says why and how to convert. */
enum lf_status sd_refuse_pickle(const char *path, struct lf_error *err);

#endif
