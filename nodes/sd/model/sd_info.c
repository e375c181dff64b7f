/*
** sd_info.c - telling model files apart by their tensor names and shapes
** (see sd_info.h).
**
** The architecture readers work on original-LDM names; diffusers files are
** seen through the checkpoint loader's name maps, so both layouts are read
** by the same code and agree with what the loaders will build.
*/
#include "sd_info.h"
#include "sd_checkpoint.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define UNET_PREFIX "model.diffusion_model."
#define VAE_PREFIX  "first_stage_model."
#define CLIP_PREFIX "cond_stage_model.transformer."

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- a view of one component's tensors under LDM names ---- */

typedef bool (*name_map)(const char *name, char *out);

struct view {
    const struct lf_safetensors *st;
    const char *prefix; /* prepended to the LDM name (single file) */
    name_map map;       /* or: file name -> LDM name (diffusers) */
    char **mapped;      /* map's results, one per file tensor (NULL: none) */
};

static void view_init(struct view *v, const struct lf_safetensors *st, const char *prefix,
                      name_map map)
{
    memset(v, 0, sizeof *v);
    v->st = st;
    v->prefix = prefix ? prefix : "";
    v->map = map;
    if (!map) return;
    size_t n = lf_safetensors_count(st);
    v->mapped = calloc(n ? n : 1, sizeof *v->mapped);
    if (!v->mapped) return; /* lookups then find nothing: the report says less */
    for (size_t i = 0; i < n; i++) {
        char out[256];
        if (map(lf_safetensors_tensor_at(st, i)->name, out)) v->mapped[i] = strdup(out);
    }
}

static void view_free(struct view *v)
{
    if (v->mapped)
        for (size_t i = 0; i < lf_safetensors_count(v->st); i++)
            free(v->mapped[i]);
    free(v->mapped);
}

