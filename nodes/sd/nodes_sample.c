/*
** nodes_sample.c - EmptyLatent and LcmSampler.
*/
#include "lcmflow/ops.h"
#include "lcmflow/node.h"
#include "sd_nodes.h"
#include "sd_objects.h"
#include "sd_sample.h"
#include "sd_scheduler.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* ---- EmptyLatent ---- */

/* Port and param indices; each table below is indexed by them (designated
** initialisers), and its slot at the count stays zero: the end. */
enum { EMPTY_WIDTH, EMPTY_HEIGHT, EMPTY_BATCH, EMPTY_PARAMS };

static enum lf_status empty_validate(const struct lf_node_type *type, const struct lf_value *params,
                                     struct lf_error *err)
{
    if (params[EMPTY_WIDTH].u.i % 8)
        return lf_error_set(err, LF_ERR_INVALID, "width %lld is not a multiple of 8",
                            (long long)params[EMPTY_WIDTH].u.i);
    if (params[EMPTY_HEIGHT].u.i % 8)
        return lf_error_set(err, LF_ERR_INVALID, "height %lld is not a multiple of 8",
                            (long long)params[EMPTY_HEIGHT].u.i);
    return LF_OK;
}

static enum lf_status empty_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_device *device = lf_node_device(c, err);
    if (!device) return err ? err->code : LF_ERR_NO_DEVICE;
    int64_t shape[4] = {lf_node_param_int(c, EMPTY_BATCH), 4,
                        lf_node_param_int(c, EMPTY_HEIGHT) / 8,
                        lf_node_param_int(c, EMPTY_WIDTH) / 8};
    struct lf_tensor *t;
    enum lf_status s = lf_tensor_create(device, LF_DTYPE_F32, 4, shape, &t, err);
    if (!s && (s = lf_op_fill(t, 0.0f, err))) lf_tensor_release(t);
    if (!s) lf_node_output_tensor(c, 0, LF_TYPE_LATENT, t);
    return s;
}

const struct lf_node_type sd_empty_latent_type = {
    .name = "EmptyLatent",
    .description = "A zero latent of the given image size (txt2img's start).",
    .flags = LF_NODE_DETERMINISTIC,
    .outputs =
        (const struct lf_output_desc[]){
            {"latent", LF_TYPE_LATENT, NULL, "[batch, 4, height/8, width/8]"}, {0}},
    .params =
        (const struct lf_param_desc[EMPTY_PARAMS + 1]){
            [EMPTY_WIDTH] = {.name = "width",
                             .type = LF_TYPE_INT,
                             .flags = LF_PARAM_HAS_RANGE,
                             .default_int = 512,
                             .min = 8,
                             .max = 8192,
                             .description = "image width in pixels, a multiple of 8"},
            [EMPTY_HEIGHT] = {.name = "height",
                              .type = LF_TYPE_INT,
                              .flags = LF_PARAM_HAS_RANGE,
                              .default_int = 512,
                              .min = 8,
                              .max = 8192,
                              .description = "image height in pixels, a multiple of 8"},
            [EMPTY_BATCH] = {.name = "batch",
                             .type = LF_TYPE_INT,
                             .flags = LF_PARAM_HAS_RANGE,
                             .default_int = 1,
                             .min = 1,
                             .max = 64,
                             .description = "images per run"},
        },
    .execute = empty_execute,
    .validate = empty_validate,
};

/* ---- LcmSampler ---- */

enum { SAMPLE_SEED, SAMPLE_STEPS, SAMPLE_CFG, SAMPLE_DENOISE, SAMPLE_ORIGINAL, SAMPLE_PARAMS };
enum {
    IN_MODEL,
    IN_POSITIVE,
    IN_NEGATIVE,
    IN_LATENT,
    IN_LATENT_STD,
    IN_EMPTY,
    IN_PREVIEW_VAE,
    IN_COUNT
};

struct progress {
    const struct lf_node_call *call;
    struct lf_tensor *latent;        /* the start latent: shape and device */
    const struct sd_vae_object *vae; /* preview_vae, when connected and the host takes images */
    bool warned;                     /* a preview decode failed once: said, not repeated */
};

