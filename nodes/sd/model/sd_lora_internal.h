/*
** sd_lora_internal.h - shared by the LoRA sources (sd_lora*.c); not API.
*/
#ifndef LCMFLOW_SD_LORA_INTERNAL_H
#define LCMFLOW_SD_LORA_INTERNAL_H

#include "sd_lora.h"

/* The matchable layers of a component (sd_lora_names.c): every ".weight" of
** rank 2 or 4, keyed by the module path in '_' form (LDM and, for the UNet,
** diffusers naming). */
struct sd_lora_table;
enum lf_status sd_lora_table_build(const struct sd_weights *w, enum sd_lora_part part,
                                   struct sd_lora_table **out, struct lf_error *err);
/* The weight index for a '_'-form module path, or SIZE_MAX; *diffusers (may
** be NULL) tells which naming matched. */
size_t sd_lora_table_find(const struct sd_lora_table *t, const char *flat, bool *diffusers);
size_t sd_lora_table_targets(const struct sd_lora_table *t); /* layers, not names */
void sd_lora_table_free(struct sd_lora_table *t);

/* One module to merge into one weight; sorted by weight, then by order. */
struct sd_lora_job {
    size_t index; /* weight item */
    size_t order; /* position in the merge sequence */
    const struct sd_lora_module *module;
    float scale; /* strength * alpha / rank */
};

#endif
