/*
** sd_image.h - conversions between the VAE's pixel space and IMAGE values.
**
** IMAGE values are [B, H, W, 3] f32 in [0, 1] (ComfyUI's convention); the
** VAE works on [B, 3, H, W] in [-1, 1].  These run
** on the host: images are small next to the model's activations.
*/
#ifndef LCMFLOW_SD_IMAGE_H
#define LCMFLOW_SD_IMAGE_H

#include "lcmflow/tensor.h"

/* decoded [B, 3, H, W] (any range) -> IMAGE [B, H, W, 3] f32 in [0, 1]. */
enum lf_status sd_image_from_decoded(struct lf_tensor *decoded, struct lf_tensor **image,
                                     struct lf_error *err);

/* IMAGE [B, H, W, 3] in [0, 1] -> [B, 3, H, W] f32 in [-1, 1]. */
enum lf_status sd_image_to_vae_input(struct lf_tensor *image, struct lf_tensor **out,
                                     struct lf_error *err);

#endif
