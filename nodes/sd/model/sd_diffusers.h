/*
** sd_diffusers.h - the diffusers folder layout of an SD 1.5 pipeline, the
** one place it is written: a sub-folder per component with its weights
** (plain or ".fp16" safetensors) and config.json, and the tokenizer's
** vocabulary.  Used by the checkpoint loader, `lcmflow info`, the
** CheckpointLoader's file identity and the tokenizer lookup.
*/
#ifndef LCMFLOW_SD_DIFFUSERS_H
#define LCMFLOW_SD_DIFFUSERS_H

#include <stdbool.h>
#include <stddef.h>

enum sd_component { SD_COMPONENT_UNET, SD_COMPONENT_VAE, SD_COMPONENT_TEXT, SD_COMPONENT_COUNT };

struct sd_diffusers_part {
    const char *folder;  /* "unet" */
    const char *weights; /* file name without ".safetensors": "diffusion_pytorch_model" */
    const char *label;   /* "UNet", for messages and `lcmflow info` */
};
extern const struct sd_diffusers_part sd_diffusers_parts[SD_COMPONENT_COUNT];

#define SD_DIFFUSERS_CONFIG    "config.json"             /* in each component's folder */
#define SD_DIFFUSERS_TOKENIZER "tokenizer"               /* the CLIP vocabulary's folder */
extern const char *const sd_diffusers_tokenizer_files[]; /* vocab.json, merges.txt; NULL-ended */

/* A single-file checkpoint's own vocabulary folder, beside it: the file's
** name with ".safetensors" (or its last extension) replaced by ".tokenizer"
** (models/tiny.safetensors -> models/tiny.tokenizer).  The tokenizer
** lookup tries it before the shared tokenizer/ folder beside the file, so a
** synthetic model's small vocabulary (synth-checkpoint writes it there)
** never serves another checkpoint in the same folder.  false when out is
** too small. */
#define SD_OWN_TOKENIZER_SUFFIX ".tokenizer"
bool sd_own_tokenizer_dir(const char *checkpoint, char *out, size_t size);

/* Whether path is a folder. */
bool sd_is_dir(const char *path);

/* The weights file of component c in the folder dir: <folder>/<weights>
** .safetensors, else the .fp16.safetensors variant diffusers also writes.
** false when neither exists (out then names the plain file). */
bool sd_diffusers_weights(const char *dir, enum sd_component c, char *out, size_t size);
/* dir/<folder>/config.json. */
void sd_diffusers_config(const char *dir, enum sd_component c, char *out, size_t size);

/* An integer of a diffusers config.json (0 when the file or key is absent). */
int sd_config_int(const char *path, const char *key);

/* Calls fn with every file a checkpoint at path is read from: the file
** itself, or a folder's component weights and configs; and the tokenizer
** folder's vocabulary inside the folder or beside the file (the file's own
** and the shared one). */
void sd_checkpoint_files(const char *path, void (*fn)(const char *file, void *user), void *user);

#endif
