/*
** sd_names.h - the one LDM <-> diffusers name table of a UNet or VAE,
** built from its architecture's module layout (sd_arch.h) and used in both
** directions: by the checkpoint loader (diffusers folder -> LDM names),
** `lcmflow info` (the same), the LoRA matcher (LDM weights -> the
** diffusers module paths a LoRA may use) and the synthetic LoRA.
**
** A name is a module path plus a member: "input_blocks.1.0.in_layers.2.weight"
** is module input_blocks.1.0 (diffusers down_blocks.0.resnets.0), member
** in_layers.2.weight (conv1.weight).  Members are renamed by module kind:
** ResBlocks and the VAE's resnets and mid attention name theirs
** differently in the two layouts; transformers and plain layers do not.
** The text encoder has the same (Hugging Face) names in both layouts.
*/
#ifndef LCMFLOW_SD_NAMES_H
#define LCMFLOW_SD_NAMES_H

#include "lcmflow/error.h"
#include "lcmflow/safetensors.h"
#include "sd_arch.h"

#include <stdbool.h>
#include <stddef.h>

struct sd_name_pair {
    enum sd_module_kind kind;
    char ldm[48], diffusers[64]; /* module paths (sd_module) */
};

struct sd_names {
    struct sd_name_pair *pairs; /* owned */
    size_t count;
};

/* The table of a UNet or VAE layout (only the structure fields are used:
** levels, blocks per level, attention).  Clear with sd_names_clear(). */
enum lf_status sd_names_unet(const struct sd_arch_unet *layout, struct sd_names *out,
                             struct lf_error *err);
enum lf_status sd_names_vae(const struct sd_arch_vae *layout, struct sd_names *out,
                            struct lf_error *err);
void sd_names_clear(struct sd_names *t);

/* The table for the UNet (unet true) or VAE of a diffusers file, from the
** layout its own names describe (sd_arch_read_*_layout_diffusers). */
enum lf_status sd_names_of_diffusers_file(const struct lf_safetensors *st, bool unet,
                                          struct sd_names *out, struct lf_error *err);

/* Translates a tensor (or module) name; false when it has no counterpart
** in the table.  out: 256 bytes. */
bool sd_names_to_ldm(const struct sd_names *t, const char *diffusers, char *out);
bool sd_names_to_diffusers(const struct sd_names *t, const char *ldm, char *out);

/* A component of a safetensors file seen under LDM names, for
** sd_arch_read_*: name is looked up as prefix + name, or (names not NULL)
** as its diffusers counterpart. */
struct sd_file_view {
    const struct lf_safetensors *st;
    const char *prefix; /* "" for none */
    const struct sd_names *names;
};
bool sd_file_view_lookup(const char *name, int *rank, int64_t shape[4], void *view);
/* The file's tensor for the LDM name (NULL when absent or unmapped), and
** the name it is stored under (false when the table has no counterpart or
** out is too small). */
const struct lf_safetensors_tensor *sd_file_view_find(const struct sd_file_view *v,
                                                      const char *name);
bool sd_file_view_name(const struct sd_file_view *v, const char *name, char *out, size_t size);

/* Which UNet naming a module path uses, by its top-level block name
** ("input_blocks"/"middle_block"/"output_blocks" or "down_blocks"/
** "mid_block"/"up_blocks"), with '.' or '_' (kohya) separators. */
enum sd_naming { SD_NAMING_OTHER, SD_NAMING_LDM, SD_NAMING_DIFFUSERS };
enum sd_naming sd_names_unet_naming(const char *path);

#endif
