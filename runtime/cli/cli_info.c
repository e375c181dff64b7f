/*
** cli_info.c - `lcmflow info FILE...`: says what a model file or diffusers
** folder is (SD 1.5 checkpoint, LoRA, TAESD, something else), with
** parameter counts per component, dtypes and the architecture read from the
** shapes.  The detection is sd_info.c's; this file only prints.
*/
#include "cli.h"
#include "sd_checkpoint.h"
#include "sd_info.h"
#include "sd_lora.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow info [--model CHECKPOINT] FILE|FOLDER...\n\n"
               "Says what each file is, from its tensor names and shapes (nothing is loaded):\n"
               "an SD 1.5 checkpoint (single .safetensors file or diffusers folder), a LoRA\n"
               "(kohya with LDM or diffusers module names, or peft), a TAESD-family\n"
               "encoder/decoder, or something else; with parameter counts per component,\n"
               "dtypes and the architecture detected.  Pickle files (.ckpt, .pt, .bin) are\n"
               "refused: loading them can execute code.\n\n"
               "For a LoRA, --model CHECKPOINT loads that checkpoint and reports which of its\n"
               "layers the LoRA matches (and which keys match nothing).\n");
}

/* 1234567 -> "1,234,567". */
static const char *grouped(int64_t v, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t n = strlen(digits), k = 0;
    if (v < 0 && k + 1 < size) buf[k++] = '-';
    for (size_t i = 0; i < n && k + 2 < size; i++) {
        if (i && (n - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

static const char *human_bytes(int64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1000.0 && u < 4)
        v /= 1000.0, u++;
    snprintf(buf, size, u ? "%.2f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static const char *dtypes(const struct sd_info_component *c, char *buf, size_t size)
{
    size_t k = 0;
    int kinds = 0;
    buf[0] = '\0';
    for (int d = 0; d < LF_ST_DTYPE_COUNT; d++)
        kinds += c->dtype_tensors[d] > 0;
    for (int d = 0; d < LF_ST_DTYPE_COUNT && k < size; d++) {
        if (!c->dtype_tensors[d]) continue;
        if (kinds > 1)
            k += (size_t)snprintf(buf + k, size - k, "%s%s x%lld", k ? ", " : "",
                                  lf_st_dtype_name((enum lf_st_dtype)d),
                                  (long long)c->dtype_tensors[d]);
        else
            k += (size_t)snprintf(buf + k, size - k, "%s", lf_st_dtype_name((enum lf_st_dtype)d));
    }
    return buf;
}

static void print_components(const struct sd_info *info)
{
    char a[32], b[32], c[32], d[256];
    printf("  %-14s %8s %16s %10s  %s\n", "component", "tensors", "parameters", "size", "dtypes");
    for (int i = 0; i < info->component_count; i++) {
        const struct sd_info_component *x = &info->components[i];
        if (x->missing) {
            printf("  %-14s missing: %s\n", x->name, x->file);
            continue;
        }
        printf("  %-14s %8s %16s %10s  %s\n", x->name, grouped(x->tensors, a, sizeof a),
               grouped(x->params, b, sizeof b), human_bytes(x->bytes, c, sizeof c),
               dtypes(x, d, sizeof d));
    }
    if (info->component_count > 1)
        printf("  %-14s %8s %16s %10s\n", "total", grouped(info->total.tensors, a, sizeof a),
               grouped(info->total.params, b, sizeof b),
               human_bytes(info->total.bytes, c, sizeof c));
}

static void print_widths(const int *w, int n)
{
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? " " : "", w[i]);
}

static void print_arch(const struct sd_info *info)
{
    const struct sd_arch_unet *u = &info->arch.unet;
    if (u->found) {
        printf("  UNet: model channels %d, widths ", u->widths[0]);
        print_widths(u->widths, u->levels);
        printf(" (%d levels), %d res blocks per level down and %d up, %d transformers "
               "(depth %d), context dim %d, in %d / out %d channels, time embedding %d\n",
               u->levels, u->down_res, u->up_res, sd_arch_unet_transformers(u),
               u->transformer_depth, u->context_dim, u->in_channels, u->out_channels,
               u->time_embed_dim);
    }
    const struct sd_arch_text *t = &info->arch.text;
    if (t->found) {
        printf("  text encoder: CLIP, %d layers, width %d, MLP %d, vocabulary %d, %d positions",
               t->layers, t->hidden, t->mlp, t->vocab, t->positions);
        if (t->heads_from_config) printf(", %d heads (config.json)", t->heads);
        printf("\n");
    }
    const struct sd_arch_vae *v = &info->arch.vae;
    if (v->found) {
        printf("  VAE: latent channels %d", v->latent_channels);
        if (v->has_encoder) {
            printf(", encoder widths ");
            print_widths(v->encoder_widths, v->levels);
            printf(" (%d blocks per level)", v->encoder_res);
        }
        if (v->has_decoder) {
            int run_order[SD_ARCH_MAX_LEVELS];
            for (int l = 0; l < v->levels; l++)
                run_order[l] = v->decoder_widths[v->levels - 1 - l];
            printf(", decoder widths ");
            print_widths(run_order, v->levels);
            printf(" (%d blocks per level)", v->decoder_res);
        }
        printf("%s\n", v->mid_attention ? ", mid-block attention" : "");
    }
    if (info->diffusers && info->tokenizer)
        printf("  tokenizer: " SD_DIFFUSERS_TOKENIZER "/%s\n", sd_diffusers_tokenizer_files[0]);
    else if (info->diffusers)
        printf("  tokenizer: none in the folder\n");
}

/* Each component against what its architecture needs: what the loader
** would refuse (missing, misshaped, not float) and what nothing reads. */
static void print_audit(const struct sd_info *info)
{
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        if (!info->audited[c]) continue;
        const struct sd_arch_audit *a = &info->audit[c];
        int64_t bad = a->missing + a->misshaped + a->wrong_dtype;
        printf("  %s tensors: ", sd_diffusers_parts[c].label);
        if (bad)
            printf("%lld of the %lld needed are missing, %lld misshaped, %lld not float "
                   "(loading refuses this)",
                   (long long)a->missing, (long long)a->expected, (long long)a->misshaped,
                   (long long)a->wrong_dtype);
        else
            printf("all %lld needed are present", (long long)a->expected);
        printf(", %lld unexpected%s\n", (long long)a->unexpected,
               a->unexpected ? " (nothing reads them)" : "");
        for (int i = 0; i < a->problem_count; i++)
            printf("    %s\n", a->problems[i]);
        if (bad > a->problem_count)
            printf("    ... and %lld more\n", (long long)(bad - a->problem_count));
        for (int i = 0; i < a->unexpected_count; i++)
            printf("    unexpected: %s\n", a->unexpected_names[i]);
        if (a->unexpected > a->unexpected_count)
            printf("    ... and %lld more unexpected\n",
                   (long long)(a->unexpected - a->unexpected_count));
    }
}

static void print_lora(const struct sd_info *info)
{
    const struct sd_info_lora *l = &info->lora;
    printf("  modules: %d (UNet %d, text encoder %d", l->modules, l->unet_modules, l->text_modules);
    if (l->other_modules) printf(", unrecognised %d", l->other_modules);
    printf("); %d linear, %d conv\n", l->linear_modules, l->conv_modules);
    printf("  touches: %s\n", l->unet_modules && l->text_modules ? "UNet and text encoder"
                              : l->unet_modules                  ? "UNet only"
                              : l->text_modules                  ? "text encoder only"
                                                                 : "no known component");
    printf("  rank%s: ", l->rank_count > 1 ? "s" : "");
    for (int i = 0; i < l->rank_count; i++)
        printf("%s%d", i ? ", " : "", l->ranks[i]);
    printf("%s\n", l->more_ranks ? ", ..." : "");
    if (!l->alpha_count) {
        printf("  alpha: none (scale 1)\n");
        return;
    }
    printf("  alpha: ");
    for (int i = 0; i < l->alpha_count; i++)
        printf("%s%g", i ? ", " : "", (double)l->alphas[i]);
    printf("%s on %d modules", l->more_alphas ? ", ..." : "", l->alpha_modules);
    if (l->alpha_count == 1 && l->rank_count == 1)
        printf(" (scale alpha/rank = %g)", (double)l->alphas[0] / l->ranks[0]);
    printf("\n");
}

static void print_taesd(const struct sd_info *info)
{
    const struct sd_taesd_file_info *t = &info->taesd;
    for (int side = 0; side < 2; side++) {
        bool has = side ? t->decoder : t->encoder;
        if (!has) continue;
        const char *prefix = side ? t->decoder_prefix : t->encoder_prefix;
        int blocks = side ? t->decoder_blocks : t->encoder_blocks;
        int pool = side ? t->decoder_pool : t->encoder_pool;
        printf("  %s: latent channels %d, %d blocks", side ? "decoder" : "encoder",
               side ? t->decoder_latent : t->encoder_latent, blocks);
        if (pool)
            printf(" (%d with the mid-block pooling branch)", pool);
        else
            printf(", no pooling branch");
        printf(", keys %s\n", prefix[0] ? prefix : "by sequential index");
    }
}

/* The LoRA against a checkpoint: what fraction of its layers it touches. */
static int lora_against(const char *path, const char *model)
{
    struct lf_error err = {0};
    char text[1600], desc[4096];
    struct lf_device *device = NULL;
    struct sd_checkpoint ck = {0};
    struct sd_lora *lora = NULL;
    struct sd_lora_report report = {0};
    int rc = 1, index;
    if (!lf_cli_device_choice("info", NULL, &index)) return 2;
    if (lf_device_create(&(struct lf_device_options){.index = index}, &device, &err) ||
        sd_checkpoint_load(device, model, LF_DTYPE_F16, &ck, &err) ||
        sd_lora_load(NULL, path, &lora, &err) ||
        sd_lora_match(lora, ck.unet, ck.clip, &report, &err)) {
        fprintf(stderr, "lcmflow info: %s\n", lf_error_text(&err, text, sizeof text));
    } else {
        sd_lora_describe(lora, &report, desc, sizeof desc);
        printf("  against %s:\n%s", model, desc);
        rc = 0;
    }
    sd_lora_report_clear(&report);
    sd_lora_release(lora);
    sd_checkpoint_clear(&ck);
    lf_device_destroy(device);
    return rc;
}

static const char *against_model;

static int info_one(const char *path)
{
    struct sd_info info;
    struct lf_error err = {0};
    char text[1600];
    if (sd_info_inspect(path, &info, &err) != LF_OK) {
        if (!err.path[0]) snprintf(err.path, sizeof err.path, "%s", path);
        fprintf(stderr, "lcmflow info: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    printf("%s: %s\n", path, info.what);
    if (info.note[0]) printf("  note: %s\n", info.note);
    print_components(&info);
    if (info.kind == SD_INFO_LORA) {
        print_lora(&info);
        if (against_model && lora_against(path, against_model)) return 1;
    }
    if (info.kind == SD_INFO_TAESD) print_taesd(&info);
    print_arch(&info);
    print_audit(&info);
    return 0;
}

int lf_cli_info(int argc, char **argv)
{
    int files = 0, status = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            against_model = argv[++i];
            argv[i - 1] = argv[i] = NULL;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "lcmflow info: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        if (files++) printf("\n");
        if (info_one(argv[i])) status = 1;
    }
    if (!files) {
        usage(stderr);
        return 2;
    }
    return status;
}
