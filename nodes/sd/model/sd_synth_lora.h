/*
** sd_synth_lora.h - synthetic LoRA files for benchmarks: random values in
** the layout of the published LCM-LoRA for SD 1.5 (kohya keys carrying
** diffusers module paths, every attention, feed-forward, proj, resnet conv,
** time_emb_proj, conv_shortcut and down/up-sampler conv: 278 modules).
*/
#ifndef LCMFLOW_SD_SYNTH_LORA_H
#define LCMFLOW_SD_SYNTH_LORA_H

#include "lcmflow/error.h"
#include "sd_arch.h"

#include <stdint.h>

/* Writes an f16 LoRA of the given rank and alpha for arch's UNet to path
** (temporary name, then renamed).  down ~ U(-1/sqrt(fan_in), +), up ~
** U(-0.1/sqrt(rank), +), drawn per tensor from seed: the same seed writes
** the same bytes.  *modules and *params (may be NULL) receive the counts. */
enum lf_status sd_synth_lora(const struct sd_arch *arch, int rank, float alpha, uint64_t seed,
                             const char *path, int *modules, int64_t *params, struct lf_error *err);

#endif
