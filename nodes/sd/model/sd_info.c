/*
** sd_info.c - telling model files apart by their tensor names and shapes
** (see sd_info.h).
**
** The architecture is the loaders' (sd_arch_read_* on original-LDM names;
** diffusers files are seen through the name table, sd_names.h), LoRA files
** are read by LoraLoader's reader: `info` says what loading will find.
*/
#include "sd_info.h"
#include "sd_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Reads the architecture of one component of st: the UNet or VAE under
** LDM names (prefix) or diffusers names (diffusers true), or the text
** encoder (the same names in both; prefix "" for a diffusers file).  A
** component that is there is also checked tensor by tensor, as the
** checkpoint loader checks it (info->audit). */
static void read_arch(const struct lf_safetensors *st, enum sd_component c, const char *prefix,
                      bool diffusers, int config_heads, struct sd_info *info)
{
    struct sd_arch *arch = &info->arch;
    struct sd_names names = {0};
    struct sd_file_view view = {.st = st, .prefix = prefix};
    if (diffusers && c != SD_COMPONENT_TEXT &&
        sd_names_of_diffusers_file(st, c == SD_COMPONENT_UNET, &names, NULL) == LF_OK)
        view.names = &names;
    bool found;
    if (c == SD_COMPONENT_UNET) {
        sd_arch_read_unet(sd_file_view_lookup, &view, &arch->unet);
        found = arch->unet.found;
    } else if (c == SD_COMPONENT_VAE) {
        sd_arch_read_vae(sd_file_view_lookup, &view, &arch->vae);
        found = arch->vae.found;
    } else {
        sd_arch_read_text(sd_file_view_lookup, &view, config_heads, &arch->text);
        found = arch->text.found;
    }
    if (found) {
        sd_arch_audit_component(arch, c, &view, &info->audit[c]);
        info->audited[c] = true;
    }
    sd_names_clear(&names);
}

/* ---- parameter counts ---- */

