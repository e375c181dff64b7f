/*
** sd_checkpoint.c - SD 1.5 checkpoints in the single-file and diffusers
** layouts, split into component weights with original-LDM names.
*/
#include "sd_checkpoint.h"
#include "sd_arch_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

enum lf_status sd_refuse_pickle(const char *path, struct lf_error *err)
{
    static const char *const pickle[] = {".ckpt", ".pt", ".pth", ".bin", ".pkl"};
    for (size_t i = 0; i < sizeof pickle / sizeof *pickle; i++)
        if (has_suffix(path, pickle[i]))
            return lf_error_set_at(
                err, LF_ERR_UNSUPPORTED, path, 0, 0,
                "pickle checkpoints are refused: loading one can execute arbitrary code. "
                "Convert it once to .safetensors (e.g. with the safetensors project's "
                "convert script, or in Python: safetensors.torch.save_file(torch.load(f, "
                "weights_only=True)['state_dict'], 'model.safetensors'))");
    return LF_OK;
}

static bool strip_prefix(const char *name, const char *prefix, char *out)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || strlen(name + n) >= 256) return false;
    strcpy(out, name + n);
    return true;
}

static bool map_unet_ldm(const char *name, char *out, void *user)
{
    return strip_prefix(name, SD_LDM_UNET_PREFIX, out);
}

static bool map_vae_ldm(const char *name, char *out, void *user)
{
    return strip_prefix(name, SD_LDM_VAE_PREFIX, out);
}

/* The text encoder's names are the same in both layouts (relative to the
** LDM prefix); its position ids are a buffer, not a weight. */
static bool map_clip(const char *name, char *out, void *user)
{
    const char *prefix = user;
    return strip_prefix(name, prefix, out) && strncmp(out, "text_model.", 11) == 0 &&
           !has_suffix(out, "position_ids");
}

static bool map_diffusers(const char *name, char *out, void *user)
{
    return sd_names_to_ldm(user, name, out);
}

/* The diffusers VAE (and some converted single files) store its mid-block
** q/k/v/proj_out as [C, C] linear weights; the LDM layout (and our code)
** uses [C, C, 1, 1] 1x1 convs. */
static enum lf_status vae_attention_as_conv(struct sd_weights *w, struct lf_error *err)
{
    for (size_t i = 0; i < w->count; i++) {
        struct sd_weight *item = &w->items[i];
        if (!strstr(item->name, ".mid.attn_1.") || !has_suffix(item->name, ".weight") ||
            item->tensor->rank != 2)
            continue;
        int64_t shape[4] = {item->tensor->shape[0], item->tensor->shape[1], 1, 1};
        struct lf_tensor *t;
        enum lf_status s = lf_tensor_reshape(item->tensor, 4, shape, &t, err);
        if (s) return s;
        lf_tensor_release(item->tensor);
        item->tensor = t;
        item->rank = 4;
        memcpy(item->shape, shape, sizeof shape);
    }
    return LF_OK;
}

/* Reads component c's architecture from the file as its loader sees it and
** checks that every tensor it needs is there, of its shape and a float
** dtype (sd_arch_check.h).  A component without its first tensor is left
** to sd_unet_init & co, which name that tensor. */
static enum lf_status read_checked(const struct sd_file_view *view, enum sd_component c, int heads,
                                   struct sd_arch *arch, struct lf_error *err)
{
    bool found;
    if (c == SD_COMPONENT_UNET) {
        sd_arch_read_unet(sd_file_view_lookup, (void *)view, &arch->unet);
        found = arch->unet.found;
    } else if (c == SD_COMPONENT_VAE) {
        sd_arch_read_vae(sd_file_view_lookup, (void *)view, &arch->vae);
        found = arch->vae.found;
    } else {
        sd_arch_read_text(sd_file_view_lookup, (void *)view, heads, &arch->text);
        found = arch->text.found;
    }
    return found ? sd_arch_check(arch, c, view, err) : LF_OK;
}

static enum lf_status load_file(struct lf_device *device, enum lf_dtype dtype, struct sd_file *file,
                                sd_name_map map, void *user, struct sd_weights **out,
                                struct lf_error *err)
{
    enum lf_status s = sd_weights_create(device, dtype, out, err);
    if (!s) s = sd_weights_add_file(*out, file, map, user, err);
    return s;
}

/* One component of a diffusers folder: its UNet/VAE names mapped to LDM
** names through the table of the layout its own names describe. */
static enum lf_status load_part(struct lf_device *device, enum lf_dtype dtype, const char *dir,
                                enum sd_component c, struct sd_checkpoint *ck,
                                struct sd_weights **out, struct lf_error *err)
{
    char path[1200];
    struct sd_file *file;
    sd_diffusers_weights(dir, c, path, sizeof path);
    enum lf_status s = sd_file_open(path, &file, err);
    if (s) return s;
    struct sd_names names = {0};
    if (c != SD_COMPONENT_TEXT)
        s = sd_names_of_diffusers_file(file->st, c == SD_COMPONENT_UNET, &names, err);
    int heads = 0;
    if (c == SD_COMPONENT_TEXT) {
        char config[1200];
        sd_diffusers_config(dir, SD_COMPONENT_TEXT, config, sizeof config);
        heads = sd_config_int(config, "num_attention_heads");
    }
    struct sd_file_view view = {file->st, "", c == SD_COMPONENT_TEXT ? NULL : &names};
    if (!s) s = read_checked(&view, c, heads, &ck->arch, err);
    if (!s && c == SD_COMPONENT_TEXT)
        s = load_file(device, dtype, file, map_clip, "", out, err);
    else if (!s)
        s = load_file(device, dtype, file, map_diffusers, &names, out, err);
    if (!s && c == SD_COMPONENT_VAE) s = vae_attention_as_conv(*out, err);
    sd_names_clear(&names);
    sd_file_release(file);
    return s;
}

