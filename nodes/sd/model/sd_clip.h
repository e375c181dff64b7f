/*
** sd_clip.h - the CLIP text transformer of SD 1.5 (Hugging Face
** CLIPTextModel names relative to cond_stage_model.transformer.).
*/
#ifndef LCMFLOW_SD_CLIP_H
#define LCMFLOW_SD_CLIP_H

#include "sd_arch.h"
#include "sd_weights.h"

struct sd_clip {
    struct sd_weights *weights; /* retained */
    int layers, hidden, heads, positions, vocab;
    enum lf_dtype act_dtype; /* activations: the weights' dtype unless set after init */
};

/* Depth, widths and heads are arch's (read from these weights or ones of
** the same shape, sd_arch_read_text); weights are retained. */
enum lf_status sd_clip_init(struct sd_clip *c, struct sd_weights *weights,
                            const struct sd_arch_text *arch, struct lf_error *err);
void sd_clip_clear(struct sd_clip *c);

/* A vocabulary fits this text encoder when it has as many tokens as the
** token embedding has rows; otherwise it belongs to another model and
** would encode every prompt wrongly.  The error names both. */
struct sd_tokenizer;
enum lf_status sd_clip_check_vocab(const struct sd_clip *c, const struct sd_tokenizer *tok,
                                   struct lf_error *err);

/* ids: count token ids (count <= positions) -> last hidden state
** [1, count, hidden] f32 after the final layer norm.  Caller releases. */
enum lf_status sd_clip_encode(const struct sd_clip *c, const int32_t *ids, int count,
                              struct lf_tensor **out, struct lf_error *err);

/* sd_clip_encode with the hidden states of layer `layers - clip_skip + 1`
** (clip_skip 1: the last layer; 2: the penultimate, ...) through the final
** layer norm, and with vectors[i] (hidden floats; vectors or vectors[i] may
** be NULL) replacing the token embedding of position i (textual-inversion
** embeddings).  clip_skip outside 1..layers is LF_ERR_INVALID. */
enum lf_status sd_clip_encode_ex(const struct sd_clip *c, const int32_t *ids,
                                 const float *const *vectors, int count, int clip_skip,
                                 struct lf_tensor **out, struct lf_error *err);

#endif
