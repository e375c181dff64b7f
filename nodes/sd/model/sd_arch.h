/*
** sd_arch.h - the SD 1.5 architecture as a list of tensors (name, shape),
** for a given set of widths: what a checkpoint of that shape contains.
** Used to write synthetic checkpoints (benchmarks, self-contained tests).
*/
#ifndef LCMFLOW_SD_ARCH_H
#define LCMFLOW_SD_ARCH_H

#include <stdint.h>

struct sd_arch {
    int unet_channels[4]; /* 320, 640, 1280, 1280 */
    int context_dim;      /* 768 */
    int text_hidden, text_layers, text_mlp, text_vocab, text_positions;
    int vae_channels[4]; /* 128, 256, 512, 512 */
};

extern const struct sd_arch sd_arch_sd15;
extern const struct sd_arch sd_arch_tiny;

struct sd_arch_tensor {
    char name[160]; /* full single-file name, e.g. model.diffusion_model.out.2.weight */
    int rank;
    int64_t shape[4];
    int64_t fan_in; /* for initialisation; 0 for norm weights/biases */
    int is_norm;    /* 1: a norm's weight (init 1); 2: a norm's bias (init 0) */
};

/* Calls fn for every tensor of the single-file checkpoint, in a fixed order. */
typedef void (*sd_arch_fn)(const struct sd_arch_tensor *t, void *user);
void sd_arch_each(const struct sd_arch *arch, sd_arch_fn fn, void *user);

#endif
