/*
** sd_embedding.h - textual-inversion embeddings: `.safetensors` files of n
** token vectors that `embedding:NAME` in a prompt inserts in place of
** tokens.
**
** Layouts read:
**   - AUTOMATIC1111's: one tensor `emb_params` [n, width];
**   - diffusers' (textual_inversion training script): one tensor named after
**     the placeholder token, `{"<token>": [width]}` or `[n, width]`.
** Any file holding exactly one float tensor of rank 1 or 2 (or [1, n, width])
** is read the diffusers way.  Pickle files (.pt, .bin) are refused.
*/
#ifndef LCMFLOW_SD_EMBEDDING_H
#define LCMFLOW_SD_EMBEDDING_H

#include "lcmflow/error.h"

#include <stddef.h>
#include <stdint.h>

struct sd_embedding {
    char *name;   /* the name a prompt used (NULL for sd_embedding_load) */
    char *path;   /* the file */
    char *tensor; /* the tensor read: "emb_params" or the token */
    int count;    /* vectors */
    int width;    /* floats per vector */
    float *data;  /* count * width */
};

/* Reads the file at path into *out (caller clears with
** sd_embedding_clear()).  Errors name the file and say what was expected. */
enum lf_status sd_embedding_load(const char *path, struct sd_embedding *out, struct lf_error *err);
void sd_embedding_clear(struct sd_embedding *e);

/* The embeddings a prompt can name: up to two folders searched in order
** (TextEncode's `embeddings` param, then the checkpoint's), for the text
** encoder of the given width.  Loaded files are kept until
** sd_embeddings_clear(). */
struct sd_embeddings {
    const char *dirs[2]; /* borrowed; NULL or "" entries are skipped */
    int width;
    struct sd_embedding **items; /* each allocated alone: pointers stay valid */
    size_t count;
};

/* The embedding called name (a file name in a folder, with or without
** ".safetensors"); *out is borrowed from lib.  Errors: LF_ERR_NOT_FOUND
** listing the embeddings found in the folders; a pickle file refused; a
** width other than lib->width (naming the file and both widths). */
enum lf_status sd_embeddings_find(struct sd_embeddings *lib, const char *name,
                                  const struct sd_embedding **out, struct lf_error *err);

/* The path an embedding name would be read from, or "" when no folder holds
** it (for cache identities).  Writes at most size bytes. */
void sd_embeddings_path(const struct sd_embeddings *lib, const char *name, char *path, size_t size);

void sd_embeddings_clear(struct sd_embeddings *lib);

/* Mixes the names, sizes and modification times of the files in folder dir
** (NULL or "" allowed) into h: the cache identity of an embeddings folder. */
uint64_t sd_embeddings_identity(const char *dir, uint64_t h);

#endif
