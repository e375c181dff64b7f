/*
** cli_synth.c - `lcmflow synth-checkpoint`: a random-weight SD 1.5
** checkpoint in the single-file layout (and, for the tiny preset, a small
** vocabulary beside it), so a fresh machine can run the pipeline and the
** benchmarks can run at full size without a download.
*/
#include "cli.h"
#include "sd_diffusers.h"
#include "sd_synth.h"
#include "sd_synth_lora.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: lcmflow synth-checkpoint --preset tiny|sd15 [--seed N] [--dtype f16|f32]\n"
               "                                --out FILE\n\n"
               "Writes a checkpoint with random weights and the real SD 1.5 key layout:\n"
               "  tiny  the widths of the tiny test model (a few MB), plus a small synthetic\n"
               "        CLIP vocabulary of its own beside FILE (tiny.tokenizer/ for\n"
               "        tiny.safetensors), found before a shared tokenizer/ folder\n"
               "  sd15  the real SD 1.5 shapes (about 1.07 billion parameters, 2.1 GB in f16)\n"
               "The same seed always writes the same file.  Images made from it are noise.\n");
}

/* After the options of synth-checkpoint and synth-lora: --preset and --out
** are required (else the usage on stderr), and the preset names PREFIX
** "tiny" (the tiny test model's widths) or PREFIX "sd15".  NULL after
** saying what is wrong. */
static const struct sd_arch *preset_arch(const struct lf_cli_opts *o, const char *prefix,
                                         const char *preset, const char *out)
{
    if (!preset || !out) {
        o->usage(stderr);
        return NULL;
    }
    size_t n = strlen(prefix);
    const char *rest = strncmp(preset, prefix, n) ? "" : preset + n;
    if (!strcmp(rest, "tiny")) return &sd_arch_tiny;
    if (!strcmp(rest, "sd15")) return &sd_arch_sd15;
    fprintf(stderr, "lcmflow %s: unknown preset '%s' (%stiny or %ssd15)\n", o->command, preset,
            prefix, prefix);
    return NULL;
}

int lf_cli_synth_checkpoint(int argc, char **argv)
{
    const char *preset = NULL, *out = NULL, *dtype_name = "f16";
    unsigned long long seed = 0;
    struct lf_cli_opts o = {
        .command = "synth-checkpoint", .usage = usage, .argc = argc, .argv = argv};
    const char *a, *v;
    while (lf_cli_opts_next(&o, &a, &v)) {
        if (!strcmp(a, "--preset"))
            preset = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--dtype"))
            dtype_name = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || *end || v[0] == '-') {
                fprintf(stderr,
                        "lcmflow synth-checkpoint: --seed wants a non-negative integer, "
                        "not '%s'\n",
                        v);
                return 2;
            }
        } else {
            return lf_cli_opts_unknown(&o);
        }
    }
    if (o.status >= 0) return o.status;
    const struct sd_arch *arch = preset_arch(&o, "", preset, out);
    if (!arch) return 2;
    enum lf_dtype dtype;
    if (!strcmp(dtype_name, "f16"))
        dtype = LF_DTYPE_F16;
    else if (!strcmp(dtype_name, "f32"))
        dtype = LF_DTYPE_F32;
    else {
        fprintf(stderr, "lcmflow synth-checkpoint: --dtype is f16 or f32, not '%s'\n", dtype_name);
        return 2;
    }
    struct lf_error err = {0};
    char text[1200];
    int64_t params = 0;
    if (sd_synth_checkpoint(arch, seed, dtype, out, &params, &err) != LF_OK) {
        fprintf(stderr, "lcmflow synth-checkpoint: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    printf("wrote %s: SD 1.5 layout, preset %s, %lld parameters, %s, seed %llu\n", out, preset,
           (long long)params, dtype_name, seed);
    if (arch == &sd_arch_tiny) {
        /* The small vocabulary is this model's alone: under the file's own
        ** name, never the tokenizer/ folder a real checkpoint beside it
        ** would use (sd_own_tokenizer_dir). */
        char dir[1100];
        if (!sd_own_tokenizer_dir(out, dir, sizeof dir)) {
            fprintf(stderr, "lcmflow synth-checkpoint: %s: path too long\n", out);
            return 1;
        }
        if (sd_synth_vocab(dir, arch->text.vocab, &err) != LF_OK) {
            fprintf(stderr, "lcmflow synth-checkpoint: %s\n",
                    lf_error_text(&err, text, sizeof text));
            return 1;
        }
        printf("wrote %s/vocab.json and merges.txt: a small synthetic vocabulary\n", dir);
    }
    return 0;
}

