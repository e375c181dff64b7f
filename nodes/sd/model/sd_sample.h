/*
** sd_sample.h - LCM sampling: the reference pipeline's loop around the UNet.
**
** Follows diffusers' StableDiffusion(Img2Img)Pipeline with LCMScheduler:
** one torch-compatible generator seeded with `seed` draws, in order, the
** img2img encoder sample (when a latent std is given), the initial noise
** (txt2img) or the add-noise draw (img2img), then each non-final step's
** noise.  With cfg > 1 the UNet runs on the batch [negative, positive] and
** eps = uncond + cfg * (text - uncond).  Scheduler arithmetic runs on the
** host in float32, exactly as the reference; the UNet runs on the device.
*/
#ifndef LCMFLOW_SD_SAMPLE_H
#define LCMFLOW_SD_SAMPLE_H

#include "sd_unet.h"

#include <stdbool.h>

struct sd_sample_params {
    uint64_t seed;
    int steps;
    float cfg;          /* >= 1: 1 = no guidance (one UNet pass); below 1 is refused */
    float denoise;      /* 1: txt2img; < 1: img2img from the given latent */
    int original_steps; /* 50 */
};

/* Called after each step with the host arrays of that step (count floats
** each; noise NULL on the final step).  For tests and progress. */
struct sd_sample_trace {
    void (*step)(void *user, int index, int total, int t, const float *latents_in,
                 const float *noise_pred, const float *denoised, const float *noise,
                 const float *latents_out, size_t count);
    void (*start)(void *user, const float *latents, size_t count); /* after the noised start */
    bool (*interrupted)(void *user);
    void *user;
};

/* positive/negative: [1, L, C] conditioning (negative may be NULL: "" is
** not assumed; with cfg > 1 and no negative, zeros are NOT used either -
** the caller passes the encoded empty prompt, as the reference does).
** latent: [B, 4, h, w] f32: its shape sets the output's; for img2img it is
** the (scaled) start latent, and latent_std (same shape, or NULL) makes the
** sampler draw latent + std * noise first.  *out: [B, 4, h, w] f32 latents,
** caller releases. */
enum lf_status sd_lcm_sample(const struct sd_unet *unet, struct lf_tensor *positive,
                             struct lf_tensor *negative, struct lf_tensor *latent,
                             struct lf_tensor *latent_std, const struct sd_sample_params *params,
                             const struct sd_sample_trace *trace, struct lf_tensor **out,
                             struct lf_error *err);

/* Classifier-free guidance with prompts of different lengths: returns
** positive and negative ([1, 77*k, C] each) as new references of one
** length, the shorter padded at its end with copies of empty ([1, 77, C],
** the encoded empty prompt: TextEncode's empty_prompt), as AUTOMATIC1111
** pads.  Equal lengths are returned as they are.  Different lengths with
** empty NULL are LF_ERR_INVALID naming the missing input.  Caller releases
** *pos_out and *neg_out. */
enum lf_status sd_pad_conditioning(struct lf_tensor *positive, struct lf_tensor *negative,
                                   struct lf_tensor *empty, struct lf_tensor **pos_out,
                                   struct lf_tensor **neg_out, struct lf_error *err);

#endif
