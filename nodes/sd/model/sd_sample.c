/*
** sd_sample.c - the LCM sampling loop (see sd_sample.h).
*/
#include "sd_sample.h"

#include "lcmflow/ops.h"
#include "lcmflow/rng.h"
#include "sd_scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct buffers {
    float *x, *noise, *eps, *denoised, *out2, *start;
};

static void free_buffers(struct buffers *b)
{
    free(b->x), free(b->noise), free(b->eps), free(b->denoised), free(b->out2), free(b->start);
}

/* eps for latents x: one UNet evaluation, or two (as a batch) with CFG. */
/* Between UNet blocks: stop when the caller's interruption check says so. */
static bool keep_going(const char *name, struct lf_tensor *t, void *user)
{
    const struct sd_sample_trace *trace = user;
    return !(trace && trace->interrupted && trace->interrupted(trace->user));
}

static enum lf_status predict(const struct sd_unet *unet, const struct sd_sample_trace *trace,
                              struct lf_device *device, struct lf_tensor *context,
                              const int64_t shape[4], const float *x, float t, bool cfg,
                              float scale, float *eps, float *scratch, size_t count,
                              struct lf_error *err)
{
    int64_t bshape[4] = {shape[0] * (cfg ? 2 : 1), shape[1], shape[2], shape[3]};
    struct lf_tensor *xt = NULL, *y = NULL;
    enum lf_status s;
    if (cfg) {
        memcpy(scratch, x, count * sizeof *x);
        memcpy(scratch + count, x, count * sizeof *x);
        s = lf_tensor_from_f32(device, LF_DTYPE_F32, 4, bshape, scratch, &xt, err);
    } else {
        s = lf_tensor_from_f32(device, LF_DTYPE_F32, 4, bshape, x, &xt, err);
    }
    if (s == LF_OK)
        s = trace && trace->interrupted
                ? sd_unet_forward_probed(unet, xt, t, context, keep_going, (void *)trace, &y, err)
                : sd_unet_forward(unet, xt, t, context, &y, err);
    lf_tensor_release(xt);
    if (s) return s;
    if (cfg) {
        s = lf_tensor_download_f32(y, scratch, (int64_t)(2 * count), err);
        /* batch order [uncond, text], as the reference */
        for (size_t i = 0; s == LF_OK && i < count; i++)
            eps[i] = scratch[i] + scale * (scratch[count + i] - scratch[i]);
    } else {
        s = lf_tensor_download_f32(y, eps, (int64_t)count, err);
    }
    lf_tensor_release(y);
    return s;
}

/* The context for the UNet: positive, or [negative, positive] with CFG,
** repeated over the latent batch. */
static enum lf_status make_context(struct lf_tensor *positive, struct lf_tensor *negative, bool cfg,
                                   int64_t batch, struct lf_tensor **out, struct lf_error *err)
{
    struct lf_tensor *pos = lf_tensor_retain(positive),
                     *neg = negative ? lf_tensor_retain(negative) : NULL;
    enum lf_status s = LF_OK;
    for (int64_t b = 1; s == LF_OK && b < batch; b++) {
        struct lf_tensor *t = NULL;
        if ((s = lf_op_concat(pos, positive, 0, &t, err)) == LF_OK) {
            lf_tensor_release(pos);
            pos = t;
        }
        if (s == LF_OK && neg && (s = lf_op_concat(neg, negative, 0, &t, err)) == LF_OK) {
            lf_tensor_release(neg);
            neg = t;
        }
    }
    if (s == LF_OK && cfg)
        s = lf_op_concat(neg, pos, 0, out, err);
    else if (s == LF_OK)
        *out = lf_tensor_retain(pos);
    lf_tensor_release(pos);
    lf_tensor_release(neg);
    return s;
}

enum lf_status sd_lcm_sample(const struct sd_unet *unet, struct lf_tensor *positive,
                             struct lf_tensor *negative, struct lf_tensor *latent,
                             struct lf_tensor *latent_std, const struct sd_sample_params *p,
                             const struct sd_sample_trace *trace, struct lf_tensor **out,
                             struct lf_error *err)
{
    *out = NULL;
    if (latent->rank != 4 || latent->shape[1] != unet->in_channels)
        return lf_error_set(err, LF_ERR_INVALID, "sampler: latent must be [B, %d, h, w]",
                            unet->in_channels);
    if (positive->rank != 3 || positive->shape[0] != 1)
        return lf_error_set(err, LF_ERR_INVALID, "sampler: conditioning must be [1, L, C]");
    if (!(p->cfg >= 1.0f))
        return lf_error_set(err, LF_ERR_INVALID,
                            "sampler: cfg %g is below 1 (1 = no guidance, > 1 = guidance)",
                            (double)p->cfg);
    bool cfg = p->cfg > 1.0f;
    if (cfg && !negative)
        return lf_error_set(err, LF_ERR_INVALID,
                            "sampler: cfg > 1 needs negative conditioning (encode \"\" for none)");
    if (cfg && (negative->rank != 3 || negative->shape[1] != positive->shape[1] ||
                negative->shape[2] != positive->shape[2]))
        return lf_error_set(err, LF_ERR_INVALID,
                            "sampler: negative and positive conditioning differ in shape");
    if (latent_std && lf_tensor_numel(latent_std) != lf_tensor_numel(latent))
        return lf_error_set(err, LF_ERR_INVALID, "sampler: latent_std differs from latent in size");

