/*
** sd_nodes.h - the node types of the sd plugin (one per file group).
*/
#ifndef LCMFLOW_SD_NODES_H
#define LCMFLOW_SD_NODES_H

#include "lcmflow/plugin.h"

extern const struct lf_node_type sd_checkpoint_loader_type;
extern const struct lf_node_type sd_text_encode_type;
extern const struct lf_node_type sd_model_predict_type;
extern const struct lf_node_type sd_empty_latent_type;
extern const struct lf_node_type sd_lcm_sampler_type;
extern const struct lf_node_type sd_vae_decode_type;
extern const struct lf_node_type sd_vae_encode_type;
extern const struct lf_node_type sd_lora_loader_type;
extern const struct lf_node_type sd_taesd_loader_type;

#endif
