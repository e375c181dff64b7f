/*
** sd_objects.h - the UNET, CLIP and VAE values that flow between the sd
** plugin's nodes: refcounted lf_objects wrapping the model code.  Cached
** values are shared by every node downstream, so they are never modified
** after creation: a LoRA makes a new object sharing the untouched tensors.
*/
#ifndef LCMFLOW_SD_OBJECTS_H
#define LCMFLOW_SD_OBJECTS_H

#include "lcmflow/plugin.h"
#include "sd_tokenizer.h"
#include "sd_clip.h"
#include "sd_taesd.h"
#include "sd_unet.h"
#include "sd_vae.h"

/* A tokenizer shared by a CLIP object and the LoRA'd copies of it; or the
** reason none was found, reported when a prompt is encoded. */
struct sd_vocab {
    uint32_t refcount;
    struct sd_tokenizer *tokenizer; /* NULL when missing */
    char missing[LF_ERROR_MESSAGE_MAX];
    char embeddings[1024]; /* the checkpoint's embeddings folder, "" for none */
};

struct sd_unet_object {
    struct lf_object base; /* kind "sd.unet" */
    struct sd_unet unet;
};

struct sd_clip_object {
    struct lf_object base; /* kind "sd.clip" */
    struct sd_clip clip;
    struct sd_vocab *vocab;
    /* A memo, not state: the empty prompt's encoding [77 * hidden] at
    ** empty_clip_skip (TextEncode's `empty_prompt` output and comfy weighting), or
    ** NULL.  Owned; computed on first use. */
    float *empty;
    int empty_clip_skip;
};

/* Either the KL VAE of a checkpoint or a TAESD-family tiny autoencoder
** (is_taesd); VaeDecode and VaeEncode take both. */
struct sd_vae_object {
    struct lf_object base; /* kind "sd.vae" */
    bool is_taesd;
    struct sd_vae vae;
    struct sd_taesd taesd;
};

/* Wrap initialised models; the object takes over u/c/v (and retains vocab).
** Return NULL when out of memory (the models are then cleared). */
struct lf_object *sd_unet_object_new(struct sd_unet *u, uint64_t nbytes);
struct lf_object *sd_clip_object_new(struct sd_clip *c, struct sd_vocab *vocab, uint64_t nbytes);
struct lf_object *sd_vae_object_new(struct sd_vae *v, uint64_t nbytes);
struct lf_object *sd_taesd_object_new(struct sd_taesd *t, uint64_t nbytes);

/* Typed views of input values; NULL when the object is of another kind. */
struct sd_unet_object *sd_unet_object_of(const struct lf_value *v);
struct sd_clip_object *sd_clip_object_of(const struct lf_value *v);
struct sd_vae_object *sd_vae_object_of(const struct lf_value *v);

struct sd_vocab *sd_vocab_new(void);
struct sd_vocab *sd_vocab_retain(struct sd_vocab *vocab);
void sd_vocab_release(struct sd_vocab *vocab);

#endif