static struct sd_info_component *component(struct sd_info *info, const char *name)
{
    for (int i = 0; i < info->component_count; i++)
        if (!strcmp(info->components[i].name, name)) return &info->components[i];
    if (info->component_count == SD_INFO_MAX_COMPONENTS) return NULL;
    struct sd_info_component *c = &info->components[info->component_count++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static void count_tensor(struct sd_info_component *c, const struct lf_safetensors_tensor *t)
{
    if (!c) return;
    c->tensors++;
    c->params += t->numel;
    c->bytes += (int64_t)t->nbytes;
    if ((int)t->st_dtype >= 0 && t->st_dtype < LF_ST_DTYPE_COUNT) c->dtype_tensors[t->st_dtype]++;
}

static void add_to(struct sd_info_component *dst, const struct sd_info_component *src)
{
    dst->tensors += src->tensors;
    dst->params += src->params;
    dst->bytes += src->bytes;
    for (int i = 0; i < LF_ST_DTYPE_COUNT; i++)
        dst->dtype_tensors[i] += src->dtype_tensors[i];
}

/* Fixes the row order: named rows first, in this order. */
static void preset_components(struct sd_info *info, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        component(info, names[i]);
}

/* Drops rows that stayed empty (not the missing diffusers parts). */
static void drop_empty(struct sd_info *info)
{
    int k = 0;
    for (int i = 0; i < info->component_count; i++)
        if (info->components[i].tensors || info->components[i].missing)
            info->components[k++] = info->components[i];
    info->component_count = k;
}

static void sum_total(struct sd_info *info)
{
    drop_empty(info);
    memset(&info->total, 0, sizeof info->total);
    snprintf(info->total.name, sizeof info->total.name, "total");
    for (int i = 0; i < info->component_count; i++)
        add_to(&info->total, &info->components[i]);
}

/* ---- checkpoints ---- */

static bool same_widths(const int *a, const int *b, int n)
{
    return !memcmp(a, b, (size_t)n * sizeof *a);
}

static bool is_real_sd15(const struct sd_arch *a)
{
    const struct sd_arch *r = &sd_arch_sd15;
    if (a->unet.levels != r->unet.levels ||
        !same_widths(a->unet.widths, r->unet.widths, r->unet.levels) ||
        a->unet.context_dim != r->unet.context_dim)
        return false;
    if (a->text.found && (a->text.layers != r->text.layers || a->text.hidden != r->text.hidden))
        return false;
    if (a->vae.found && a->vae.has_encoder &&
        !same_widths(a->vae.encoder_widths, r->vae.encoder_widths, r->vae.levels))
        return false;
    return true;
}

static void classify_checkpoint(struct sd_info *info, bool sdxl)
{
    if (sdxl) {
        info->kind = SD_INFO_UNSUPPORTED;
        snprintf(info->what, sizeof info->what,
                 "SDXL checkpoint (not supported: lcmflow runs "
                 "SD 1.5)");
        return;
    }
    if (info->arch.unet.context_dim == 1024) {
        info->kind = SD_INFO_UNSUPPORTED;
        snprintf(info->what, sizeof info->what,
                 "SD 2.x checkpoint (context dim 1024; not supported: lcmflow runs SD 1.5)");
        return;
    }
    info->kind = SD_INFO_CHECKPOINT;
    info->real_sd15_widths = is_real_sd15(&info->arch);
    snprintf(info->what, sizeof info->what, "SD 1.5 checkpoint (%s)",
             info->diffusers ? "diffusers folder layout" : "single-file LDM layout");
    snprintf(info->note, sizeof info->note, "%s",
             info->real_sd15_widths
                 ? "widths match the real SD 1.5 model"
                 : "SD 1.5 structure with other widths than the real SD 1.5 (a test model?)");
}

static void inspect_single_checkpoint(const struct lf_safetensors *st, struct sd_info *info)
{
    static const char *const order[] = {"UNet", "VAE", "text encoder"};
    preset_components(info, order, 3);
    size_t n = lf_safetensors_count(st);
    bool sdxl = false;
    for (size_t i = 0; i < n; i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        const char *name = "other";
        if (starts_with(t->name, SD_LDM_UNET_PREFIX))
            name = "UNet";
        else if (starts_with(t->name, SD_LDM_VAE_PREFIX))
            name = "VAE";
        else if (starts_with(t->name, "cond_stage_model."))
            name = "text encoder";
        else if (starts_with(t->name, "conditioner.embedders."))
            name = "text encoders", sdxl = true;
        count_tensor(component(info, name), t);
    }
    read_arch(st, SD_COMPONENT_UNET, SD_LDM_UNET_PREFIX, false, 0, info);
    read_arch(st, SD_COMPONENT_VAE, SD_LDM_VAE_PREFIX, false, 0, info);
    read_arch(st, SD_COMPONENT_TEXT, SD_LDM_CLIP_PREFIX, false, 0, info);
    classify_checkpoint(info, sdxl);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static enum lf_status inspect_part(struct sd_info *info, const char *dir, enum sd_component c,
                                   int config_heads, struct lf_error *err)
{
    char path[1200];
    struct sd_info_component *row = component(info, sd_diffusers_parts[c].label);
    bool found = sd_diffusers_weights(dir, c, path, sizeof path);
    snprintf(row->file, sizeof row->file, "%s", path);
    if (!found) {
        row->missing = true;
        return LF_OK;
    }
    struct lf_safetensors *st;
    enum lf_status s = lf_safetensors_open(path, &st, err);
    if (s) return s;
    for (size_t i = 0; i < lf_safetensors_count(st); i++)
        count_tensor(row, lf_safetensors_tensor_at(st, i));
    read_arch(st, c, "", true, config_heads, info);
    lf_safetensors_close(st);
    return LF_OK;
}

static enum lf_status inspect_folder(const char *dir, struct sd_info *info, struct lf_error *err)
{
    char path[1200];
    info->diffusers = true;
    snprintf(path, sizeof path, "%s/%s", dir, sd_diffusers_parts[SD_COMPONENT_UNET].folder);
    if (!sd_is_dir(path)) {
        /* A single-model diffusers folder (AutoencoderTiny, a UNet...). */
        snprintf(path, sizeof path, "%s/%s.safetensors", dir,
                 sd_diffusers_parts[SD_COMPONENT_UNET].weights);
        if (is_file(path)) return sd_info_inspect(path, info, err);
        return lf_error_set_at(err, LF_ERR_FORMAT, dir, 0, 0,
                               "a folder, but not a diffusers SD 1.5 checkpoint: no %s/ "
                               "folder in it",
                               sd_diffusers_parts[SD_COMPONENT_UNET].folder);
    }
    sd_diffusers_config(dir, SD_COMPONENT_TEXT, path, sizeof path);
    int heads = sd_config_int(path, "num_attention_heads");
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        enum lf_status s = inspect_part(info, dir, (enum sd_component)c, heads, err);
        if (s) return s;
    }
    snprintf(path, sizeof path, "%s/" SD_DIFFUSERS_TOKENIZER "/%s", dir,
             sd_diffusers_tokenizer_files[0]);
    info->tokenizer = is_file(path);
    classify_checkpoint(info, false);
    if (!info->arch.unet.found)
        snprintf(info->what, sizeof info->what,
                 "diffusers folder without UNet weights (%s/%s.safetensors missing)",
                 sd_diffusers_parts[SD_COMPONENT_UNET].folder,
                 sd_diffusers_parts[SD_COMPONENT_UNET].weights);
    return LF_OK;
}

/* ---- LoRA ---- */

const char *sd_info_lora_format_name(enum sd_info_lora_format format)
{
    switch (format) {
    case SD_INFO_LORA_KOHYA_LDM:
        return "kohya, original LDM module names (lora_unet_input_blocks_...)";
    case SD_INFO_LORA_KOHYA_DIFFUSERS:
        return "kohya, diffusers module names (lora_unet_down_blocks_...)";
    case SD_INFO_LORA_KOHYA_TE_ONLY:
        return "kohya, text encoder modules only (lora_te_...)";
    case SD_INFO_LORA_PEFT:
        return "diffusers/peft (unet.<module>.lora_A/lora_B)";
    case SD_INFO_LORA_DIFFUSERS:
        return "diffusers (unet.<module>.lora.down/lora.up, attention processors)";
    case SD_INFO_LORA_MIXED:
        return "mixed spellings (kohya, peft, diffusers)";
    case SD_INFO_LORA_REFUSED:
        return "LoraLoader refuses it";
    }
    return "?";
}

/* Inserts v into the ascending list values[0..count) unless it is there. */
static void add_distinct(float *values, int *count, bool *more, float v)
{
    int i = 0;
    while (i < *count && values[i] < v)
        i++;
    if (i < *count && values[i] == v) return;
    if (*count == SD_INFO_MAX_VALUES) {
        *more = true;
        return;
    }
    memmove(values + i + 1, values + i, (size_t)(*count - i) * sizeof *values);
    values[i] = v;
    (*count)++;
}

/* The rows: each tensor under the part its module names (LoraLoader's
** spellings and prefixes); false when no tensor is a LoRA down or up weight. */
static bool count_lora_rows(const struct lf_safetensors *st, struct sd_info *info)
{
    static const char *const order[] = {"UNet", "text encoder"};
    static const char *const rows[] = {[SD_LORA_PART_UNKNOWN] = "other",
                                       [SD_LORA_PART_UNET] = "UNet",
                                       [SD_LORA_PART_CLIP] = "text encoder"};
    bool any = false;
    preset_components(info, order, 2);
    for (size_t i = 0; i < lf_safetensors_count(st); i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        size_t len;
        const struct sd_lora_spelling *sp = sd_lora_key_spelling(t->name, &len);
        enum sd_lora_part part = SD_LORA_PART_UNKNOWN;
        if (sp) {
            char module[512];
            snprintf(module, sizeof module, "%.*s", (int)len, t->name);
            part = sd_lora_module_part(module, NULL);
            any = any || sp->role != SD_LORA_ROLE_ALPHA;
        }
        count_tensor(component(info, rows[part]), t);
    }
    return any;
}

static void summarize_lora(const struct sd_lora *lora, struct sd_info_lora *l, int *te12)
{
    float ranks[SD_INFO_MAX_VALUES];
    for (size_t i = 0; i < lora->count; i++) {
        const struct sd_lora_module *m = &lora->modules[i];
        l->modules++;
        if (m->part == SD_LORA_PART_UNET) {
            l->unet_modules++;
            enum sd_naming naming = sd_names_unet_naming(m->flat);
            l->ldm_modules += naming == SD_NAMING_LDM;
            l->diffusers_modules += naming == SD_NAMING_DIFFUSERS;
        } else if (m->part == SD_LORA_PART_CLIP) {
            l->text_modules++;
        } else {
            l->other_modules++;
            *te12 += starts_with(m->name, "lora_te1_") || starts_with(m->name, "lora_te2_");
        }
        if (m->down_rank == 4)
            l->conv_modules++;
        else
            l->linear_modules++;
        add_distinct(ranks, &l->rank_count, &l->more_ranks, (float)m->rank);
        if (m->has_alpha) {
            add_distinct(l->alphas, &l->alpha_count, &l->more_alphas, m->alpha);
            l->alpha_modules++;
        }
    }
    for (int i = 0; i < l->rank_count; i++)
        l->ranks[i] = (int)ranks[i];
    if (lora->format == SD_LORA_FORMAT_PEFT)
        l->format = SD_INFO_LORA_PEFT;
    else if (lora->format == SD_LORA_FORMAT_DIFFUSERS)
        l->format = SD_INFO_LORA_DIFFUSERS;
    else if (lora->format == SD_LORA_FORMAT_MIXED)
        l->format = SD_INFO_LORA_MIXED;
    else if (l->unet_modules == 0)
        l->format = SD_INFO_LORA_KOHYA_TE_ONLY;
    else
        l->format = l->diffusers_modules > l->ldm_modules ? SD_INFO_LORA_KOHYA_DIFFUSERS
                                                          : SD_INFO_LORA_KOHYA_LDM;
}

static bool inspect_lora(const struct lf_safetensors *st, struct sd_info *info)
{
    struct sd_info_lora *l = &info->lora;
    if (!count_lora_rows(st, info)) {
        info->component_count = 0;
        return false;
    }
    info->kind = SD_INFO_LORA;
    struct sd_lora *lora;
    struct lf_error err = {0};
    int te12 = 0;
    if (sd_lora_read(NULL, st, &lora, &err) != LF_OK) {
        l->format = SD_INFO_LORA_REFUSED;
        snprintf(info->note, sizeof info->note, "%s", err.message);
    } else {
        summarize_lora(lora, l, &te12);
        sd_lora_release(lora);
    }
    snprintf(info->what, sizeof info->what, "LoRA (%s)", sd_info_lora_format_name(l->format));
    if (te12)
        snprintf(info->note, sizeof info->note,
                 "modules for two text encoders (lora_te1_/lora_te2_): an SDXL LoRA, which does "
                 "not fit SD 1.5");
    else if (l->ldm_modules && l->diffusers_modules)
        snprintf(info->note, sizeof info->note,
                 "mixes LDM (%d) and diffusers (%d) UNet module names", l->ldm_modules,
                 l->diffusers_modules);
    return true;
}

/* ---- TAESD ---- */

/* "<prefix><digit>...": a tensor of that TAESD part. */
static bool taesd_member(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(name, prefix, n) && name[n] >= '0' && name[n] <= '9';
}

static bool inspect_taesd(const struct lf_safetensors *st, struct sd_info *info)
{
    if (!sd_taesd_inspect(st, &info->taesd)) return false;
    const struct sd_taesd_file_info *t = &info->taesd;
    static const char *const order[] = {"encoder", "decoder"};
    preset_components(info, order, 2);
    size_t n = lf_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const struct lf_safetensors_tensor *x = lf_safetensors_tensor_at(st, i);
        const char *name = "other";
        if (t->encoder && taesd_member(x->name, t->encoder_prefix))
            name = "encoder";
        else if (t->decoder && taesd_member(x->name, t->decoder_prefix))
            name = "decoder";
        count_tensor(component(info, name), x);
    }
    info->kind = SD_INFO_TAESD;
    const char *layout =
        (t->encoder && t->encoder_prefix[0]) || (t->decoder && t->decoder_prefix[0])
            ? "named layers"
            : "sequential layout";
    if (t->encoder && t->decoder)
        snprintf(info->what, sizeof info->what, "TAESD-family encoder and decoder (%s)", layout);
    else
        snprintf(info->what, sizeof info->what, "TAESD-family %s (%s)",
                 t->encoder ? "encoder" : "decoder", layout);
    return true;
}

/* ---- single files of other kinds ---- */

static void inspect_other(const struct lf_safetensors *st, struct sd_info *info)
{
    info->kind = SD_INFO_OTHER;
    info->component_count = 0;
    size_t n = lf_safetensors_count(st);
    for (size_t i = 0; i < n; i++)
        count_tensor(component(info, "tensors"), lf_safetensors_tensor_at(st, i));
    if (lf_safetensors_find(st, "time_embedding.linear_1.weight")) {
        read_arch(st, SD_COMPONENT_UNET, "", true, 0, info);
        snprintf(info->what, sizeof info->what,
                 "a diffusers UNet alone (part of a diffusers folder: give the folder)");
    } else if (lf_safetensors_find(st, "text_model.embeddings.token_embedding.weight")) {
        read_arch(st, SD_COMPONENT_TEXT, "", false, 0, info);
        snprintf(info->what, sizeof info->what, "a CLIP text encoder alone (Hugging Face names)");
    } else if (lf_safetensors_find(st, "encoder.down.0.block.0.conv1.weight") ||
               lf_safetensors_find(st, "decoder.up.0.block.0.conv1.weight")) {
        read_arch(st, SD_COMPONENT_VAE, "", false, 0, info);
        snprintf(info->what, sizeof info->what, "a standalone SD VAE (original LDM names)");
    } else if (lf_safetensors_find(st, "encoder.conv_in.weight") ||
               lf_safetensors_find(st, "decoder.conv_in.weight")) {
        read_arch(st, SD_COMPONENT_VAE, "", true, 0, info);
        snprintf(info->what, sizeof info->what, "a diffusers VAE alone (AutoencoderKL names)");
    } else {
        snprintf(info->what, sizeof info->what,
                 "a safetensors file that is no SD 1.5 checkpoint, LoRA or TAESD");
    }
}

enum lf_status sd_info_inspect(const char *path, struct sd_info *info, struct lf_error *err)
{
    memset(info, 0, sizeof *info);
    enum lf_status s = sd_refuse_pickle(path, err);
    if (s) return s;
    if (sd_is_dir(path)) {
        s = inspect_folder(path, info, err);
        if (!s) sum_total(info);
        return s;
    }
    struct lf_safetensors *st;
    if ((s = lf_safetensors_open(path, &st, err))) {
        if (s == LF_ERR_FORMAT) lf_error_prefix(err, "not a safetensors file, or a broken one");
        return s;
    }
    bool ldm = false;
    for (size_t i = 0; i < lf_safetensors_count(st) && !ldm; i++) {
        const char *name = lf_safetensors_tensor_at(st, i)->name;
        ldm = starts_with(name, SD_LDM_UNET_PREFIX) || starts_with(name, "conditioner.embedders.");
    }
    if (ldm)
        inspect_single_checkpoint(st, info);
    else if (!inspect_lora(st, info) && !inspect_taesd(st, info) &&
             !sd_info_inspect_embedding(st, info))
        inspect_other(st, info);
    sum_total(info);
    lf_safetensors_close(st);
    return LF_OK;
}
