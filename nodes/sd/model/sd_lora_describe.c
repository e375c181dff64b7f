/*
** sd_lora_describe.c - the text `lcmflow info LORA` shows for a LoRA file.
*/
#include "sd_lora.h"

#include <stdio.h>
#include <string.h>

static bool ends_with(const char *s, size_t n, const char *suffix, size_t m)
{
    return n >= m && !memcmp(s + n - m, suffix, m);
}

/* The kind of layer a module's '_'-form path names (both UNet namings). */
static int layer_kind(const struct sd_lora_module *m)
{
    static const char *const kinds[][4] = {
        {"_to_q", "_to_k", "_to_v", "_to_out_0"},
        {"_ff_net_0_proj", "_ff_net_2", "", ""},
        {"_proj_in", "_proj_out", "", ""},
        {"_conv1", "_conv2", "_in_layers_2", "_out_layers_3"},
        {"_time_emb_proj", "_emb_layers_1", "", ""},
        {"_conv_shortcut", "_skip_connection", "", ""},
        {"samplers_0_conv", "_0_op", "_1_conv", "_2_conv"},
    };
    size_t n = strlen(m->flat);
    if (m->part == SD_LORA_PART_CLIP) return 7;
    for (int k = 0; k < 7; k++)
        for (int j = 0; j < 4; j++) {
            size_t len = strlen(kinds[k][j]);
            if (len && ends_with(m->flat, n, kinds[k][j], len)) return k;
        }
    return 8;
}

void sd_lora_describe(const struct sd_lora *lora, const struct sd_lora_report *report, char *buf,
                      size_t size)
{
    static const char *const names[9] = {"attention",        "feed-forward",  "proj_in/out",
                                         "resnet convs",     "time_emb_proj", "shortcuts",
                                         "down/up-samplers", "text encoder",  "other"};
    size_t count[9] = {0}, parts[3] = {0};
    float amin = 0, amax = 0;
    for (size_t i = 0; i < lora->count; i++) {
        const struct sd_lora_module *m = &lora->modules[i];
        count[layer_kind(m)]++;
        parts[m->part]++;
        if (!i || m->alpha < amin) amin = m->alpha;
        if (!i || m->alpha > amax) amax = m->alpha;
    }
    size_t used = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (used < size) {                                                                         \
            int w_ = snprintf(buf + used, size - used, __VA_ARGS__);                               \
            used += w_ > 0 ? (size_t)w_ : 0;                                                       \
        }                                                                                          \
    } while (0)
    if (size) buf[0] = '\0';
    PUT("LoRA, %s format: %zu modules (%zu UNet, %zu text encoder, %zu unknown), %lld "
        "parameters\n",
        sd_lora_format_name(lora->format), lora->count, parts[SD_LORA_PART_UNET],
        parts[SD_LORA_PART_CLIP], parts[SD_LORA_PART_UNKNOWN], (long long)lora->params);
    if (lora->min_rank == lora->max_rank)
        PUT("rank %lld", (long long)lora->min_rank);
    else
        PUT("rank %lld..%lld", (long long)lora->min_rank, (long long)lora->max_rank);
    if (amin == amax)
        PUT(", alpha %g (scale %g at strength 1)\n", (double)amin,
            (double)amin / (double)lora->max_rank);
    else
        PUT(", alpha %g..%g\n", (double)amin, (double)amax);
    PUT("layers:");
    for (int k = 0, first = 1; k < 9; k++)
        if (count[k]) {
            PUT("%s %s %zu", first ? "" : ",", names[k], count[k]);
            first = 0;
        }
    PUT("\n");
    if (report) {
        PUT("matches %zu of %zu UNet layers", report->matched_unet, report->unet_targets);
        if (report->matched_unet)
            PUT(" (by %s module names)", report->matched_diffusers && report->matched_ldm
                                             ? "LDM and diffusers"
                                         : report->matched_diffusers ? "diffusers"
                                                                     : "LDM");
        PUT(", %zu of %zu text-encoder layers\n", report->matched_clip, report->clip_targets);
        if (report->warning) PUT("warning: %s\n", report->warning);
    }
    if (lora->ignored_count) PUT("%zu keys are no LoRA weight\n", lora->ignored_count);
#undef PUT
}