/* The step's estimate x0 (batch item 0) decoded as VaeDecode would, handed
** to the host.  A failure costs the preview, not the run: warned once. */
static void preview_image(struct progress *p, int step, int total, const float *denoised)
{
    const struct lf_node_call *c = p->call;
    const int64_t *in = p->latent->shape;
    int64_t shape[4] = {1, in[1], in[2], in[3]};
    struct lf_tensor *x0 = NULL, *image = NULL;
    struct lf_error err = {0};
    enum lf_status s = lf_tensor_create(p->latent->device, LF_DTYPE_F32, 4, shape, &x0, &err);
    if (!s) s = lf_tensor_upload_f32(x0, denoised, shape[1] * shape[2] * shape[3], &err);
    if (!s) s = sd_vae_decode_image(p->vae, x0, c, &image, &err);
    if (!s) c->host->image_preview(c->ctx, step, total, image);
    lf_tensor_release(x0), lf_tensor_release(image);
    if (s && s != LF_ERR_INTERRUPTED && !p->warned && c->host->log) {
        char text[512];
        c->host->log(c->ctx, LF_LOG_WARNING, "step previews: %s",
                     lf_error_text(&err, text, sizeof text));
        p->warned = true;
    }
}

static void on_step(void *user, int index, int total, int t, const float *latents_in,
                    const float *noise_pred, const float *denoised, const float *noise,
                    const float *latents_out, size_t count)
{
    struct progress *p = user;
    const struct lf_node_call *c = p->call;
    if (p->vae)
        preview_image(p, index + 1, total, denoised);
    else if (LF_HOST_HAS(c->host, latent_preview))
        c->host->latent_preview(c->ctx, index + 1, total, denoised, p->latent->shape);
    if (c->host->progress) c->host->progress(c->ctx, index + 1, total);
}

/* preview_vae, when connected: an SD VAE whose decoder reads the sampler's
** latents (a TAESD of another family, e.g. TAEF2's 32 channels, does not). */
static enum lf_status preview_vae_of(const struct lf_node_call *c, const struct sd_vae_object **out,
                                     struct lf_error *err)
{
    const struct lf_value *in = &c->inputs[IN_PREVIEW_VAE];
    const struct sd_vae_object *v;
    int64_t channels = lf_node_input_tensor(c, IN_LATENT)->shape[1];
    *out = NULL;
    if (in->type == LF_TYPE_NONE) return LF_OK;
    if (!(v = sd_vae_object_of(in)))
        return lf_error_set(err, LF_ERR_INVALID, "input preview_vae is not an SD VAE");
    if (v->is_taesd && !v->taesd.decoder.weights)
        return lf_error_set(err, LF_ERR_INVALID,
                            "input preview_vae: the TAESD has no decoder (TaesdLoader's decoder "
                            "param)");
    if (v->is_taesd && v->taesd.latent_channels != channels)
        return lf_error_set(err, LF_ERR_INVALID,
                            "input preview_vae: the TAESD decodes %d-channel latents, the "
                            "sampler's have %lld (a TAESD for SD 1.5 has 4)",
                            v->taesd.latent_channels, (long long)channels);
    /* An older host takes no images: its latent previews stay. */
    if (LF_HOST_HAS(c->host, image_preview)) *out = v;
    return LF_OK;
}

static bool on_interrupted(void *user)
{
    return lf_node_interrupted(((struct progress *)user)->call);
}

/* The schedule a run would use, so that denoise 0 (or too small to leave a
** step) and steps above original_steps are refused before anything runs. */
static enum lf_status sampler_validate(const struct lf_node_type *type,
                                       const struct lf_value *params, struct lf_error *err)
{
    struct sd_lcm_config config;
    struct sd_lcm_scheduler sched;
    float denoise = (float)params[SAMPLE_DENOISE].u.f;
    (void)type;
    sd_lcm_config_default(&config);
    config.original_steps = (int)params[SAMPLE_ORIGINAL].u.i;
    enum lf_status s = sd_lcm_scheduler_init(&sched, &config, err);
    if (!s)
        s = sd_lcm_scheduler_set_timesteps(&sched, (int)params[SAMPLE_STEPS].u.i,
                                           denoise < 1.0f ? denoise : 1.0, err);
    return s;
}

