/*
** nodes_vae.c - VaeDecode and VaeEncode.
*/
#include "lcmflow/ops.h"
#include "sd_image.h"
#include "lcmflow/node.h"
#include "sd_nodes.h"
#include "sd_objects.h"

#include <string.h>

enum { VAE_IN_VAE, VAE_IN_PIXELS, VAE_INPUTS }; /* VaeDecode: latent, VaeEncode: image */
enum { ENCODE_LATENT, ENCODE_LATENT_STD, ENCODE_OUTPUTS };

/* Between decoder stages: Ctrl-C stops a long decode. */
static bool not_interrupted(const char *name, struct lf_tensor *t, void *user)
{
    return !lf_node_interrupted(user);
}

enum lf_status sd_vae_decode_image(const struct sd_vae_object *v, struct lf_tensor *latent,
                                   const struct lf_node_call *c, struct lf_tensor **image,
                                   struct lf_error *err)
{
    struct lf_tensor *decoded = NULL, *unit = NULL;
    enum lf_status s;
    *image = NULL;
    if (v->is_taesd) {
        /* TAESD decodes to [0, 1]; the KL VAE to [-1, 1]. */
        s = sd_taesd_decode(&v->taesd, latent, &unit, err);
        if (!s) s = lf_op_scale(unit, 2.0f, -1.0f, &decoded, err);
        lf_tensor_release(unit);
    } else {
        s = sd_vae_decode(&v->vae, latent, not_interrupted, (void *)c, &decoded, err);
    }
    if (!s) s = sd_image_from_decoded(decoded, image, err);
    lf_tensor_release(decoded);
    return s;
}

static enum lf_status vae_decode_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_vae_object *v = sd_vae_object_of(&c->inputs[VAE_IN_VAE]);
    if (!v) return lf_error_set(err, LF_ERR_INVALID, "input vae is not an SD VAE");
    struct lf_tensor *image = NULL;
    enum lf_status s =
        sd_vae_decode_image(v, lf_node_input_tensor(c, VAE_IN_PIXELS), c, &image, err);
    if (!s) lf_node_output_tensor(c, 0, LF_TYPE_IMAGE, image);
    return s;
}

const struct lf_node_type sd_vae_decode_type = {
    .name = "VaeDecode",
    .description = "Decodes latents to an image [B, H, W, 3] in [0, 1].",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[VAE_INPUTS + 1]){
            [VAE_IN_VAE] = {"vae", LF_TYPE_VAE, 0, NULL},
            [VAE_IN_PIXELS] = {"latent", LF_TYPE_LATENT, 0, NULL}},
    .outputs = (const struct lf_output_desc[]){{"image", LF_TYPE_IMAGE, NULL, NULL}, {0}},
    .execute = vae_decode_execute,
};

static enum lf_status vae_encode_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_vae_object *v = sd_vae_object_of(&c->inputs[VAE_IN_VAE]);
    if (!v) return lf_error_set(err, LF_ERR_INVALID, "input vae is not an SD VAE");
    struct lf_tensor *image = lf_node_input_tensor(c, VAE_IN_PIXELS);
    if (image->rank != 4 || image->shape[1] % 8 || image->shape[2] % 8)
        return lf_error_set(err, LF_ERR_INVALID,
                            "image must be [B, H, W, 3] with H and W multiples of 8");
    struct lf_tensor *x = NULL, *mean = NULL, *std = NULL, *latent = NULL, *latent_std = NULL;
    enum lf_status s = sd_image_to_vae_input(image, &x, err);
    if (!s && v->is_taesd) {
        /* TAESD is deterministic and works in the sampler's scaled space on
        ** [0, 1] images: latent_std is zero (the sampler still draws its
        ** noise, keeping the reference order). */
        struct lf_tensor *unit = NULL;
        s = lf_op_scale(x, 0.5f, 0.5f, &unit, err);
        if (!s) s = sd_taesd_encode(&v->taesd, unit, &latent, err);
        if (!s && !(s = lf_tensor_create(latent->device, LF_DTYPE_F32, latent->rank, latent->shape,
                                         &latent_std, err)))
            s = lf_op_fill(latent_std, 0.0f, err);
        lf_tensor_release(unit);
    } else if (!s) {
        s = sd_vae_encode(&v->vae, x, &mean, &std, err);
        if (!s) s = lf_op_scale(mean, SD_VAE_SCALING, 0.0f, &latent, err);
        if (!s) s = lf_op_scale(std, SD_VAE_SCALING, 0.0f, &latent_std, err);
        lf_tensor_release(mean), lf_tensor_release(std);
    }
    lf_tensor_release(x);
    if (s) {
        lf_tensor_release(latent), lf_tensor_release(latent_std);
        return s;
    }
    lf_node_output_tensor(c, ENCODE_LATENT, LF_TYPE_LATENT, latent);
    lf_node_output_tensor(c, ENCODE_LATENT_STD, LF_TYPE_TENSOR, latent_std);
    return LF_OK;
}

