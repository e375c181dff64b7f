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

static const struct lf_plugin_desc desc = {
    .abi_version = LF_PLUGIN_ABI_VERSION,
    .struct_size = sizeof desc,
    .name = "sd",
    .version = "0.2.0",
    .node_types = types,
    .node_type_size = sizeof(struct lf_node_type),
};

LF_EXPORT const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *host)
{
    (void)host;
    return &desc;
}