static enum lf_status load_diffusers(struct lf_device *device, const char *dir, enum lf_dtype dtype,
                                     struct sd_checkpoint *ck, struct lf_error *err)
{
    struct sd_weights **parts[SD_COMPONENT_COUNT] = {[SD_COMPONENT_UNET] = &ck->unet,
                                                     [SD_COMPONENT_VAE] = &ck->vae,
                                                     [SD_COMPONENT_TEXT] = &ck->clip};
    ck->diffusers = true;
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        enum lf_status s = load_part(device, dtype, dir, (enum sd_component)c, ck, parts[c], err);
        if (s) return s;
    }
    return LF_OK;
}

static enum lf_status load_single(struct lf_device *device, const char *path, enum lf_dtype dtype,
                                  struct sd_checkpoint *ck, struct lf_error *err)
{
    struct sd_file *file;
    enum lf_status s = sd_file_open(path, &file, err);
    if (s) return s;
    if (!lf_safetensors_find(file->st, SD_LDM_UNET_PREFIX "input_blocks.0.0.weight"))
        s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                            "not an SD 1.5 checkpoint: no tensor '%sinput_blocks.0.0.weight' "
                            "(see 'lcmflow info' for what the file is)",
                            SD_LDM_UNET_PREFIX);
    struct sd_file_view unet = {file->st, SD_LDM_UNET_PREFIX, NULL},
                        vae = {file->st, SD_LDM_VAE_PREFIX, NULL},
                        text = {file->st, SD_LDM_CLIP_PREFIX, NULL};
    if (!s) s = read_checked(&unet, SD_COMPONENT_UNET, 0, &ck->arch, err);
    if (!s) s = read_checked(&vae, SD_COMPONENT_VAE, 0, &ck->arch, err);
    if (!s) s = read_checked(&text, SD_COMPONENT_TEXT, 0, &ck->arch, err);
    if (!s) s = load_file(device, dtype, file, map_unet_ldm, NULL, &ck->unet, err);
    if (!s) s = load_file(device, dtype, file, map_vae_ldm, NULL, &ck->vae, err);
    if (!s) s = vae_attention_as_conv(ck->vae, err);
    if (!s) s = load_file(device, dtype, file, map_clip, SD_LDM_CLIP_PREFIX, &ck->clip, err);
    sd_file_release(file);
    return s;
}

enum lf_status sd_checkpoint_load(struct lf_device *device, const char *path, enum lf_dtype dtype,
                                  struct sd_checkpoint *out, struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    enum lf_status s = sd_refuse_pickle(path, err);
    if (s) return s;
    s = sd_is_dir(path) ? load_diffusers(device, path, dtype, out, err)
                        : load_single(device, path, dtype, out, err);
    if (s) sd_checkpoint_clear(out);
    return s;
}

enum lf_dtype sd_activation_dtype(const struct lf_device *device, enum lf_dtype weights)
{
    /* f16 activations only pay where f16 is computed natively; elsewhere
    ** (lavapipe converts every value) they cost time and precision. */
    if (weights == LF_DTYPE_BF16) return LF_DTYPE_BF16;
    if (weights == LF_DTYPE_F16 && lf_device_has(device, LF_DEVICE_CAP_F16_ARITHMETIC))
        return weights;
    return LF_DTYPE_F32;
}

bool sd_dtype_name_valid(const char *name)
{
    return !strcmp(name, "auto") || !strcmp(name, "f32") || !strcmp(name, "f16") ||
           !strcmp(name, "bf16");
}

enum lf_status sd_dtype_choose(const struct lf_device *device, const char *name,
                               enum lf_dtype *weights, enum lf_dtype *activations,
                               struct lf_error *err)
{
    if (!sd_dtype_name_valid(name))
        return lf_error_set(err, LF_ERR_INVALID, "dtype must be auto, f16, bf16 or f32, not '%s'",
                            name);
    if (!strcmp(name, "auto")) {
        *weights = lf_device_has(device, LF_DEVICE_CAP_BF16_NATIVE)   ? LF_DTYPE_BF16
                   : lf_device_has(device, LF_DEVICE_CAP_F16_WEIGHTS) ? LF_DTYPE_F16
                                                                      : LF_DTYPE_F32;
        *activations = sd_activation_dtype(device, *weights);
        return LF_OK;
    }
    *weights = !strcmp(name, "f32")   ? LF_DTYPE_F32
               : !strcmp(name, "f16") ? LF_DTYPE_F16
                                      : LF_DTYPE_BF16;
    *activations = *weights;
    if (*weights == LF_DTYPE_F16 && !lf_device_supports_f16(device))
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "dtype f16: the device has no f16 storage");
    if (*weights == LF_DTYPE_BF16 && !lf_device_has(device, LF_DEVICE_CAP_BF16))
        return lf_error_set(err, LF_ERR_UNSUPPORTED,
                            "dtype bf16: device '%s' does not compute bf16 (the CPU backend "
                            "does: --device cpu)",
                            lf_device_get_info(device)->name);
    return LF_OK;
}

void sd_checkpoint_clear(struct sd_checkpoint *ckpt)
{
    sd_weights_release(ckpt->unet);
    sd_weights_release(ckpt->vae);
    sd_weights_release(ckpt->clip);
    memset(ckpt, 0, sizeof *ckpt);
}
