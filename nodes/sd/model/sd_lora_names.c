/*
** sd_lora_names.c - the names a LoRA module may use for a layer: the
** LDM -> diffusers UNet mapping, and the lookup table of every layer's
** module path in '_' form.
*/
#include "sd_lora_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resnet members, LDM -> diffusers.  rest starts after "<block>.0.". */
static bool resnet_member(const char *rest, char *member)
{
    static const char *const map[][2] = {
        {"in_layers.0.", "norm1."},          {"in_layers.2.", "conv1."},
        {"out_layers.0.", "norm2."},         {"out_layers.3.", "conv2."},
        {"emb_layers.1.", "time_emb_proj."}, {"skip_connection.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        size_t n = strlen(map[i][0]);
        if (!strncmp(rest, map[i][0], n)) {
            snprintf(member, 200, "%s%s", map[i][1], rest + n);
            return true;
        }
    }
    return false;
}

/* Writes "<block>.<member>" for a resnet, false when the member is unknown. */
static bool resnet(const char *block, const char *rest, char *out)
{
    char member[200];
    if (!resnet_member(rest, member)) return false;
    snprintf(out, 256, "%s.%s", block, member);
    return true;
}

bool sd_unet_name_to_diffusers(const char *name, char *out)
{
    int b, p, n = 0;
    char block[64];
    if (sscanf(name, "time_embed.%d.%n", &b, &n) == 1 && n && (b == 0 || b == 2)) {
        snprintf(out, 256, "time_embedding.linear_%d.%s", b == 0 ? 1 : 2, name + n);
        return true;
    }
    n = 0;
    if (sscanf(name, "out.%d.%n", &b, &n) == 1 && n && (b == 0 || b == 2)) {
        snprintf(out, 256, "%s.%s", b == 0 ? "conv_norm_out" : "conv_out", name + n);
        return true;
    }
    n = 0;
    if (sscanf(name, "input_blocks.%d.%d.%n", &b, &p, &n) == 2 && n) {
        const char *rest = name + n;
        if (b == 0 && p == 0) {
            snprintf(out, 256, "conv_in.%s", rest);
            return true;
        }
        if (b <= 0) return false;
        if (b % 3 == 0) { /* input_blocks.3/6/9.0.op: the downsampler */
            if (p != 0 || strncmp(rest, "op.", 3) != 0) return false;
            snprintf(out, 256, "down_blocks.%d.downsamplers.0.conv.%s", b / 3 - 1, rest + 3);
            return true;
        }
        int i = (b - 1) / 3, j = (b - 1) % 3;
        if (p == 0) {
            snprintf(block, sizeof block, "down_blocks.%d.resnets.%d", i, j);
            return resnet(block, rest, out);
        }
        if (p != 1) return false;
        snprintf(out, 256, "down_blocks.%d.attentions.%d.%s", i, j, rest);
        return true;
    }
    n = 0;
    if (sscanf(name, "middle_block.%d.%n", &p, &n) == 1 && n) {
        if (p == 1) {
            snprintf(out, 256, "mid_block.attentions.0.%s", name + n);
            return true;
        }
        if (p != 0 && p != 2) return false;
        snprintf(block, sizeof block, "mid_block.resnets.%d", p / 2);
        return resnet(block, name + n, out);
    }
    n = 0;
    if (sscanf(name, "output_blocks.%d.%d.%n", &b, &p, &n) == 2 && n && b >= 0) {
        const char *rest = name + n;
        int i = b / 3, j = b % 3;
        if (p == 0) {
            snprintf(block, sizeof block, "up_blocks.%d.resnets.%d", i, j);
            return resnet(block, rest, out);
        }
        /* The upsampler is part 2, or part 1 in a block without attention
        ** (up_blocks.0); an attention never has a direct "conv" child. */
        if ((p == 1 || p == 2) && !strncmp(rest, "conv.", 5)) {
            if (j != 2) return false;
            snprintf(out, 256, "up_blocks.%d.upsamplers.0.conv.%s", i, rest + 5);
            return true;
        }
        if (p != 1) return false;
        snprintf(out, 256, "up_blocks.%d.attentions.%d.%s", i, j, rest);
        return true;
    }
    return false;
}

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

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Adds the '_' form of module (a dotted path); a key already present is
** kept (both namings of a layer point at the same weight anyway). */
static enum lf_status add(struct sd_lora_table *t, const char *module, size_t index, bool diffusers,
                          struct lf_error *err)
{
    char *key = strdup(module);
    if (!key) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (char *c = key; *c; c++)
        if (*c == '.') *c = '_';
    size_t slot = hash(key) & (t->size - 1);
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
    enum lf_status s = LF_OK;
    for (size_t i = 0; i < w->count && !s; i++) {
        const char *name = w->items[i].name;
        size_t len = strlen(name);
        int rank = w->items[i].tensor->rank;
        if (len < 8 || len >= 256 || strcmp(name + len - 7, ".weight") != 0 ||
            (rank != 2 && rank != 4) || strstr(name, "_embedding."))
            continue; /* norms, biases and CLIP's embedding tables take no LoRA */
        char module[256], diff[256];
        memcpy(module, name, len - 7);
        module[len - 7] = '\0';
        t->targets++;
        s = add(t, module, i, false, err);
        if (!s && part == SD_LORA_PART_UNET && sd_unet_name_to_diffusers(name, diff)) {
            diff[strlen(diff) - 7] = '\0'; /* the mapping keeps the ".weight" suffix */
            s = add(t, diff, i, true, err);
        }
    }
    if (s) {
        sd_lora_table_free(t);
        return s;
    }
    *out = t;
    return LF_OK;
}

size_t sd_lora_table_find(const struct sd_lora_table *t, const char *flat, bool *diffusers)
{
    size_t slot = hash(flat) & (t->size - 1);
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
