/*
** sd_conditioning.h - a parsed prompt to CONDITIONING: tokens in chunks of
** 75, each encoded as BOS + 75 tokens (EOS-padded) + EOS, weighted, and the
** chunks' hidden states concatenated into [1, 77 * chunks, hidden].
**
**     struct sd_prompt p;              sd_prompt_parse(text, ..., &p, &err);
**     struct sd_prompt_tokens t;       sd_prompt_tokenize(tok, &p, &lib, &t, &err);
**     struct lf_tensor *cond;          sd_conditioning_encode(&clip, &t, SD_WEIGHTING_A1111,
**                                                             1, NULL, &cond, &err);
**
** Chunking: a word's tokens (up to the token ending in "</w>") and an
** embedding's vectors stay in one chunk when they fit in a fresh one; a
** longer word or embedding fills chunks in order.  BREAK closes the current
** chunk (an empty one too, as AUTOMATIC1111 does); an empty prompt is one
** chunk.
*/
#ifndef LCMFLOW_SD_CONDITIONING_H
#define LCMFLOW_SD_CONDITIONING_H

#include "sd_clip.h"
#include "sd_embedding.h"
#include "sd_prompt.h"
#include "sd_tokenizer.h"

/* Text tokens per chunk (the context minus BOS and EOS). */
#define SD_CHUNK_TOKENS (SD_TOKENIZER_CONTEXT - 2)

enum sd_weighting {
    SD_WEIGHTING_A1111, /* z * w, then the chunk rescaled to its unweighted mean */
    SD_WEIGHTING_COMFY, /* z_empty + w * (z - z_empty) where w != 1 */
    SD_WEIGHTING_NONE,  /* brackets are text; weights are all 1 */
};

/* "a1111", "comfy", "none" -> *out; false for anything else. */
bool sd_weighting_parse(const char *name, enum sd_weighting *out);

/* Every position of every chunk (chunks * SD_TOKENIZER_CONTEXT entries). */
struct sd_prompt_tokens {
    int chunks;
    int32_t *ids;
    float *weights;
    const float **vectors; /* an embedding vector (borrowed from the library) or NULL */
    const char **names;    /* the embedding's name at its positions, else NULL */
};

/* Tokenizes the prompt's runs and lays them out in chunks.  lib (may be
** NULL: then embedding:NAME is an error) resolves embeddings; the vectors
** stay owned by lib, which must outlive *out.  Caller frees with
** sd_prompt_tokens_free(). */
enum lf_status sd_prompt_tokenize(struct sd_tokenizer *tok, const struct sd_prompt *prompt,
                                  struct sd_embeddings *lib, struct sd_prompt_tokens *out,
                                  struct lf_error *err);
void sd_prompt_tokens_free(struct sd_prompt_tokens *t);

/* The encoding of the empty prompt (BOS, then EOS to the end) as host floats
** [SD_TOKENIZER_CONTEXT * hidden] (*out malloc'ed, caller frees). */
enum lf_status sd_conditioning_empty(const struct sd_clip *c, int32_t bos, int32_t eos,
                                     int clip_skip, float **out, struct lf_error *err);

/* Encodes every chunk with clip_skip, applies the weighting and returns
** [1, 77 * chunks, hidden] f32 (caller releases).  Chunks whose weights are
** all 1 are the encoder's output bit for bit.  empty: the empty prompt's
** encoding at this clip_skip (sd_conditioning_empty) for comfy weighting;
** NULL computes it when needed. */
enum lf_status sd_conditioning_encode(const struct sd_clip *c, const struct sd_prompt_tokens *t,
                                      enum sd_weighting weighting, int clip_skip,
                                      const float *empty, struct lf_tensor **out,
                                      struct lf_error *err);

#endif