const struct lf_node_type sd_vae_encode_type = {
    .name = "VaeEncode",
    .description = "Encodes an image to latents (the distribution's mean, scaled).",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[VAE_INPUTS + 1]){
            [VAE_IN_VAE] = {"vae", LF_TYPE_VAE, 0, NULL},
            [VAE_IN_PIXELS] = {"image", LF_TYPE_IMAGE, 0, NULL}},
    .outputs =
        (const struct lf_output_desc[ENCODE_OUTPUTS + 1]){
            [ENCODE_LATENT] = {"latent", LF_TYPE_LATENT, NULL, "mean * 0.18215"},
            [ENCODE_LATENT_STD] =
                {"latent_std", LF_TYPE_TENSOR, NULL,
                 "std * 0.18215: connect to LcmSampler's latent_std to sample as the reference"},
        },
    .execute = vae_encode_execute,
};

/* ---- TaesdLoader ---- */

/* Param indices; the table below is indexed by them (designated
** initialisers), and its slot at TAESD_PARAMS stays zero: the end. */
enum { TAESD_DECODER, TAESD_ENCODER, TAESD_DTYPE, TAESD_PARAMS };

static enum lf_status taesd_validate(const struct lf_node_type *type, const struct lf_value *params,
                                     struct lf_error *err)
{
    const char *d = params[TAESD_DECODER].u.s, *e = params[TAESD_ENCODER].u.s;
    if ((!d || !*d) && (!e || !*e))
        return lf_error_set(err, LF_ERR_INVALID, "give decoder, encoder or both");
    const char *dtype = params[TAESD_DTYPE].u.s ? params[TAESD_DTYPE].u.s : "";
    if (strcmp(dtype, "auto") && strcmp(dtype, "f16") && strcmp(dtype, "f32"))
        return lf_error_set(err, LF_ERR_INVALID, "dtype must be auto, f16 or f32, not '%s'", dtype);
    return LF_OK;
}

static enum lf_status taesd_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_device *device = lf_node_device(c, err);
    if (!device) return err ? err->code : LF_ERR_NO_DEVICE;
    const char *d = lf_node_param_string(c, TAESD_DECODER),
               *e = lf_node_param_string(c, TAESD_ENCODER);
    const char *dtype_name = lf_node_param_string(c, TAESD_DTYPE);
    enum lf_dtype dtype = !strcmp(dtype_name, "f32")                         ? LF_DTYPE_F32
                          : !strcmp(dtype_name, "f16")                       ? LF_DTYPE_F16
                          : lf_device_has(device, LF_DEVICE_CAP_F16_WEIGHTS) ? LF_DTYPE_F16
                                                                             : LF_DTYPE_F32;
    struct sd_taesd t;
    enum lf_status s = sd_taesd_load(device, *e ? e : NULL, *d ? d : NULL, dtype, &t, err);
    if (s) return s;
    struct lf_object *o = sd_taesd_object_new(&t, 0);
    if (!o) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    lf_node_output_object(c, 0, LF_TYPE_VAE, o);
    return LF_OK;
}

const struct lf_node_type sd_taesd_loader_type = {
    .name = "TaesdLoader",
    .description = "Loads a TAESD-family tiny autoencoder as a VAE (fast previews and decodes).",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES,
    .outputs = (const struct lf_output_desc[]){{"vae", LF_TYPE_VAE, NULL, NULL}, {0}},
    .params =
        (const struct lf_param_desc[TAESD_PARAMS + 1]){
            [TAESD_DECODER] = {.name = "decoder",
                               .type = LF_TYPE_STRING,
                               .flags = LF_PARAM_PATH,
                               .default_string = "",
                               .description = "decoder weights (.safetensors); may be left out"},
            [TAESD_ENCODER] = {.name = "encoder",
                               .type = LF_TYPE_STRING,
                               .flags = LF_PARAM_PATH,
                               .default_string = "",
                               .description = "encoder weights (.safetensors); may be left out"},
            [TAESD_DTYPE] = {.name = "dtype",
                             .type = LF_TYPE_STRING,
                             .default_string = "auto",
                             .description = "auto (f16 where supported), f16 or f32"},
        },
    .execute = taesd_execute,
    .validate = taesd_validate,
};
