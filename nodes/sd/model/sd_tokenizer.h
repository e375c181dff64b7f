/*
** sd_tokenizer.h - the CLIP BPE tokenizer that turns a prompt into the token ids
** SD 1.5's text encoder reads.
**
** It reproduces openai CLIP's simple_tokenizer.py: text clean-up (a subset
** of ftfy, HTML entities, whitespace collapsed, lower-cased), the CLIP
** pre-tokenisation pattern, byte-level BPE by merge rank, then
** [BOS] + the first 75 ids + [EOS], right-padded with EOS to 77 (the SD 1.5
** convention).  Two vocabulary layouts load to the same tokenizer: the
** Hugging Face one (vocab.json + merges.txt, as diffusers folders ship under
** tokenizer/) and openai's gzipped bpe_simple_vocab_16e6.txt.gz.
**
**     struct sd_tokenizer *tok;
**     int32_t ids[SD_TOKENIZER_CONTEXT];
**     if (sd_tokenizer_find(ckpt_dir, NULL, &tok, &err) == LF_OK &&
**         sd_tokenizer_encode(tok, "a cat", ids, NULL, &err) == LF_OK) ...
**     sd_tokenizer_free(tok);
**
** A loaded tokenizer is immutable apart from an internal per-word cache that
** is guarded by a mutex, so several threads may encode with one tokenizer.
*/
#ifndef LCMFLOW_SD_TOKENIZER_H
#define LCMFLOW_SD_TOKENIZER_H

#include "lcmflow/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token positions the text encoder sees: BOS, 75 text tokens, EOS/padding. */
#define SD_TOKENIZER_CONTEXT 77

/* The environment variable consulted last by sd_tokenizer_find(). */
#define SD_TOKENIZER_ENV "LCMFLOW_TOKENIZER"

struct sd_tokenizer;

/* Loads a vocabulary.  path is one of:
**   - a folder holding vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz;
**   - a vocab.json (merges.txt beside it) or a merges.txt (vocab.json beside it);
**   - any other file: openai's BPE merges file, gzipped or plain.
** On success *out is a new tokenizer; caller frees with sd_tokenizer_free().
** Errors name the file (and line, for merges) that is wrong. */
enum lf_status sd_tokenizer_load(const char *path, struct sd_tokenizer **out, struct lf_error *err);

/* Finds the vocabulary the way CheckpointLoader does, first hit wins:
**   1. the checkpoint's tokenizer/ folder: checkpoint is a diffusers folder
**      (its tokenizer/ sub-folder) or a single-file checkpoint (its own
**      vocabulary folder beside it, sd_own_tokenizer_dir: "tiny.tokenizer"
**      for tiny.safetensors, then a shared tokenizer/ folder beside the
**      file); NULL skips this place;
**   2. param, the node's `tokenizer` param (NULL or "" skips it);
**   3. the LCMFLOW_TOKENIZER environment variable.
** Writes the path found into path (size bytes).  When nothing is found the
** error (LF_ERR_NOT_FOUND) lists every place looked at and why it failed. */
enum lf_status sd_tokenizer_locate(const char *checkpoint, const char *param, char *path,
                                   size_t size, struct lf_error *err);

/* sd_tokenizer_locate() then sd_tokenizer_load(); caller frees *out with
** sd_tokenizer_free(). */
enum lf_status sd_tokenizer_find(const char *checkpoint, const char *param,
                                 struct sd_tokenizer **out, struct lf_error *err);

/* Encodes text (UTF-8) into exactly SD_TOKENIZER_CONTEXT ids: BOS, the
** first 75 BPE ids, EOS, then EOS as padding.  *truncated (may be NULL) says
** whether BPE ids were dropped.  Fails only on invalid UTF-8 or no memory. */
enum lf_status sd_tokenizer_encode(struct sd_tokenizer *tok, const char *text,
                                   int32_t ids[SD_TOKENIZER_CONTEXT], bool *truncated,
                                   struct lf_error *err);

/* The BPE ids of text without BOS/EOS and without truncation (for prompt
** chunking and tests).  *ids is malloc'ed (caller frees with free(); NULL
** when *count is 0). */
enum lf_status sd_tokenizer_encode_untruncated(struct sd_tokenizer *tok, const char *text,
                                               int32_t **ids, size_t *count, struct lf_error *err);

/* Vocabulary facts.  sd_tokenizer_token() returns the token's vocabulary
** string (byte-level form, e.g. "cat</w>"), borrowed, valid until
** sd_tokenizer_free(); NULL for an id outside the vocabulary. */
size_t sd_tokenizer_vocab_size(const struct sd_tokenizer *tok);
size_t sd_tokenizer_merge_count(const struct sd_tokenizer *tok);
int32_t sd_tokenizer_bos(const struct sd_tokenizer *tok);
int32_t sd_tokenizer_eos(const struct sd_tokenizer *tok);
const char *sd_tokenizer_token(const struct sd_tokenizer *tok, int32_t id);

/* The path the vocabulary was loaded from; borrowed, valid until
** sd_tokenizer_free(). */
const char *sd_tokenizer_path(const struct sd_tokenizer *tok);

/* Accepts NULL. */
void sd_tokenizer_free(struct sd_tokenizer *tok);

#endif
