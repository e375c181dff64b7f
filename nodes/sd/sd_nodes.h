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

/* TextEncode (nodes_text.c): params and outputs by index, and its hooks. */
enum { SD_TEXT_TEXT, SD_TEXT_WEIGHTING, SD_TEXT_CLIP_SKIP, SD_TEXT_EMBEDDINGS, SD_TEXT_PARAMS };
enum { SD_TEXT_OUT_CONDITIONING, SD_TEXT_OUT_EMPTY, SD_TEXT_OUTPUTS };
enum lf_status sd_text_encode_execute(const struct lf_node_call *c, struct lf_error *err);
enum lf_status sd_text_encode_validate(const struct lf_node_type *type,
                                       const struct lf_value *params, struct lf_error *err);
enum lf_status sd_text_encode_identity(const struct lf_node_type *type,
                                       const struct lf_value *params, uint64_t *identity,
                                       struct lf_error *err);

/* VaeDecode's work (nodes_vae.c), also the sampler's step previews: latent
** [B, C, h, w] -> IMAGE [B, 8h, 8w, 3] f32 in [0, 1] with either kind of
** VAE; the KL decoder stops between stages when c is interrupted. */
struct sd_vae_object;
enum lf_status sd_vae_decode_image(const struct sd_vae_object *v, struct lf_tensor *latent,
                                   const struct lf_node_call *c, struct lf_tensor **image,
                                   struct lf_error *err);

#endif
