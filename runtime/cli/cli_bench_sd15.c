/*
** cli_bench_sd15.c - `lcmflow bench sd15`: a full-size SD 1.5 txt2img, timed
** by stage: checkpoint load, (LoRA apply and a strength change), text
** encode, each UNet step, VAE decode; with peak host and device memory.
**
** Without --model the weights are a `synth-checkpoint --preset sd15` file
** (random, f16, SD 1.5's real shapes), made once and kept in the cache
** folder.  The prompt's token ids are fixed (BOS, 20 ids, EOS, padding):
** tokenizing is not what is measured, and the synthetic model needs no
** vocabulary.  Results are benchmarks, not tests: runtime/cpu/README.md records them
** with the machine they ran on.
*/
#include "cli.h"
#include "lcmflow/ops.h"
#include "sd_checkpoint.h"
#include "sd_clip.h"
#include "sd_lora.h"
#include "sd_sample.h"
#include "sd_synth.h"
#include "sd_unet.h"
#include "sd_vae.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_gib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / (1024.0 * 1024.0); /* KiB on Linux */
}

/* Starts a new peak RSS (Linux: clear_refs 5), so that the generation's
** peak is told apart from loading's; false where the kernel refuses. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow bench sd15 [--model FILE] [--lora FILE] [--size N] [--steps N]\n"
               "                          [--dtype f16|bf16|f32|auto] [--act f16|bf16|f32|auto]\n"
               "                          [--device N|NAME]\n\n"
               "Times a full-size txt2img (text encode, N UNet steps at cfg 1, VAE decode) and\n"
               "prints per-stage times and peak host and device memory.  Without --model, a\n"
               "synthetic SD 1.5 checkpoint (random f16 weights, real shapes) is written once\n"
               "to the cache folder ($XDG_CACHE_HOME/lcmflow).  With --lora, the LoRA is applied\n"
               "(timed) and then its strength changed (timed again) before sampling.\n"
               "--dtype is the weights' (default f16; auto: what CheckpointLoader's dtype auto\n"
               "picks on this device), --act the activations' (auto: bf16 for bf16 weights, f16\n"
               "where the device computes f16 natively, else f32).\n");
}

static bool cached_model(char *path, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[600];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/lcmflow", xdg);
    else
        snprintf(dir, sizeof dir, "%s/.cache/lcmflow", home ? home : "/tmp");
    char parent[700];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        mkdir(parent, 0755);
    }
    mkdir(dir, 0755);
    snprintf(path, size, "%s/synth-sd15-seed0-f16.safetensors", dir);
    struct stat st;
    return stat(path, &st) == 0;
}

struct steps {
    double last;
    int count;
};

static void on_step(void *user, int index, int total, int t, const float *latents_in,
                    const float *noise_pred, const float *denoised, const float *noise,
                    const float *latents_out, size_t count)
{
    struct steps *s = user;
    double now = now_s();
    printf("  unet step %d/%d (t=%d)   %8.2f s\n", index + 1, total, t, now - s->last);
    fflush(stdout);
    s->last = now;
    s->count++;
}

int lf_cli_bench_sd15(int argc, char **argv)
{
    const char *model = NULL, *lora_path = NULL, *dtype_name = "f16", *act_name = "auto";
    int size = 512, steps = 4, device_index;
    const char *device_choice = NULL;
    struct lf_cli_opts o = {.command = "bench sd15", .usage = usage, .argc = argc, .argv = argv};
    const char *a, *v;
    while (lf_cli_opts_next(&o, &a, &v)) {
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--lora"))
            lora_path = v;
        else if (!strcmp(a, "--dtype"))
            dtype_name = v;
        else if (!strcmp(a, "--act"))
            act_name = v;
        else if (!strcmp(a, "--size"))
            size = atoi(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--device"))
            device_choice = v;
        else
            return lf_cli_opts_unknown(&o);
    }
    if (o.status >= 0) return o.status;
    if (size < 64 || size % 64 || steps < 1 || steps > 50 || !sd_dtype_name_valid(dtype_name) ||
        (strcmp(act_name, "auto") && strcmp(act_name, "f16") && strcmp(act_name, "f32") &&
         strcmp(act_name, "bf16"))) {
        fprintf(stderr, "lcmflow bench sd15: --size is a multiple of 64, --steps 1..50, "
                        "--dtype f16, bf16, f32 or auto, --act f16, bf16, f32 or auto\n");
        return 2;
    }
    if (!lf_cli_device_choice("bench sd15", device_choice, &device_index)) return 2;
    enum lf_dtype dtype = LF_DTYPE_F32, auto_act = LF_DTYPE_F32;
    struct lf_error err = {0};
    char text[1600], path[800];
    if (!model) {
        if (!cached_model(path, sizeof path)) {
            printf("writing a synthetic SD 1.5 checkpoint to %s (once)...\n", path);
            fflush(stdout);
            if (sd_synth_checkpoint(&sd_arch_sd15, 0, LF_DTYPE_F16, path, NULL, &err)) {
                fprintf(stderr, "lcmflow bench sd15: %s\n", lf_error_text(&err, text, sizeof text));
                return 1;
            }
        }
        model = path;
    }

    int rc = 1;
    struct lf_device *device = NULL;
    struct sd_checkpoint ck = {0};
    struct sd_unet unet = {0};
    struct sd_clip clip = {0};
    struct sd_vae vae = {0};
    struct sd_lora *lora = NULL;
    struct lf_tensor *cond = NULL, *latent = NULL, *out = NULL, *image = NULL;
    struct lf_device_options options = {.index = device_index};
    double t0 = now_s(), t_start = t0;
    if (lf_device_create(&options, &device, &err) ||
        sd_dtype_choose(device, dtype_name, &dtype, &auto_act, &err))
        goto fail;
    if (strcmp(dtype_name, "auto")) auto_act = sd_activation_dtype(device, dtype);
    const struct lf_device_info *info = lf_device_get_info(device);
    printf("lcmflow bench sd15: %s (%.*s), %dx%d, %d steps, %s weights\n", info->name,
           (int)strcspn(info->details, "\n"), info->details, size, size, steps,
           lf_dtype_name(dtype));
    printf("  model: %s\n", model);
    if (sd_checkpoint_load(device, model, dtype, &ck, &err) ||
        sd_unet_init(&unet, ck.unet, &ck.arch.unet, &err) ||
        sd_clip_init(&clip, ck.clip, &ck.arch.text, &err) ||
        sd_vae_init(&vae, ck.vae, &ck.arch.vae, &err) || lf_device_sync(device, &err))
        goto fail;
    enum lf_dtype act = !strcmp(act_name, "f32")    ? LF_DTYPE_F32
                        : !strcmp(act_name, "f16")  ? LF_DTYPE_F16
                        : !strcmp(act_name, "bf16") ? LF_DTYPE_BF16
                                                    : auto_act;
    unet.act_dtype = clip.act_dtype = vae.act_dtype = act;
    printf("  activations: %s\n", lf_dtype_name(act));
    printf("  load checkpoint          %8.2f s\n", now_s() - t0);

    if (lora_path) {
        struct sd_weights *merged = NULL;
        float strength = 1.0f;
        t0 = now_s();
        if (sd_lora_load(device, lora_path, &lora, &err)) goto fail;
        const struct sd_lora *stack[1] = {lora};
        if (sd_lora_apply(ck.unet, SD_LORA_PART_UNET, stack, &strength, 1, &merged, &err) ||
            lf_device_sync(device, &err))
            goto fail;
        printf("  apply LoRA (%zu modules) %8.2f s\n", lora->count, now_s() - t0);
        sd_weights_release(merged);
        t0 = now_s();
        strength = 0.5f;
        if (sd_lora_apply(ck.unet, SD_LORA_PART_UNET, stack, &strength, 1, &merged, &err) ||
            lf_device_sync(device, &err))
            goto fail;
        printf("  change LoRA strength     %8.2f s\n", now_s() - t0);
        sd_unet_clear(&unet);
        if (sd_unet_init(&unet, merged, &ck.arch.unet, &err)) {
            sd_weights_release(merged);
            goto fail;
        }
        unet.act_dtype = act;
        sd_weights_release(merged);
    }

    int32_t ids[77];
    ids[0] = 49406;
    for (int i = 1; i <= 20; i++)
        ids[i] = 320 + 37 * i;
    for (int i = 21; i < 77; i++)
        ids[i] = 49407;
    for (int i = 0; i < 77; i++)
        if (ids[i] >= clip.vocab) ids[i] = ids[i] % clip.vocab;
    lf_device_reset_peak(device);
    double load_rss = peak_rss_gib();
    bool rss_reset = reset_peak_rss();
    double t_gen = now_s();
    t0 = t_gen;
    if (sd_clip_encode(&clip, ids, 77, &cond, &err) || lf_device_sync(device, &err)) goto fail;
    printf("  text encode              %8.2f s\n", now_s() - t0);

    int64_t shape[4] = {1, 4, size / 8, size / 8};
    if (lf_tensor_create(device, LF_DTYPE_F32, 4, shape, &latent, &err) ||
        lf_op_fill(latent, 0.0f, &err))
        goto fail;
    struct steps st = {now_s(), 0};
    struct sd_sample_trace trace = {.step = on_step, .user = &st};
    struct sd_sample_params p = {42, steps, 1.0f, 1.0f, 50};
    t0 = now_s();
    if (sd_lcm_sample(&unet, cond, NULL, latent, NULL, &p, &trace, &out, &err)) goto fail;
    double t_unet = now_s() - t0;
    t0 = now_s();
    if (sd_vae_decode(&vae, out, NULL, NULL, &image, &err) || lf_device_sync(device, &err))
        goto fail;
    double t_vae = now_s() - t0;
    printf("  unet, %d steps            %8.2f s (%.2f s per step)\n", steps, t_unet,
           t_unet / steps);
    printf("  vae decode               %8.2f s\n", t_vae);
    printf("  text to image            %8.2f s\n", now_s() - t_gen);
    struct lf_device_memory_stats mem;
    lf_device_memory_stats(device, &mem);
    printf("  peak device memory       %8.2f GiB in tensors, %.2f GiB reserved\n",
           (double)mem.peak_in_use / (1 << 30), (double)mem.peak_reserved / (1 << 30));
    if (rss_reset)
        printf("  peak host memory (RSS)   %8.2f GiB generating, %.2f GiB loading%s\n",
               peak_rss_gib(), load_rss, lora_path ? " and merging" : "");
    else
        printf("  peak host memory (RSS)   %8.2f GiB\n", peak_rss_gib());
    printf("  total                    %8.2f s\n", now_s() - t_start);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "lcmflow bench sd15: %s\n", lf_error_text(&err, text, sizeof text));
    lf_tensor_release(cond), lf_tensor_release(latent), lf_tensor_release(out);
    lf_tensor_release(image);
    sd_lora_release(lora);
    sd_unet_clear(&unet), sd_clip_clear(&clip), sd_vae_clear(&vae);
    sd_checkpoint_clear(&ck);
    lf_device_destroy(device);
    return rc;
}
