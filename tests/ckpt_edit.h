/*
** ckpt_edit.h - checkpoints for tests: a copy of a safetensors file with
** tensors dropped, stored as another dtype or shape, or added; a TAESD pair
** in the diffusers layout.
*/
#ifndef LCMFLOW_TEST_CKPT_EDIT_H
#define LCMFLOW_TEST_CKPT_EDIT_H

#include "lcmflow/safetensors.h"

#include <stddef.h>

enum ckpt_edit_kind {
    CKPT_DROP,  /* leave the tensor out */
    CKPT_DTYPE, /* store its bytes as dtype (of the same size) */
    CKPT_SHAPE, /* store its bytes with another shape of the same size */
    CKPT_ADD,   /* add a zero-filled tensor of dtype and shape */
};

struct ckpt_edit {
    const char *name;
    enum ckpt_edit_kind kind;
    enum lf_st_dtype dtype;
    int rank;
    int64_t shape[4];
};

/* Writes src's tensors (and metadata) to dst with the edits applied.
** Returns 0, or -1 after printing why to stderr. */
int ckpt_edit_copy(const char *src, const char *dst, const struct ckpt_edit *edits, size_t n);

/* Writes a TAESD encoder and decoder file pair (taesd.py's "N.rest" keys)
** as one diffusers AutoencoderTiny file: encoder.layers.N unchanged,
** decoder.layers.N-1 (diffusers has no Clamp layer).  Returns 0, or -1
** after printing why to stderr. */
int ckpt_taesd_to_diffusers(const char *encoder, const char *decoder, const char *dst);

#endif
