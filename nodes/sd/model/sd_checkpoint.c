/*
** sd_checkpoint.c - SD 1.5 checkpoints in the single-file and diffusers
** layouts, split into component weights with original-LDM names.
*/
#include "sd_checkpoint.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define UNET_PREFIX "model.diffusion_model."
#define VAE_PREFIX  "first_stage_model."
#define CLIP_PREFIX "cond_stage_model.transformer."

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
    return strip_prefix(name, UNET_PREFIX, out);
}

static bool map_vae_ldm(const char *name, char *out, void *user)
{
    return strip_prefix(name, VAE_PREFIX, out);
}

static bool map_clip_ldm(const char *name, char *out, void *user)
{
    return strip_prefix(name, CLIP_PREFIX, out) && strncmp(out, "text_model.", 11) == 0 &&
           !has_suffix(out, "position_ids");
}

static bool map_clip_diffusers(const char *name, char *out, void *user)
{
    if (strncmp(name, "text_model.", 11) != 0 || strlen(name) >= 256 ||
        has_suffix(name, "position_ids"))
        return false;
    strcpy(out, name);
    return true;
}

/* Renames resnet members: norm1 -> in_layers.0 and so on.  rest starts
** after "resnets.j.". */
static bool unet_resnet_member(const char *rest, char *member)
{
    static const char *const map[][2] = {
        {"norm1.", "in_layers.0."},          {"conv1.", "in_layers.2."},
        {"norm2.", "out_layers.0."},         {"conv2.", "out_layers.3."},
        {"time_emb_proj.", "emb_layers.1."}, {"conv_shortcut.", "skip_connection."},
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

bool sd_unet_name_from_diffusers(const char *name, char *out)
{
    int i, j, n = 0;
    char member[200];
    const char *rest;
    if (sscanf(name, "time_embedding.linear_%d.%n", &i, &n) == 1 && n) {
        snprintf(out, 256, "time_embed.%d.%s", i == 1 ? 0 : 2, name + n);
        return true;
    }
    if (!strncmp(name, "conv_in.", 8)) {
        snprintf(out, 256, "input_blocks.0.0.%s", name + 8);
        return true;
    }
    if (!strncmp(name, "conv_norm_out.", 14)) {
        snprintf(out, 256, "out.0.%s", name + 14);
        return true;
    }
    if (!strncmp(name, "conv_out.", 9)) {
        snprintf(out, 256, "out.2.%s", name + 9);
        return true;
    }
    n = 0;
    if (sscanf(name, "down_blocks.%d.resnets.%d.%n", &i, &j, &n) == 2 && n) {
        rest = name + n;
        if (!unet_resnet_member(rest, member)) return false;
        snprintf(out, 256, "input_blocks.%d.0.%s", 3 * i + j + 1, member);
        return true;
    }
    n = 0;
    if (sscanf(name, "down_blocks.%d.attentions.%d.%n", &i, &j, &n) == 2 && n) {
        snprintf(out, 256, "input_blocks.%d.1.%s", 3 * i + j + 1, name + n);
        return true;
    }
    n = 0;
    if (sscanf(name, "down_blocks.%d.downsamplers.0.conv.%n", &i, &n) == 1 && n) {
        snprintf(out, 256, "input_blocks.%d.0.op.%s", 3 * (i + 1), name + n);
        return true;
    }
    n = 0;
    if (sscanf(name, "mid_block.resnets.%d.%n", &i, &n) == 1 && n) {
        if (!unet_resnet_member(name + n, member)) return false;
        snprintf(out, 256, "middle_block.%d.%s", i == 0 ? 0 : 2, member);
        return true;
    }
    n = 0;
    if (sscanf(name, "mid_block.attentions.0.%n", &n) == 0 && n) {
        snprintf(out, 256, "middle_block.1.%s", name + n);
        return true;
    }
    n = 0;
    if (sscanf(name, "up_blocks.%d.resnets.%d.%n", &i, &j, &n) == 2 && n) {
        if (!unet_resnet_member(name + n, member)) return false;
        snprintf(out, 256, "output_blocks.%d.0.%s", 3 * i + j, member);
        return true;
    }
    n = 0;
    if (sscanf(name, "up_blocks.%d.attentions.%d.%n", &i, &j, &n) == 2 && n) {
        snprintf(out, 256, "output_blocks.%d.1.%s", 3 * i + j, name + n);
        return true;
    }
    n = 0;
    if (sscanf(name, "up_blocks.%d.upsamplers.0.conv.%n", &i, &n) == 1 && n) {
        /* The first up block has no attentions, so its upsampler is part 1. */
        snprintf(out, 256, "output_blocks.%d.%d.conv.%s", 3 * i + 2, i == 0 ? 1 : 2, name + n);
        return true;
    }
    return false;
}

static bool vae_resnet_member(const char *rest, char *member)
{
    if (!strncmp(rest, "conv_shortcut.", 14))
        snprintf(member, 200, "nin_shortcut.%s", rest + 14);
    else
        snprintf(member, 200, "%s", rest);
    return true;
}

bool sd_vae_name_from_diffusers(const char *name, char *out)
{
    int i, j, n = 0;
    char side[16], member[200];
    const char *rest;
    if (!strncmp(name, "encoder.", 8))
        strcpy(side, "encoder");
    else if (!strncmp(name, "decoder.", 8))
        strcpy(side, "decoder");
    else {
        if (!strncmp(name, "quant_conv.", 11) || !strncmp(name, "post_quant_conv.", 16)) {
            snprintf(out, 256, "%s", name);
            return true;
        }
        return false;
    }
    rest = name + 8;
    if (sscanf(rest, "down_blocks.%d.resnets.%d.%n", &i, &j, &n) == 2 && n) {
        vae_resnet_member(rest + n, member);
        snprintf(out, 256, "%s.down.%d.block.%d.%s", side, i, j, member);
        return true;
    }
    n = 0;
    if (sscanf(rest, "down_blocks.%d.downsamplers.0.conv.%n", &i, &n) == 1 && n) {
        snprintf(out, 256, "%s.down.%d.downsample.conv.%s", side, i, rest + n);
        return true;
    }
    n = 0;
    if (sscanf(rest, "up_blocks.%d.resnets.%d.%n", &i, &j, &n) == 2 && n) {
        vae_resnet_member(rest + n, member);
        snprintf(out, 256, "%s.up.%d.block.%d.%s", side, 3 - i, j, member);
        return true;
    }
    n = 0;
    if (sscanf(rest, "up_blocks.%d.upsamplers.0.conv.%n", &i, &n) == 1 && n) {
        snprintf(out, 256, "%s.up.%d.upsample.conv.%s", side, 3 - i, rest + n);
        return true;
    }
    n = 0;
    if (sscanf(rest, "mid_block.resnets.%d.%n", &i, &n) == 1 && n) {
        vae_resnet_member(rest + n, member);
        snprintf(out, 256, "%s.mid.block_%d.%s", side, i + 1, member);
        return true;
    }
    static const char *const attn[][2] = {
        {"mid_block.attentions.0.group_norm.", "mid.attn_1.norm."},
        {"mid_block.attentions.0.to_q.", "mid.attn_1.q."},
        {"mid_block.attentions.0.to_k.", "mid.attn_1.k."},
        {"mid_block.attentions.0.to_v.", "mid.attn_1.v."},
        {"mid_block.attentions.0.to_out.0.", "mid.attn_1.proj_out."},
        {"conv_norm_out.", "norm_out."},
    };
    for (size_t k = 0; k < sizeof attn / sizeof *attn; k++) {
        size_t m = strlen(attn[k][0]);
        if (!strncmp(rest, attn[k][0], m)) {
            snprintf(out, 256, "%s.%s%s", side, attn[k][1], rest + m);
            return true;
        }
    }
    snprintf(out, 256, "%s.%s", side, rest); /* conv_in, conv_out */
    return true;
}

static bool map_unet_diffusers(const char *name, char *out, void *user)
{
    return sd_unet_name_from_diffusers(name, out);
}

static bool map_vae_diffusers(const char *name, char *out, void *user)
{
    return sd_vae_name_from_diffusers(name, out);
}

/* The diffusers VAE stores its mid-block q/k/v/proj_out as [C, C] linear
** weights; the LDM layout (and our code) uses [C, C, 1, 1] 1x1 convs. */
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
    }
    return LF_OK;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int sd_config_int(const char *path, const char *key)
{
    json_object *root = json_object_from_file(path), *v;
    int value = 0;
    if (root && json_object_object_get_ex(root, key, &v) && json_object_is_type(v, json_type_int))
        value = json_object_get_int(v);
    json_object_put(root);
    return value;
}

static enum lf_status load_part(struct lf_device *device, enum lf_dtype dtype, const char *path,
                                sd_name_map map, struct sd_weights **out, struct lf_error *err)
{
    struct sd_file *file;
    enum lf_status s = sd_file_open(path, &file, err);
    if (s) return s;
    if ((s = sd_weights_create(device, dtype, out, err)) == LF_OK)
        s = sd_weights_add_file(*out, file, map, NULL, err);
    sd_file_release(file);
    return s;
}

static enum lf_status load_diffusers(struct lf_device *device, const char *dir, enum lf_dtype dtype,
                                     struct sd_checkpoint *ck, struct lf_error *err)
{
    char path[1024];
    enum lf_status s;
    ck->diffusers = true;
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    if ((s = load_part(device, dtype, path, map_unet_diffusers, &ck->unet, err))) return s;
    snprintf(path, sizeof path, "%s/vae/diffusion_pytorch_model.safetensors", dir);
    if ((s = load_part(device, dtype, path, map_vae_diffusers, &ck->vae, err)) ||
        (s = vae_attention_as_conv(ck->vae, err)))
        return s;
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", dir);
    if ((s = load_part(device, dtype, path, map_clip_diffusers, &ck->clip, err))) return s;
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    ck->text_heads = sd_config_int(path, "num_attention_heads");
    return LF_OK;
}

enum lf_status sd_checkpoint_load(struct lf_device *device, const char *path, enum lf_dtype dtype,
                                  struct sd_checkpoint *out, struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    enum lf_status s = sd_refuse_pickle(path, err);
    if (s) return s;
    if (is_dir(path)) {
        s = load_diffusers(device, path, dtype, out, err);
    } else {
        struct sd_file *file;
        if ((s = sd_file_open(path, &file, err))) return s;
        if (!lf_safetensors_find(file->st, UNET_PREFIX "input_blocks.0.0.weight")) {
            s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                "not an SD 1.5 checkpoint: no tensor '%sinput_blocks.0.0.weight' "
                                "(see 'lcmflow info' for what the file is)",
                                UNET_PREFIX);
        }
        if (!s && !(s = sd_weights_create(device, dtype, &out->unet, err)))
            s = sd_weights_add_file(out->unet, file, map_unet_ldm, NULL, err);
        if (!s && !(s = sd_weights_create(device, dtype, &out->vae, err)))
            s = sd_weights_add_file(out->vae, file, map_vae_ldm, NULL, err);
        if (!s && !(s = sd_weights_create(device, dtype, &out->clip, err)))
            s = sd_weights_add_file(out->clip, file, map_clip_ldm, NULL, err);
        sd_file_release(file);
    }
    if (s) sd_checkpoint_clear(out);
    return s;
}

enum lf_dtype sd_activation_dtype(const struct lf_device *device, enum lf_dtype weights)
{
    /* f16 activations only pay where f16 is computed natively; elsewhere
    ** (lavapipe converts every value) they cost time and precision. */
    return lf_device_has(device, LF_DEVICE_CAP_F16_ARITHMETIC) ? weights : LF_DTYPE_F32;
}

void sd_checkpoint_clear(struct sd_checkpoint *ckpt)
{
    sd_weights_release(ckpt->unet);
    sd_weights_release(ckpt->vae);
    sd_weights_release(ckpt->clip);
    memset(ckpt, 0, sizeof *ckpt);
}