static enum lf_status sampler_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_unet_object *m = sd_unet_object_of(&c->inputs[IN_MODEL]);
    if (!m) return lf_error_set(err, LF_ERR_INVALID, "input model is not an SD UNet");
    struct sd_sample_params p = {
        .seed = lf_node_param_uint(c, SAMPLE_SEED),
        .steps = (int)lf_node_param_int(c, SAMPLE_STEPS),
        .cfg = (float)lf_node_param_float(c, SAMPLE_CFG),
        .denoise = (float)lf_node_param_float(c, SAMPLE_DENOISE),
        .original_steps = (int)lf_node_param_int(c, SAMPLE_ORIGINAL),
    };
    struct progress prog = {c, lf_node_input_tensor(c, IN_LATENT), NULL, false};
    struct sd_sample_trace trace = {.step = on_step, .interrupted = on_interrupted, .user = &prog};
    enum lf_status s = preview_vae_of(c, &prog.vae, err);
    if (s) return s;
    struct lf_tensor *out, *pos = lf_tensor_retain(lf_node_input_tensor(c, IN_POSITIVE)),
                           *neg = lf_tensor_retain(lf_node_input_tensor(c, IN_NEGATIVE));
    if (p.cfg > 1.0f && pos && neg) {
        /* prompts of different chunk counts: pad the shorter (nodes/sd/model/README.md) */
        lf_tensor_release(pos), lf_tensor_release(neg);
        s = sd_pad_conditioning(lf_node_input_tensor(c, IN_POSITIVE),
                                lf_node_input_tensor(c, IN_NEGATIVE),
                                lf_node_input_tensor(c, IN_EMPTY), &pos, &neg, err);
    }
    if (!s)
        s = sd_lcm_sample(&m->unet, pos, neg, lf_node_input_tensor(c, IN_LATENT),
                          lf_node_input_tensor(c, IN_LATENT_STD), &p, &trace, &out, err);
    lf_tensor_release(pos), lf_tensor_release(neg);
    if (!s) lf_node_output_tensor(c, 0, LF_TYPE_LATENT, out);
    return s;
}

const struct lf_node_type sd_lcm_sampler_type = {
    .name = "LcmSampler",
    .description = "LCM sampling (txt2img, or img2img when denoise < 1), seeds as PyTorch's CPU "
                   "generator.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[IN_COUNT + 1]){
            [IN_MODEL] = {"model", LF_TYPE_UNET, 0, NULL},
            [IN_POSITIVE] = {"positive", LF_TYPE_CONDITIONING, 0, "prompt conditioning"},
            [IN_NEGATIVE] = {"negative", LF_TYPE_CONDITIONING, LF_PORT_OPTIONAL,
                             "negative prompt conditioning (needed when cfg > 1)"},
            [IN_LATENT] = {"latent", LF_TYPE_LATENT, 0,
                           "start latent: its size for txt2img, its content for "
                           "img2img"},
            [IN_LATENT_STD] =
                {"latent_std", LF_TYPE_TENSOR, LF_PORT_OPTIONAL,
                 "VaeEncode's latent_std: img2img samples latent + std * noise first, as the "
                 "reference pipeline"},
            [IN_EMPTY] =
                {"empty_prompt", LF_TYPE_CONDITIONING, LF_PORT_OPTIONAL,
                 "TextEncode's empty_prompt: pads the shorter of positive/negative (cfg > 1)"},
            [IN_PREVIEW_VAE] =
                {"preview_vae", LF_TYPE_VAE, LF_PORT_OPTIONAL,
                 "decoder of the step previews, normally a TaesdLoader's vae: each step's "
                 "estimate is decoded as VaeDecode would (else the host maps latents to RGB)"},
        },
    .outputs = (const struct lf_output_desc[]){{"latent", LF_TYPE_LATENT, NULL, NULL}, {0}},
    .params =
        (const struct lf_param_desc[SAMPLE_PARAMS + 1]){
            [SAMPLE_SEED] = {.name = "seed",
                             .type = LF_TYPE_INT,
                             .flags = LF_PARAM_UNSIGNED,
                             .default_int = 0,
                             .description = "generator seed, 0 .. 2^64-1 (torch.Generator()."
                                            "manual_seed: the low 32 bits pick the noise)"},
            [SAMPLE_STEPS] = {.name = "steps",
                              .type = LF_TYPE_INT,
                              .flags = LF_PARAM_HAS_RANGE,
                              .default_int = 4,
                              .min = 1,
                              .max = 50,
                              .description = "sampling steps"},
            [SAMPLE_CFG] = {.name = "cfg",
                            .type = LF_TYPE_FLOAT,
                            .flags = LF_PARAM_HAS_RANGE,
                            .default_float = 1.0,
                            .min = 1.0,
                            .max = 30.0,
                            .description = "classifier-free guidance scale: 1 = none (one UNet "
                                           "pass, as LCM-LoRA is meant to run); > 1 also runs "
                                           "the negative prompt"},
            [SAMPLE_DENOISE] = {.name = "denoise",
                                .type = LF_TYPE_FLOAT,
                                .flags = LF_PARAM_HAS_RANGE,
                                .default_float = 1.0,
                                .min = 0.0,
                                .max = 1.0,
                                .description =
                                    "img2img strength, > 0 (at least one of the steps must "
                                    "remain); 1 = txt2img"},
            [SAMPLE_ORIGINAL] = {.name = "original_steps",
                                 .type = LF_TYPE_INT,
                                 .flags = LF_PARAM_HAS_RANGE,
                                 .default_int = 50,
                                 .min = 1,
                                 .max = 1000,
                                 .description = "LCM's original_inference_steps"},
        },
    .validate = sampler_validate,
    .execute = sampler_execute,
};
