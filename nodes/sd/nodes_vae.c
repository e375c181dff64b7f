/*
** nodes_vae.c - VaeDecode and VaeEncode.
*/
#include "lcmflow/ops.h"
#include "sd_image.h"
#include "sd_node.h"
#include "sd_nodes.h"
#include "sd_objects.h"

static enum lf_status vae_decode_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_vae_object *v = sd_vae_object_of(&c->inputs[0]);
    if (!v) return lf_error_set(err, LF_ERR_INVALID, "input vae is not an SD VAE");
    struct lf_tensor *decoded = NULL, *image = NULL;
    enum lf_status s = sd_vae_decode(&v->vae, sd_input_tensor(c, 1), NULL, NULL, &decoded, err);
    if (!s) s = sd_image_from_decoded(decoded, &image, err);
    lf_tensor_release(decoded);
    if (!s) sd_output_tensor(c, 0, LF_TYPE_IMAGE, image);
    return s;
}

const struct lf_node_type sd_vae_decode_type = {
    .name = "VaeDecode",
    .description = "Decodes latents to an image [B, H, W, 3] in [0, 1].",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs = (const struct lf_input_desc[]){{"vae", LF_TYPE_VAE, 0, NULL},
                                             {"latent", LF_TYPE_LATENT, 0, NULL},
                                             {0}},
    .outputs = (const struct lf_output_desc[]){{"image", LF_TYPE_IMAGE, NULL, NULL}, {0}},
    .execute = vae_decode_execute,
};

static enum lf_status vae_encode_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_vae_object *v = sd_vae_object_of(&c->inputs[0]);
    if (!v) return lf_error_set(err, LF_ERR_INVALID, "input vae is not an SD VAE");
    struct lf_tensor *image = sd_input_tensor(c, 1);
    if (image->rank != 4 || image->shape[1] % 8 || image->shape[2] % 8)
        return lf_error_set(err, LF_ERR_INVALID,
                            "image must be [B, H, W, 3] with H and W multiples of 8");
    struct lf_tensor *x = NULL, *mean = NULL, *std = NULL, *latent = NULL, *latent_std = NULL;
    enum lf_status s = sd_image_to_vae_input(image, &x, err);
    if (!s) s = sd_vae_encode(&v->vae, x, &mean, &std, err);
    if (!s) s = lf_op_scale(mean, SD_VAE_SCALING, 0.0f, &latent, err);
    if (!s) s = lf_op_scale(std, SD_VAE_SCALING, 0.0f, &latent_std, err);
    lf_tensor_release(x), lf_tensor_release(mean), lf_tensor_release(std);
    if (s) {
        lf_tensor_release(latent), lf_tensor_release(latent_std);
        return s;
    }
    sd_output_tensor(c, 0, LF_TYPE_LATENT, latent);
    sd_output_tensor(c, 1, LF_TYPE_TENSOR, latent_std);
    return LF_OK;
}

const struct lf_node_type sd_vae_encode_type = {
    .name = "VaeEncode",
    .description = "Encodes an image to latents (the distribution's mean, scaled).",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs = (const struct lf_input_desc[]){{"vae", LF_TYPE_VAE, 0, NULL},
                                             {"image", LF_TYPE_IMAGE, 0, NULL},
                                             {0}},
    .outputs =
        (const struct lf_output_desc[]){
            {"latent", LF_TYPE_LATENT, NULL, "mean * 0.18215"},
            {"latent_std", LF_TYPE_TENSOR, NULL,
             "std * 0.18215: connect to LcmSampler's latent_std to sample as the reference"},
            {0},
        },
    .execute = vae_encode_execute,
};
