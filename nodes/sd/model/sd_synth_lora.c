/*
** sd_synth_lora.c - a random LoRA in the published LCM-LoRA layout (see
** sd_synth_lora.h), built from the architecture's tensor list.
*/
#include "sd_synth_lora.h"

#include "lcmflow/safetensors.h"
#include "lcmflow/tensor.h"
#include "sd_names.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct synth {
    struct lf_safetensors_writer *writer;
    struct sd_names names; /* the UNet's LDM <-> diffusers names */
    int rank;
    uint16_t alpha; /* f16 bits */
    uint64_t seed;
    void **buffers;
    size_t count, capacity;
    int modules;
    int64_t params;
    enum lf_status status;
    struct lf_error *err;
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

static uint64_t next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static uint64_t seed_for(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h | 1;
}

/* Adds a tensor of U(-bound, bound) f16 values (bound 0: the alpha). */
static void add(struct synth *s, const char *name, int rank, const int64_t *shape, float bound)
{
    if (s->status) return;
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    uint16_t *data = malloc((size_t)n * sizeof *data);
    if (!data || (s->count == s->capacity &&
                  !(s->buffers = realloc(s->buffers, (s->capacity = s->capacity * 2 + 64) *
                                                         sizeof *s->buffers)))) {
        free(data);
        s->status = lf_error_set(s->err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        return;
    }
    s->buffers[s->count++] = data;
    uint64_t state = seed_for(s->seed, name);
    for (int64_t i = 0; i < n; i++) {
        float u = (float)((next(&state) >> 40) * (1.0 / 16777216.0));
        data[i] = bound > 0.0f ? lf_f32_to_f16(bound * (2.0f * u - 1.0f)) : s->alpha;
    }
    if (bound > 0.0f) s->params += n;
    s->status = lf_safetensors_writer_add(s->writer, name, LF_ST_DTYPE_F16, rank, shape, data,
                                          (size_t)n * sizeof *data, s->err);
}

static void each(const struct sd_arch_tensor *t, void *user)
{
    struct synth *s = user;
    size_t len = strlen(t->name), plen = strlen(SD_LDM_UNET_PREFIX);
    char diff[256], key[300];
    if (s->status || strncmp(t->name, SD_LDM_UNET_PREFIX, plen) != 0 || len < plen + 8 ||
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
    add(s, key, t->rank, down, 1.0f / sqrtf((float)fan_in));
    snprintf(key, sizeof key, "lora_unet_%s.lora_up.weight", diff);
    add(s, key, t->rank, up, 0.1f / sqrtf((float)r));
    snprintf(key, sizeof key, "lora_unet_%s.alpha", diff);
    add(s, key, 0, down, 0.0f); /* a 0-dimensional scalar, as kohya writes it */
    s->modules++;
}

enum lf_status sd_synth_lora(const struct sd_arch *arch, int rank, float alpha, uint64_t seed,
                             const char *path, int *modules, int64_t *params, struct lf_error *err)
{
    if (rank < 1 || rank > 4096)
        return lf_error_set(err, LF_ERR_INVALID, "LoRA rank %d: want 1..4096", rank);
    struct synth s = {.rank = rank, .alpha = lf_f32_to_f16(alpha), .seed = seed, .err = err};
    char text[64];
    s.status = lf_safetensors_writer_create(&s.writer, err);
    if (!s.status) s.status = sd_names_unet(&arch->unet, &s.names, err);
    if (!s.status) sd_arch_each(arch, each, &s);
    snprintf(text, sizeof text, "%d", rank);
    if (!s.status)
        s.status = lf_safetensors_writer_set_metadata(s.writer, "ss_network_dim", text, err);
    snprintf(text, sizeof text, "%g", (double)alpha);
    if (!s.status)
        s.status = lf_safetensors_writer_set_metadata(s.writer, "ss_network_alpha", text, err);
    if (!s.status)
        s.status = lf_safetensors_writer_set_metadata(
            s.writer, "lcmflow.synthetic", "random LoRA, published LCM-LoRA SD 1.5 layout", err);
    if (!s.status) s.status = lf_safetensors_writer_write(s.writer, path, err);
    for (size_t i = 0; i < s.count; i++)
        free(s.buffers[i]);
    free(s.buffers);
    lf_safetensors_writer_free(s.writer);
    sd_names_clear(&s.names);
    if (modules) *modules = s.modules;
    if (params) *params = s.params;
    return s.status;
}
