/*
** sd_lora_names.c - the names a LoRA module may use for a layer: the
** lookup table of every layer's module path in '_' form, in the LDM naming
** and (UNet) the diffusers one from the name table (sd_names.h).
*/
#include "sd_lora_internal.h"
#include "sd_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lookup table ---- */

struct entry {
    char *key;    /* '_' form of a module path */
    size_t index; /* the weight's index in the sd_weights */
    bool diffusers;
};

struct sd_lora_table {
    struct entry *slots; /* open addressing; key NULL = empty */
    size_t size, used, targets;
};

/* Adds the '_' form of module (a dotted path); a key already present is
** kept (both namings of a layer point at the same weight anyway). */
static enum lf_status add(struct sd_lora_table *t, const char *module, size_t index, bool diffusers,
                          struct lf_error *err)
{
    char *key = strdup(module);
    if (!key) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (char *c = key; *c; c++)
        if (*c == '.') *c = '_';
    size_t slot = sd_hash_name(key) & (t->size - 1);
    for (; t->slots[slot].key; slot = (slot + 1) & (t->size - 1))
        if (!strcmp(t->slots[slot].key, key)) {
            free(key);
            return LF_OK;
        }
    t->slots[slot] = (struct entry){key, index, diffusers};
    t->used++;
    return LF_OK;
}

enum lf_status sd_lora_table_build(const struct sd_weights *w, enum sd_lora_part part,
                                   struct sd_lora_table **out, struct lf_error *err)
{
    struct sd_lora_table *t = calloc(1, sizeof *t);
    if (!t) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    t->size = 16;
    while (t->size < 4 * w->count + 16)
        t->size *= 2; /* two names per weight at most: load stays <= 1/2 */
    t->slots = calloc(t->size, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    /* The UNet's diffusers names: the table of the layout its weights have. */
    struct sd_names names = {0};
    enum lf_status s = LF_OK;
    if (part == SD_LORA_PART_UNET) {
        struct sd_arch_unet arch;
        sd_arch_read_unet(sd_weights_lookup, (void *)w, &arch);
        s = sd_names_unet(&arch, &names, err);
    }
    for (size_t i = 0; i < w->count && !s; i++) {
        const char *name = w->items[i].name;
        size_t len = strlen(name);
        int rank = w->items[i].rank;
        if (len < 8 || len >= 256 || strcmp(name + len - 7, ".weight") != 0 ||
            (rank != 2 && rank != 4) || strstr(name, "_embedding."))
            continue; /* norms, biases and CLIP's embedding tables take no LoRA */
        char module[256], diff[256];
        memcpy(module, name, len - 7);
        module[len - 7] = '\0';
        t->targets++;
        s = add(t, module, i, false, err);
        if (!s && names.count && sd_names_to_diffusers(&names, name, diff)) {
            diff[strlen(diff) - 7] = '\0'; /* the mapping keeps the ".weight" suffix */
            s = add(t, diff, i, true, err);
        }
    }
    sd_names_clear(&names);
    if (s) {
        sd_lora_table_free(t);
        return s;
    }
    *out = t;
    return LF_OK;
}

size_t sd_lora_table_find(const struct sd_lora_table *t, const char *flat, bool *diffusers)
{
    size_t slot = sd_hash_name(flat) & (t->size - 1);
    for (; t->slots[slot].key; slot = (slot + 1) & (t->size - 1))
        if (!strcmp(t->slots[slot].key, flat)) {
            if (diffusers) *diffusers = t->slots[slot].diffusers;
            return t->slots[slot].index;
        }
    return SIZE_MAX;
}

size_t sd_lora_table_targets(const struct sd_lora_table *t)
{
    return t->targets;
}

void sd_lora_table_free(struct sd_lora_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->size; i++)
        free(t->slots[i].key);
    free(t->slots);
    free(t);
}