    struct sd_lcm_config config;
    struct sd_lcm_scheduler sched;
    sd_lcm_config_default(&config);
    config.original_steps = p->original_steps;
    enum lf_status s = sd_lcm_scheduler_init(&sched, &config, err);
    if (!s)
        s = sd_lcm_scheduler_set_timesteps(&sched, p->steps, p->denoise < 1.0f ? p->denoise : 1.0,
                                           err);
    if (s) return s;

    const int64_t *shape = latent->shape;
    size_t count = (size_t)lf_tensor_numel(latent);
    struct buffers b = {0};
    b.x = malloc(count * sizeof *b.x);
    b.noise = malloc(count * sizeof *b.noise);
    b.eps = malloc(count * sizeof *b.eps);
    b.denoised = malloc(count * sizeof *b.denoised);
    b.out2 = malloc(2 * count * sizeof *b.out2);
    b.start = malloc(count * sizeof *b.start);
    if (!b.x || !b.noise || !b.eps || !b.denoised || !b.out2 || !b.start) {
        free_buffers(&b);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    struct lf_rng rng;
    lf_rng_init(&rng, p->seed);
    if (p->denoise >= 1.0f) {
        lf_rng_randn(&rng, b.x, count); /* init_noise_sigma = 1 */
    } else {
        s = lf_tensor_download_f32(latent, b.start, (int64_t)count, err);
        if (!s && latent_std) {
            s = lf_tensor_download_f32(latent_std, b.eps, (int64_t)count, err);
            lf_rng_randn(&rng, b.noise, count);
            for (size_t i = 0; i < count; i++)
                b.start[i] += b.eps[i] * b.noise[i];
        }
        lf_rng_randn(&rng, b.noise, count);
        if (!s)
            s = sd_lcm_scheduler_add_noise(&sched, sched.timesteps[0], b.start, b.noise, b.x, count,
                                           err);
    }
    if (!s && trace && trace->start) trace->start(trace->user, b.x, count);

    struct lf_tensor *context = NULL;
    if (!s) s = make_context(positive, negative, cfg, shape[0], &context, err);
    for (int i = 0; s == LF_OK && i < sched.count; i++) {
        if (trace && trace->interrupted && trace->interrupted(trace->user)) {
            s = lf_error_set(err, LF_ERR_INTERRUPTED, "sampler: interrupted at step %d", i + 1);
            break;
        }
        memcpy(b.start, b.x, count * sizeof *b.x); /* latents_in, for the trace */
        s = predict(unet, trace, latent->device, context, shape, b.x, (float)sched.timesteps[i],
                    cfg, p->cfg, b.eps, b.out2, count, err);
        if (s) break;
        bool final = sd_lcm_scheduler_is_final(&sched, i);
        if (!final) lf_rng_randn(&rng, b.noise, count);
        s = sd_lcm_scheduler_step(&sched, i, b.eps, b.x, final ? NULL : b.noise, b.denoised, b.x,
                                  count, err);
        if (!s && trace && trace->step)
            trace->step(trace->user, i, sched.count, sched.timesteps[i], b.start, b.eps, b.denoised,
                        final ? NULL : b.noise, b.x, count);
    }
    lf_tensor_release(context);
    if (!s) s = lf_tensor_from_f32(latent->device, LF_DTYPE_F32, 4, shape, b.x, out, err);
    free_buffers(&b);
    return s;
}

/* Appends copies of empty to *t until it has length tokens. */
static enum lf_status pad_to(struct lf_tensor **t, struct lf_tensor *empty, int64_t length,
                             struct lf_error *err)
{
    enum lf_status s = LF_OK;
    while (s == LF_OK && (*t)->shape[1] < length) {
        struct lf_tensor *longer = NULL;
        if ((s = lf_op_concat(*t, empty, 1, &longer, err)) == LF_OK) {
            lf_tensor_release(*t);
            *t = longer;
        }
    }
    return s;
}

enum lf_status sd_pad_conditioning(struct lf_tensor *positive, struct lf_tensor *negative,
                                   struct lf_tensor *empty, struct lf_tensor **pos_out,
                                   struct lf_tensor **neg_out, struct lf_error *err)
{
    *pos_out = *neg_out = NULL;
    const int64_t ctx = 77;
    if (positive->rank != 3 || negative->rank != 3 || positive->shape[2] != negative->shape[2])
        return lf_error_set(err, LF_ERR_INVALID,
                            "sampler: positive and negative conditioning must be [1, L, C] "
                            "of one width C");
    int64_t lp = positive->shape[1], ln = negative->shape[1];
    if (lp != ln && !empty)
        return lf_error_set(err, LF_ERR_INVALID,
                            "sampler: positive has %lld tokens, negative %lld: connect "
                            "empty_prompt (TextEncode's empty_prompt output) to pad the shorter",
                            (long long)lp, (long long)ln);
    if (lp != ln && (empty->rank != 3 || empty->shape[0] != 1 || empty->shape[1] != ctx ||
                     empty->shape[2] != positive->shape[2] || lp % ctx || ln % ctx))
        return lf_error_set(err, LF_ERR_INVALID,
                            "sampler: padding needs conditionings of 77*k tokens and an "
                            "empty_prompt of [1, 77, %lld]",
                            (long long)positive->shape[2]);
    *pos_out = lf_tensor_retain(positive);
    *neg_out = lf_tensor_retain(negative);
    enum lf_status s = lp < ln   ? pad_to(pos_out, empty, ln, err)
                       : ln < lp ? pad_to(neg_out, empty, lp, err)
                                 : LF_OK;
    if (s) {
        lf_tensor_release(*pos_out), lf_tensor_release(*neg_out);
        *pos_out = *neg_out = NULL;
    }
    return s;
}
