/*
** sd_synth_lora.c - a random LoRA in the published LCM-LoRA layout (see
** sd_synth_lora.h), built from the architecture's tensor list.
*/
#include "sd_synth_lora.h"

#include "lcmflow/safetensors.h"
#include "lcmflow/tensor.h"
#include "sd_names.h"
#include "sd_synth.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct synth {
    struct sd_synth_writer w;
    struct sd_names names; /* the UNet's LDM <-> diffusers names */
    int rank;
    float alpha;
    int modules;
    int64_t params;
};

/* The diffusers module names the LCM-LoRA targets (suffixes). */
static bool is_target(const char *module)
{
    static const char *const targets[] = {
        ".to_q",          ".to_k",          ".to_v",           ".to_out.0", ".proj_in",
        ".proj_out",      ".ff.net.0.proj", ".ff.net.2",       ".conv1",    ".conv2",
        ".conv_shortcut", ".time_emb_proj", "samplers.0.conv",
    };
    size_t n = strlen(module);
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        size_t m = strlen(targets[i]);
        if (n >= m && !strcmp(module + n - m, targets[i])) return true;
    }
    return false;
}

static void each(const struct sd_arch_tensor *t, void *user)
{
    struct synth *s = user;
    size_t len = strlen(t->name), plen = strlen(SD_LDM_UNET_PREFIX);
    char diff[256], key[300];
    if (s->w.status || strncmp(t->name, SD_LDM_UNET_PREFIX, plen) != 0 || len < plen + 8 ||
        strcmp(t->name + len - 7, ".weight") != 0 || (t->rank != 2 && t->rank != 4) ||
        !sd_names_to_diffusers(&s->names, t->name + plen, diff))
        return;
    diff[strlen(diff) - 7] = '\0';
    if (!is_target(diff)) return;
    for (char *c = diff; *c; c++)
        if (*c == '.') *c = '_';
    int64_t r = s->rank, down[4] = {r, t->shape[1], 1, 1}, up[4] = {t->shape[0], r, 1, 1};
    if (t->rank == 4) down[2] = t->shape[2], down[3] = t->shape[3];
    int64_t fan_in = t->shape[1] * (t->rank == 4 ? t->shape[2] * t->shape[3] : 1);
    snprintf(key, sizeof key, "lora_unet_%s.lora_down.weight", diff);
    s->params +=
        sd_synth_add(&s->w, key, LF_DTYPE_F16, t->rank, down, 1.0f / sqrtf((float)fan_in), 0.0f);
    snprintf(key, sizeof key, "lora_unet_%s.lora_up.weight", diff);
    s->params += sd_synth_add(&s->w, key, LF_DTYPE_F16, t->rank, up, 0.1f / sqrtf((float)r), 0.0f);
    snprintf(key, sizeof key, "lora_unet_%s.alpha", diff);
    /* a 0-dimensional scalar, as kohya writes it */
    sd_synth_add(&s->w, key, LF_DTYPE_F16, 0, down, 0.0f, s->alpha);
    s->modules++;
}

enum lf_status sd_synth_lora(const struct sd_arch *arch, int rank, float alpha, uint64_t seed,
                             const char *path, int *modules, int64_t *params, struct lf_error *err)
{
    if (rank < 1 || rank > 4096)
        return lf_error_set(err, LF_ERR_INVALID, "LoRA rank %d: want 1..4096", rank);
    struct synth s = {.rank = rank, .alpha = alpha};
    char text[64];
    if (!sd_synth_writer_init(&s.w, seed, err))
        s.w.status = sd_names_unet(&arch->unet, &s.names, err);
    if (!s.w.status) sd_arch_each(arch, each, &s);
    snprintf(text, sizeof text, "%d", rank);
    if (!s.w.status)
        s.w.status = lf_safetensors_writer_set_metadata(s.w.writer, "ss_network_dim", text, err);
    snprintf(text, sizeof text, "%g", (double)alpha);
    if (!s.w.status)
        s.w.status = lf_safetensors_writer_set_metadata(s.w.writer, "ss_network_alpha", text, err);
    if (!s.w.status)
        s.w.status = lf_safetensors_writer_set_metadata(
            s.w.writer, "lcmflow.synthetic", "random LoRA, published LCM-LoRA SD 1.5 layout", err);
    enum lf_status status = sd_synth_writer_finish(&s.w, path);
    sd_names_clear(&s.names);
    if (modules) *modules = s.modules;
    if (params) *params = s.params;
    return status;
}
