/*
** plugin_sd.c - the sd plugin: Stable Diffusion 1.5 model and sampling nodes.
*/
#include "sd_nodes.h"

static const struct lf_node_type *const types[] = {
    &sd_checkpoint_loader_type, &sd_text_encode_type,
    &sd_empty_latent_type,      &sd_lcm_sampler_type,
    &sd_vae_decode_type,        &sd_vae_encode_type,
    &sd_model_predict_type,     &sd_lora_loader_type,
    &sd_taesd_loader_type,      NULL,
};

LF_PLUGIN_DEFINE("sd", "0.2.0", types)
