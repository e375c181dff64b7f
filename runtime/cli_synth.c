/*
** cli_synth.c - `lcmflow synth-checkpoint`: a random-weight SD 1.5
** checkpoint in the single-file layout (and, for the tiny preset, a small
** vocabulary beside it), so a fresh machine can run the pipeline and the
** benchmarks can run at full size without a download.
*/
#include "cli.h"
#include "sd_synth.h"

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
               "        CLIP vocabulary in tokenizer/ beside FILE\n"
               "  sd15  the real SD 1.5 shapes (about 1.07 billion parameters, 2.1 GB in f16)\n"
               "The same seed always writes the same file.  Images made from it are noise.\n");
}

int lf_cli_synth_checkpoint(int argc, char **argv)
{
    const char *preset = NULL, *out = NULL, *dtype_name = "f16";
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "lcmflow synth-checkpoint: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--preset"))
            preset = argv[++i];
        else if (!strcmp(a, "--out"))
            out = argv[++i];
        else if (!strcmp(a, "--dtype"))
            dtype_name = argv[++i];
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || argv[i][0] == '-') {
                fprintf(stderr,
                        "lcmflow synth-checkpoint: --seed wants a non-negative integer, "
                        "not '%s'\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "lcmflow synth-checkpoint: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!preset || !out) {
        usage(stderr);
        return 2;
    }
    const struct sd_arch *arch = !strcmp(preset, "tiny")   ? &sd_arch_tiny
                                 : !strcmp(preset, "sd15") ? &sd_arch_sd15
                                                           : NULL;
    if (!arch) {
        fprintf(stderr, "lcmflow synth-checkpoint: unknown preset '%s' (tiny or sd15)\n", preset);
        return 2;
    }
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
        char dir[1024];
        const char *slash = strrchr(out, '/');
        if (slash)
            snprintf(dir, sizeof dir, "%.*s/tokenizer", (int)(slash - out), out);
        else
            snprintf(dir, sizeof dir, "tokenizer");
        if (sd_synth_vocab(dir, arch->text_vocab, &err) != LF_OK) {
            fprintf(stderr, "lcmflow synth-checkpoint: %s\n",
                    lf_error_text(&err, text, sizeof text));
            return 1;
        }
        printf("wrote %s/vocab.json and merges.txt: a small synthetic vocabulary\n", dir);
    }
    return 0;
}