static const struct lf_safetensors_tensor *vfind(const struct view *v, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static const struct lf_safetensors_tensor *vfind(const struct view *v, const char *fmt, ...)
{
    char name[300], full[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!v->st) return NULL;
    if (!v->map) {
        snprintf(full, sizeof full, "%s%s", v->prefix, name);
        return lf_safetensors_find(v->st, full);
    }
    if (!v->mapped) return NULL;
    for (size_t i = 0; i < lf_safetensors_count(v->st); i++)
        if (v->mapped[i] && !strcmp(v->mapped[i], name)) return lf_safetensors_tensor_at(v->st, i);
    return NULL;
}

static int dim(const struct lf_safetensors_tensor *t, int i)
{
    return t && i < t->rank ? (int)t->shape[i] : 0;
}

/* ---- architecture readers ---- */

static void read_unet(const struct view *v, struct sd_info_unet *u)
{
    memset(u, 0, sizeof *u);
    const struct lf_safetensors_tensor *t = vfind(v, "input_blocks.0.0.weight");
    if (!t) return;
    u->found = true;
    u->model_channels = dim(t, 0);
    u->in_channels = dim(t, 1);
    u->out_channels = dim(vfind(v, "out.2.weight"), 0);
    u->time_embed_dim = dim(vfind(v, "time_embed.0.weight"), 0);
    int level = 0;
    for (int b = 1; b < 256; b++) {
        if (vfind(v, "input_blocks.%d.0.op.weight", b)) {
            if (level + 1 < SD_INFO_MAX_LEVELS) level++;
            continue;
        }
        t = vfind(v, "input_blocks.%d.0.out_layers.3.weight", b);
        if (!t) break;
        u->widths[level] = dim(t, 0);
        if (level == 0) u->down_res_per_level++;
    }
    u->levels = level + 1;
    int up = 0;
    while (vfind(v, "output_blocks.%d.0.out_layers.3.weight", up))
        up++;
    u->up_res_per_level = up / u->levels;
    /* Spatial transformers sit in part 1 of a block. */
    char first[64] = "", p[64];
    for (int b = 0; b < 64; b++) {
        snprintf(p, sizeof p, "input_blocks.%d.1", b);
        if (!vfind(v, "%s.proj_in.weight", p)) continue;
        u->transformers++;
        if (!first[0]) snprintf(first, sizeof first, "%s", p);
    }
    u->transformers += vfind(v, "middle_block.1.proj_in.weight") != NULL;
    for (int b = 0; b < 64; b++)
        u->transformers += vfind(v, "output_blocks.%d.1.proj_in.weight", b) != NULL;
    if (first[0]) {
        while (vfind(v, "%s.transformer_blocks.%d.norm1.weight", first, u->transformer_depth))
            u->transformer_depth++;
        u->context_dim = dim(vfind(v, "%s.transformer_blocks.0.attn2.to_k.weight", first), 1);
    }
}

static void read_text(const struct view *v, struct sd_info_text *c)
{
    memset(c, 0, sizeof *c);
    const struct lf_safetensors_tensor *t =
        vfind(v, "text_model.embeddings.token_embedding.weight");
    if (!t) return;
    c->found = true;
    c->vocab = dim(t, 0);
    c->hidden = dim(t, 1);
    c->positions = dim(vfind(v, "text_model.embeddings.position_embedding.weight"), 0);
    while (vfind(v, "text_model.encoder.layers.%d.self_attn.q_proj.weight", c->layers))
        c->layers++;
    c->mlp = dim(vfind(v, "text_model.encoder.layers.0.mlp.fc1.weight"), 0);
}

static void read_vae(const struct view *v, struct sd_info_vae *a)
{
    memset(a, 0, sizeof *a);
    a->has_encoder = vfind(v, "encoder.conv_in.weight") != NULL;
    a->has_decoder = vfind(v, "decoder.conv_in.weight") != NULL;
    a->found = a->has_encoder || a->has_decoder;
    if (!a->found) return;
    if (a->has_decoder)
        a->latent_channels = dim(vfind(v, "decoder.conv_in.weight"), 1);
    else
        a->latent_channels = dim(vfind(v, "encoder.conv_out.weight"), 0) / 2;
    const struct lf_safetensors_tensor *t;
    while (a->encoder_levels < SD_INFO_MAX_LEVELS &&
           (t = vfind(v, "encoder.down.%d.block.0.conv1.weight", a->encoder_levels)))
        a->encoder_widths[a->encoder_levels++] = dim(t, 0);
    while (vfind(v, "encoder.down.0.block.%d.conv1.weight", a->encoder_blocks))
        a->encoder_blocks++;
    int levels = 0;
    while (levels < SD_INFO_MAX_LEVELS && vfind(v, "decoder.up.%d.block.0.conv1.weight", levels))
        levels++;
    /* LDM numbers decoder levels bottom-up: up.N-1 runs first. */
    for (int l = levels - 1; l >= 0; l--)
        a->decoder_widths[a->decoder_levels++] =
            dim(vfind(v, "decoder.up.%d.block.0.conv1.weight", l), 0);
    while (vfind(v, "decoder.up.0.block.%d.conv1.weight", a->decoder_blocks))
        a->decoder_blocks++;
    a->mid_attention =
        vfind(v, "encoder.mid.attn_1.q.weight") || vfind(v, "decoder.mid.attn_1.q.weight");
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

static bool is_real_sd15(const struct sd_info *info)
{
    static const int unet[4] = {320, 640, 1280, 1280}, vae[4] = {128, 256, 512, 512};
    const struct sd_info_unet *u = &info->unet;
    if (u->levels != 4 || memcmp(u->widths, unet, sizeof unet) || u->context_dim != 768)
        return false;
    if (info->text.found && (info->text.layers != 12 || info->text.hidden != 768)) return false;
    if (info->vae.found && info->vae.has_encoder &&
        memcmp(info->vae.encoder_widths, vae, sizeof vae))
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
    if (info->unet.context_dim == 1024) {
        info->kind = SD_INFO_UNSUPPORTED;
        snprintf(info->what, sizeof info->what,
                 "SD 2.x checkpoint (context dim 1024; not supported: lcmflow runs SD 1.5)");
        return;
    }
    info->kind = SD_INFO_CHECKPOINT;
    info->real_sd15_widths = is_real_sd15(info);
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
        if (starts_with(t->name, UNET_PREFIX))
            name = "UNet";
        else if (starts_with(t->name, VAE_PREFIX))
            name = "VAE";
        else if (starts_with(t->name, "cond_stage_model."))
            name = "text encoder";
        else if (starts_with(t->name, "conditioner.embedders."))
            name = "text encoders", sdxl = true;
        count_tensor(component(info, name), t);
    }
    struct view v;
    view_init(&v, st, UNET_PREFIX, NULL); /* plain prefixes: nothing to free */
    read_unet(&v, &info->unet);
    view_init(&v, st, VAE_PREFIX, NULL);
    read_vae(&v, &info->vae);
    view_init(&v, st, CLIP_PREFIX, NULL);
    read_text(&v, &info->text);
    classify_checkpoint(info, sdxl);
}

static bool map_unet(const char *name, char *out)
{
    return sd_unet_name_from_diffusers(name, out);
}

static bool map_vae(const char *name, char *out)
{
    return sd_vae_name_from_diffusers(name, out);
}

static bool map_same(const char *name, char *out)
{
    if (strlen(name) >= 256) return false;
    strcpy(out, name);
    return true;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/sub/name.safetensors, or the .fp16 variant diffusers also writes. */
static bool component_file(const char *dir, const char *sub, const char *name, char *out,
                           size_t size)
{
    snprintf(out, size, "%s/%s/%s.safetensors", dir, sub, name);
    if (is_file(out)) return true;
    snprintf(out, size, "%s/%s/%s.fp16.safetensors", dir, sub, name);
    if (is_file(out)) return true;
    snprintf(out, size, "%s/%s/%s.safetensors", dir, sub, name);
    return false;
}

static enum lf_status inspect_part(struct sd_info *info, const char *dir, const char *sub,
                                   const char *file, const char *label, struct lf_error *err)
{
    char path[1024];
    struct sd_info_component *c = component(info, label);
    bool found = component_file(dir, sub, file, path, sizeof path);
    snprintf(c->file, sizeof c->file, "%s", path);
    if (!found) {
        c->missing = true;
        return LF_OK;
    }
    struct lf_safetensors *st;
    enum lf_status s = lf_safetensors_open(path, &st, err);
    if (s) return s;
    for (size_t i = 0; i < lf_safetensors_count(st); i++)
        count_tensor(c, lf_safetensors_tensor_at(st, i));
    struct view v;
    if (!strcmp(sub, "unet")) {
        view_init(&v, st, NULL, map_unet);
        read_unet(&v, &info->unet);
    } else if (!strcmp(sub, "vae")) {
        view_init(&v, st, NULL, map_vae);
        read_vae(&v, &info->vae);
    } else {
        view_init(&v, st, NULL, map_same);
        read_text(&v, &info->text);
    }
    view_free(&v);
    lf_safetensors_close(st);
    return LF_OK;
}

static enum lf_status inspect_folder(const char *dir, struct sd_info *info, struct lf_error *err)
{
    char path[1024];
    info->diffusers = true;
    snprintf(path, sizeof path, "%s/unet", dir);
    if (!is_dir(path)) {
        /* A single-model diffusers folder (AutoencoderTiny, a UNet...). */
        snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
        if (is_file(path)) return sd_info_inspect(path, info, err);
    }
    if (!is_dir(path))
        return lf_error_set_at(err, LF_ERR_FORMAT, dir, 0, 0,
                               "a folder, but not a diffusers SD 1.5 checkpoint: no unet/ "
                               "folder in it");
    enum lf_status s;
    if ((s = inspect_part(info, dir, "unet", "diffusion_pytorch_model", "UNet", err)) ||
        (s = inspect_part(info, dir, "vae", "diffusion_pytorch_model", "VAE", err)) ||
        (s = inspect_part(info, dir, "text_encoder", "model", "text encoder", err)))
        return s;
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    info->text.heads = sd_config_int(path, "num_attention_heads");
    snprintf(path, sizeof path, "%s/tokenizer/vocab.json", dir);
    info->tokenizer = is_file(path);
    classify_checkpoint(info, false);
    if (!info->unet.found)
        snprintf(info->what, sizeof info->what,
                 "diffusers folder without UNet weights (unet/diffusion_pytorch_model"
                 ".safetensors missing)");
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
    }
    return "?";
}

/* Role of a LoRA tensor: 'd' down, 'u' up, 'a' alpha, 0 none; *len gets
** the length of the module name in front of the suffix. */
static char lora_role(const char *name, size_t *len, bool *kohya)
{
    static const struct {
        const char *suffix;
        char role;
        bool kohya;
    } suffixes[] = {
        {".lora_down.weight", 'd', true}, {".lora_up.weight", 'u', true}, {".alpha", 'a', true},
        {".lora_A.weight", 'd', false},   {".lora_B.weight", 'u', false},
    };
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
        if (ends_with(name, suffixes[i].suffix)) {
            *len = strlen(name) - strlen(suffixes[i].suffix);
            *kohya = suffixes[i].kohya;
            return suffixes[i].role;
        }
    return 0;
}

static void add_distinct_int(int *values, int *count, bool *more, int v)
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

static void add_distinct_float(float *values, int *count, bool *more, float v)
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

static const char *lora_component(const char *name, bool kohya)
{
    if (kohya) {
        if (starts_with(name, "lora_unet_")) return "UNet";
        if (starts_with(name, "lora_te")) return "text encoder";
        return "other";
    }
    if (starts_with(name, "unet.")) return "UNet";
    if (starts_with(name, "text_encoder.")) return "text encoder";
    return "other";
}

static bool inspect_lora(const struct lf_safetensors *st, struct sd_info *info)
{
    struct sd_info_lora *l = &info->lora;
    int kohya_ldm = 0, kohya_diffusers = 0, kohya = 0, peft = 0, te12 = 0;
    static const char *const order[] = {"UNet", "text encoder"};
    preset_components(info, order, 2);
    size_t n = lf_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        size_t len;
        bool is_kohya;
        char role = lora_role(t->name, &len, &is_kohya);
        if (!role) {
            count_tensor(component(info, "other"), t);
            continue;
        }
        const char *comp = lora_component(t->name, is_kohya);
        count_tensor(component(info, comp), t);
        if (role == 'a') {
            float a;
            if (t->numel == 1 && lf_safetensors_tensor_to_f32(st, t, &a, 1, NULL) == LF_OK) {
                add_distinct_float(l->alphas, &l->alpha_count, &l->more_alphas, a);
                l->alpha_modules++;
            }
            continue;
        }
        if (role != 'd') continue;
        l->modules++;
        if (is_kohya)
            kohya++;
        else
            peft++;
        if (!strcmp(comp, "UNet"))
            l->unet_modules++;
        else if (!strcmp(comp, "text encoder"))
            l->text_modules++;
        else
            l->other_modules++;
        if (starts_with(t->name, "lora_te1_") || starts_with(t->name, "lora_te2_")) te12++;
        if (starts_with(t->name, "lora_unet_input_blocks_") ||
            starts_with(t->name, "lora_unet_middle_block_") ||
            starts_with(t->name, "lora_unet_output_blocks_"))
            kohya_ldm++;
        if (starts_with(t->name, "lora_unet_down_blocks_") ||
            starts_with(t->name, "lora_unet_mid_block_") ||
            starts_with(t->name, "lora_unet_up_blocks_"))
            kohya_diffusers++;
        if (t->rank == 4)
            l->conv_modules++;
        else
            l->linear_modules++;
        add_distinct_int(l->ranks, &l->rank_count, &l->more_ranks, dim(t, 0));
    }
    if (l->modules == 0) {
        info->component_count = 0;
        return false;
    }
    info->kind = SD_INFO_LORA;
    if (peft > kohya)
        l->format = SD_INFO_LORA_PEFT;
    else if (l->unet_modules == 0)
        l->format = SD_INFO_LORA_KOHYA_TE_ONLY;
    else
        l->format =
            kohya_diffusers > kohya_ldm ? SD_INFO_LORA_KOHYA_DIFFUSERS : SD_INFO_LORA_KOHYA_LDM;
    snprintf(info->what, sizeof info->what, "LoRA (%s)", sd_info_lora_format_name(l->format));
    if (te12)
        snprintf(info->note, sizeof info->note,
                 "modules for two text encoders (lora_te1_/lora_te2_): an SDXL LoRA, which does "
                 "not fit SD 1.5");
    else if (kohya_ldm && kohya_diffusers)
        snprintf(info->note, sizeof info->note,
                 "mixes LDM (%d) and diffusers (%d) UNet module names", kohya_ldm, kohya_diffusers);
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
    struct view v;
    if (lf_safetensors_find(st, "time_embedding.linear_1.weight")) {
        view_init(&v, st, NULL, map_unet);
        read_unet(&v, &info->unet);
        view_free(&v);
        snprintf(info->what, sizeof info->what,
                 "a diffusers UNet alone (part of a diffusers folder: give the folder)");
    } else if (lf_safetensors_find(st, "text_model.embeddings.token_embedding.weight")) {
        view_init(&v, st, NULL, map_same);
        read_text(&v, &info->text);
        view_free(&v);
        snprintf(info->what, sizeof info->what, "a CLIP text encoder alone (Hugging Face names)");
    } else if (lf_safetensors_find(st, "encoder.down.0.block.0.conv1.weight") ||
               lf_safetensors_find(st, "decoder.up.0.block.0.conv1.weight")) {
        view_init(&v, st, NULL, NULL);
        read_vae(&v, &info->vae);
        snprintf(info->what, sizeof info->what, "a standalone SD VAE (original LDM names)");
    } else if (lf_safetensors_find(st, "encoder.conv_in.weight") ||
               lf_safetensors_find(st, "decoder.conv_in.weight")) {
        view_init(&v, st, NULL, map_vae);
        read_vae(&v, &info->vae);
        view_free(&v);
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
    if (is_dir(path)) {
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
        ldm = starts_with(name, UNET_PREFIX) || starts_with(name, "conditioner.embedders.");
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
