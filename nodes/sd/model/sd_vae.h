/*
** sd_vae.h - the SD 1.5 VAE (KL autoencoder): decoder and encoder, structure
** read from the weights (original-LDM names relative to first_stage_model.).
*/
#ifndef LCMFLOW_SD_VAE_H
#define LCMFLOW_SD_VAE_H

#include "sd_arch.h"
#include "sd_weights.h"

#define SD_VAE_SCALING 0.18215f

struct sd_vae {
    struct sd_weights *weights; /* retained */
    int latent_channels;
    int decoder_levels, encoder_levels;
    int decoder_blocks; /* resnets per decoder level (3 in SD 1.5) */
    int encoder_blocks; /* resnets per encoder level (2) */
    bool has_decoder, has_encoder;
    enum lf_dtype act_dtype; /* activations: the weights' dtype unless set after init */
};

/* The structure is arch's (read from these weights or ones of the same
** shape); weights are retained.  Release with sd_vae_clear(). */
enum lf_status sd_vae_init(struct sd_vae *v, struct sd_weights *weights,
                           const struct sd_arch_vae *arch, struct lf_error *err);
void sd_vae_clear(struct sd_vae *v);

/* Called with each stage's output; returning false stops with LF_ERR_INTERRUPTED. */
typedef bool (*sd_vae_probe)(const char *name, struct lf_tensor *t, void *user);

/* latents [B, 4, h, w] in the sampler's scaled space -> image [B, 3, 8h, 8w]
** in about [-1, 1], f32, NCHW.  Caller releases *out. */
enum lf_status sd_vae_decode(const struct sd_vae *v, struct lf_tensor *latents, sd_vae_probe probe,
                             void *user, struct lf_tensor **out, struct lf_error *err);

/* image [B, 3, H, W] in [-1, 1] -> mean and std [B, 4, H/8, W/8] f32 of the
** latent distribution (unscaled: sample = mean + std * noise, then * 0.18215). */
enum lf_status sd_vae_encode(const struct sd_vae *v, struct lf_tensor *image,
                             struct lf_tensor **mean, struct lf_tensor **std, struct lf_error *err);

#endif
