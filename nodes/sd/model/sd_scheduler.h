/*
** sd_scheduler.h - the LCM scheduler (diffusers LCMScheduler, SD 1.5 config).
**
** Noise schedule: betas from the scaled-linear (or linear) schedule and
** alphas_cumprod = cumprod(1 - betas), in float32 as the reference computes
** them.  Timesteps for n steps: k = num_train_timesteps / original_steps,
** the origin schedule k*i - 1 for i = 1..original_steps reversed (999, 979,
** ..., 19 for SD 1.5), sampled at floor(linspace(0, 50, n, endpoint=False)).
** img2img (`denoise` < 1) keeps the last min(int(n * denoise), n) of those,
** as diffusers' StableDiffusionImg2ImgPipeline does.
**
** One step at timestep t with model output eps and sample x (all float32):
**   x0 = (x - sqrt(1 - a_t) * eps) / sqrt(a_t)
**   denoised = c_out * x0 + c_skip * x   (boundary scalings, s = 10 * t:
**              c_skip = 0.25 / (s^2 + 0.25), c_out = s / sqrt(s^2 + 0.25))
**   x_next = sqrt(a_prev) * denoised + sqrt(1 - a_prev) * noise, except on
**   the final step, where x_next = denoised and no noise is drawn.
** The caller draws `noise` (the latent's element count) from the pipeline's
** struct lf_rng (rng.h) for every step but the last.
**
**     struct sd_lcm_scheduler s;
**     sd_lcm_scheduler_init(&s, NULL, &err);          // SD 1.5 defaults
**     sd_lcm_scheduler_set_timesteps(&s, 4, 1.0, &err); // 999 759 499 259
**     for (int i = 0; i < s.count; i++) {
**         ... eps = model(x, s.timesteps[i]) ...
**         if (!sd_lcm_scheduler_is_final(&s, i)) lf_rng_randn(&rng, noise, n);
**         sd_lcm_scheduler_step(&s, i, eps, x, noise, denoised, x, n, &err);
**     }
*/
#ifndef LCMFLOW_SD_SCHEDULER_H
#define LCMFLOW_SD_SCHEDULER_H

#include "lcmflow/error.h"

#include <stdbool.h>
#include <stddef.h>

#define SD_LCM_MAX_TRAIN_TIMESTEPS 1000

enum lf_beta_schedule {
    LF_BETA_SCHEDULE_SCALED_LINEAR = 0, /* linspace(sqrt(start), sqrt(end))^2 */
    LF_BETA_SCHEDULE_LINEAR,            /* linspace(start, end) */
};

struct sd_lcm_config {
    int num_train_timesteps; /* 1000; at most SD_LCM_MAX_TRAIN_TIMESTEPS */
    double beta_start;       /* 0.00085 */
    double beta_end;         /* 0.012 */
    enum lf_beta_schedule beta_schedule;
    int original_steps;     /* original_inference_steps: 50 */
    float timestep_scaling; /* 10 */
    bool set_alpha_to_one;  /* false: final_alpha_cumprod = alphas_cumprod[0] */
};

/* SD 1.5's LCMScheduler configuration (the values above). */
void sd_lcm_config_default(struct sd_lcm_config *cfg);

/* Reads a diffusers scheduler_config.json over the defaults.  Unknown keys
** are ignored; a beta schedule or prediction type lcmflow does not do is
** LF_ERR_UNSUPPORTED naming the file. */
enum lf_status sd_lcm_config_load(const char *path, struct sd_lcm_config *cfg,
                                  struct lf_error *err);

/* Caller-owned; no resources, nothing to free. */
struct sd_lcm_scheduler {
    struct sd_lcm_config config;
    float betas[SD_LCM_MAX_TRAIN_TIMESTEPS];
    float alphas_cumprod[SD_LCM_MAX_TRAIN_TIMESTEPS];
    float final_alpha_cumprod;
    int count; /* timesteps in use, set by sd_lcm_scheduler_set_timesteps */
    int timesteps[SD_LCM_MAX_TRAIN_TIMESTEPS];
};

/* Computes the noise schedule; cfg NULL means sd_lcm_config_default.  No
** timesteps are set yet (count 0). */
enum lf_status sd_lcm_scheduler_init(struct sd_lcm_scheduler *s, const struct sd_lcm_config *cfg,
                                     struct lf_error *err);

/* LCMScheduler.set_timesteps(steps, strength=lcm_strength): writes steps
** timesteps to out.  lcm_strength 1 is the txt2img schedule; < 1 builds the
** origin schedule from int(original_steps * lcm_strength) steps (the LCM
** img2img pipeline's convention; lcmflow's sampler uses the SD one below).
** Too many steps for the schedule is LF_ERR_INVALID. */
enum lf_status sd_lcm_timesteps(const struct sd_lcm_config *cfg, int steps, double lcm_strength,
                                int *out, struct lf_error *err);

/* Sets s->timesteps/count for a run of `steps` steps with img2img strength
** `denoise` (1 = txt2img): the last min(int(steps * denoise), steps) of the
** steps-step schedule.  No step left (denoise too small) is LF_ERR_INVALID. */
enum lf_status sd_lcm_scheduler_set_timesteps(struct sd_lcm_scheduler *s, int steps, double denoise,
                                              struct lf_error *err);

/* The boundary-condition scalings at timestep t (float32, sigma_data 0.5). */
void sd_lcm_boundary_scalings(float timestep_scaling, int t, float *c_skip, float *c_out);

/* Everything step `index` of the current schedule uses. */
struct sd_lcm_step {
    int t;
    int prev_t; /* the next timestep; t itself on the final step */
    bool is_final;
    float alpha_prod_t;
    float alpha_prod_t_prev;
    float c_skip;
    float c_out;
};

enum lf_status sd_lcm_scheduler_step_info(const struct sd_lcm_scheduler *s, int index,
                                          struct sd_lcm_step *out, struct lf_error *err);

/* Whether step `index` is the last one (it draws no noise). */
bool sd_lcm_scheduler_is_final(const struct sd_lcm_scheduler *s, int index);

/* One step on host arrays of count floats.  noise is read only when the
** step is not final (NULL allowed then).  denoised may be NULL; prev_sample
** and denoised may alias sample or each other's inputs element-wise (each
** element is read before it is written). */
enum lf_status sd_lcm_scheduler_step(const struct sd_lcm_scheduler *s, int index,
                                     const float *model_output, const float *sample,
                                     const float *noise, float *denoised, float *prev_sample,
                                     size_t count, struct lf_error *err);

/* img2img's start: out = sqrt(a_t) * original + sqrt(1 - a_t) * noise, with
** t the first timestep of the schedule (diffusers add_noise). */
enum lf_status sd_lcm_scheduler_add_noise(const struct sd_lcm_scheduler *s, int t,
                                          const float *original, const float *noise, float *out,
                                          size_t count, struct lf_error *err);

#endif