static void lora_usage(FILE *f)
{
    fprintf(f, "usage: lcmflow synth-lora --preset lcm-sd15|lcm-tiny [--rank N] [--alpha A]\n"
               "                          [--seed N] --out FILE\n\n"
               "Writes a LoRA with random f16 values in the layout of the published LCM-LoRA\n"
               "for SD 1.5 (kohya keys with diffusers module paths; attention, feed-forward,\n"
               "proj, resnet convs, time_emb_proj, conv_shortcut, down/up-sampler convs:\n"
               "278 modules).  lcm-sd15 fits `synth-checkpoint --preset sd15` (rank 64: about\n"
               "67 M parameters), lcm-tiny the tiny preset.  --rank defaults to 64, --alpha\n"
               "to the rank (scale 1).  The same seed always writes the same file.\n");
}

int lf_cli_synth_lora(int argc, char **argv)
{
    const char *preset = NULL, *out = NULL;
    long long rank = 64, seed = 0;
    double alpha = -1.0;
    struct lf_cli_opts o = {
        .command = "synth-lora", .usage = lora_usage, .argc = argc, .argv = argv};
    const char *a, *v;
    while (lf_cli_opts_next(&o, &a, &v)) {
        if (!strcmp(a, "--preset"))
            preset = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--rank")) {
            if (!lf_cli_opts_count(&o, v, 1, 4096, &rank)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!lf_cli_opts_count(&o, v, 0, 0x7fffffffffffffffll, &seed)) return 2;
        } else if (!strcmp(a, "--alpha")) {
            char *end;
            alpha = strtod(v, &end);
            if (*end || end == v || !(alpha > 0.0 && alpha < 65504.0)) {
                fprintf(stderr, "lcmflow synth-lora: --alpha wants a positive number, not '%s'\n",
                        v);
                return 2;
            }
        } else {
            return lf_cli_opts_unknown(&o);
        }
    }
    if (o.status >= 0) return o.status;
    const struct sd_arch *arch = preset_arch(&o, "lcm-", preset, out);
    if (!arch) return 2;
    if (alpha < 0.0) alpha = (double)rank;
    struct lf_error err = {0};
    char text[1200];
    int modules = 0;
    int64_t params = 0;
    if (sd_synth_lora(arch, (int)rank, (float)alpha, (uint64_t)seed, out, &modules, &params,
                      &err) != LF_OK) {
        fprintf(stderr, "lcmflow synth-lora: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    printf("wrote %s: LCM-LoRA layout, preset %s, %d modules, rank %lld, alpha %g, %lld "
           "parameters (f16), seed %lld\n",
           out, preset, modules, rank, alpha, (long long)params, seed);
    return 0;
}

static void taesd_usage(FILE *f)
{
    fprintf(f, "usage: lcmflow synth-taesd [--latent-channels N] [--seed N] --out FILE\n\n"
               "Writes a TAESD (the tiny autoencoder: encoder and decoder, 64 channels wide)\n"
               "with random f16 weights, one file that TaesdLoader takes as both its encoder\n"
               "and its decoder.  --latent-channels defaults to 4 (SD 1.5's latents).  It\n"
               "costs what a trained TAESD costs (for benchmarks, step previews, tests); its\n"
               "images are noise.  The same seed always writes the same file.\n");
}

int lf_cli_synth_taesd(int argc, char **argv)
{
    const char *out = NULL;
    long long channels = 4, seed = 0;
    struct lf_cli_opts o = {
        .command = "synth-taesd", .usage = taesd_usage, .argc = argc, .argv = argv};
    const char *a, *v;
    while (lf_cli_opts_next(&o, &a, &v)) {
        if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--latent-channels")) {
            if (!lf_cli_opts_count(&o, v, 1, 256, &channels)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!lf_cli_opts_count(&o, v, 0, 0x7fffffffffffffffll, &seed)) return 2;
        } else {
            return lf_cli_opts_unknown(&o);
        }
    }
    if (o.status >= 0) return o.status;
    if (!out) {
        taesd_usage(stderr);
        return 2;
    }
    struct lf_error err = {0};
    char text[1200];
    int64_t params = 0;
    if (sd_synth_taesd((int)channels, (uint64_t)seed, out, &params, &err) != LF_OK) {
        fprintf(stderr, "lcmflow synth-taesd: %s\n", lf_error_text(&err, text, sizeof text));
        return 1;
    }
    printf("wrote %s: TAESD layout, %lld latent channels, %lld parameters (f16), seed %lld\n", out,
           channels, (long long)params, seed);
    return 0;
}
