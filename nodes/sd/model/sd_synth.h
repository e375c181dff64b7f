/*
** sd_synth.h - synthetic checkpoints and vocabularies: random weights in the
** real file layout, so a fresh machine can run every pipeline end to end
** (its images are noise) and benchmarks can run at full size.
*/
#ifndef LCMFLOW_SD_SYNTH_H
#define LCMFLOW_SD_SYNTH_H

#include "lcmflow/safetensors.h"
#include "lcmflow/tensor.h"
#include "sd_arch.h"

/* Writes a single-file checkpoint of arch with weights drawn from seed
** (PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norms 1 and
** 0).  Deterministic: the same seed gives the same bytes.  dtype f16 or f32.
** The file is written to a temporary name and renamed. */
enum lf_status sd_synth_checkpoint(const struct sd_arch *arch, uint64_t seed, enum lf_dtype dtype,
                                   const char *path, int64_t *params, struct lf_error *err);

/* Writes dir/vocab.json and dir/merges.txt: a small CLIP-style BPE
** vocabulary (the 512 byte tokens, merges spelling common prompt words, then
** two-letter tokens, <|startoftext|> and <|endoftext|>) of exactly
** max_tokens entries (the rows of the text encoder it goes with). */
enum lf_status sd_synth_vocab(const char *dir, int max_tokens, struct lf_error *err);

/* Writes a TAESD for SD 1.5's latents (encoder and decoder, 64 channels
** wide, latent_channels latents: 4 for SD 1.5) with random f16 weights in
** the one-file layout "taesd_encoder.N..." / "taesd_decoder.N...", which
** TaesdLoader takes as its encoder and its decoder.  Weights are drawn as
** sd_synth_checkpoint's; the decoder's last bias is 0.5, so its images sit
** mid-range instead of half clamped at 0.  Same seed, same bytes. */
enum lf_status sd_synth_taesd(int latent_channels, uint64_t seed, const char *path, int64_t *params,
                              struct lf_error *err);

/* ---- the random tensor writer both synthetic files use ---- */

struct sd_synth_writer {
    struct lf_safetensors_writer *writer;
    uint64_t seed;
    void **buffers; /* the values, borrowed by writer until the file is written */
    size_t count, capacity;
    enum lf_status status; /* the first error; later calls do nothing */
    struct lf_error *err;
};

enum lf_status sd_synth_writer_init(struct sd_synth_writer *w, uint64_t seed, struct lf_error *err);
/* Adds the tensor name of dtype (f16 or f32): U(-bound, bound) values from
** the name's own stream (so they do not depend on the order of calls), or
** every value fill when bound is 0.  Returns its element count. */
int64_t sd_synth_add(struct sd_synth_writer *w, const char *name, enum lf_dtype dtype, int rank,
                     const int64_t *shape, float bound, float fill);
/* Writes the file (when no call failed) and frees w; the first error. */
enum lf_status sd_synth_writer_finish(struct sd_synth_writer *w, const char *path);

#endif
