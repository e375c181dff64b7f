/*
** sd_weights.h - the weights of one model component (UNet, VAE, text
** encoder) on the device, found by name.
**
** Names are the original-LDM names relative to the component's prefix
** ("input_blocks.1.0.in_layers.0.weight" for the UNet).  The source files
** stay memory-mapped: they are the base copy that LoRA merges start from.
*/
#ifndef LCMFLOW_SD_WEIGHTS_H
#define LCMFLOW_SD_WEIGHTS_H

#include "lcmflow/safetensors.h"
#include "lcmflow/tensor.h"

#include <stdbool.h>

struct sd_weight {
    char *name;
    /* Owned; NULL while dropped (sd_weights_take): sd_weights_get loads it
    ** from source again.  Read it through sd_weights_get / sd_weights_tensor. */
    struct lf_tensor *tensor;
    const struct lf_safetensors *file; /* borrowed: one of the weights' files */
    /* The checkpoint's base values, in the mapped file.  For weights made by
    ** sd_weights_derive + sd_weights_replace (LoRA merges) the tensor may
    ** differ from source. */
    const struct lf_safetensors_tensor *source;
    /* tensor holds exactly what loading source gives (bit for bit): it can
    ** be dropped and loaded again.  False for replaced (merged) tensors. */
    bool from_source;
    int rank; /* the tensor's shape, known while it is dropped too */
    int64_t shape[LF_TENSOR_MAX_RANK];
};

struct sd_weights {
    uint32_t refcount;
    struct lf_device *device;
    enum lf_dtype dtype; /* of the device copies: f32 or f16 */
    struct sd_weight *items;
    size_t count, capacity;
    size_t *index; /* open-addressing hash of items, index_size slots (SIZE_MAX = empty) */
    size_t index_size;
    struct sd_file **files; /* retained */
    size_t file_count;
    uint64_t bytes; /* device bytes of all tensors */
};

/* Maps a file's tensor name to the component name, or returns false to skip
** the tensor.  out has room for 256 bytes. */
typedef bool (*sd_name_map)(const char *file_name, char *out, void *user);

/* An empty set; caller releases with sd_weights_release(). */
enum lf_status sd_weights_create(struct lf_device *device, enum lf_dtype dtype,
                                 struct sd_weights **out, struct lf_error *err);
struct sd_weights *sd_weights_retain(struct sd_weights *w);
void sd_weights_release(struct sd_weights *w);

/* A shared open safetensors file: the UNet, VAE and text encoder of one
** checkpoint keep it mapped together. */
struct sd_file {
    uint32_t refcount;
    struct lf_safetensors *st;
};
/* Caller releases with sd_file_release(). */
enum lf_status sd_file_open(const char *path, struct sd_file **out, struct lf_error *err);
struct sd_file *sd_file_retain(struct sd_file *file);
void sd_file_release(struct sd_file *file);

/* Uploads every tensor of file that map accepts, converting to w's dtype
** (integer tensors are skipped).  w retains file. */
enum lf_status sd_weights_add_file(struct sd_weights *w, struct sd_file *file, sd_name_map map,
                                   void *user, struct lf_error *err);

/* The weight called name, or NULL.  Borrowed, valid while w lives.  Its
** tensor may be dropped (NULL): use sd_weights_get for the values. */
const struct sd_weight *sd_weights_find(const struct sd_weights *w, const char *name);
/* Item index's tensor, borrowed (valid until w is released or the item
** taken), loaded from its source first when it was dropped: the same bits
** as when w was loaded.  w's values never change; only its memory does. */
enum lf_status sd_weights_get(const struct sd_weights *w, size_t index, struct lf_tensor **out,
                              struct lf_error *err);
/* sd_weights_get by name; NULL when there is no such weight or it could not
** be loaded again. */
struct lf_tensor *sd_weights_tensor(const struct sd_weights *w, const char *name);

/* Takes item index's tensor out of w (the caller owns it; w loads it from
** its source again when asked) when w's copy is the only one and the file
** gives it back bit for bit (from_source); else NULL and w is unchanged.
** A LoRA merge uses it to merge into the base's memory instead of beside
** it, so that a touched layer is held once. */
struct lf_tensor *sd_weights_take(struct sd_weights *w, size_t index);
/* A new tensor with item index's base values, loaded from its source (not
** shared with w), prepared as the first load did or left plain (a merge
** into it prepares it after).  Caller releases. */
enum lf_status sd_weights_load_source(const struct sd_weights *w, size_t index, bool prepare,
                                      struct lf_tensor **out, struct lf_error *err);

/* FNV-1a of a name: the hash of the weights' index (and other name tables). */
uint64_t sd_hash_name(const char *s);

/* The shape of the weight called name in the struct sd_weights weights, as
** sd_arch_read_* looks tensors up (sd_arch_lookup). */
bool sd_weights_lookup(const char *name, int *rank, int64_t shape[4], void *weights);

/* A new set with the same names, files and sources whose items share
** (retain) every tensor of w; w is not modified.  Caller releases. */
enum lf_status sd_weights_derive(const struct sd_weights *w, struct sd_weights **out,
                                 struct lf_error *err);

/* Bytes of w's tensors that base does not hold too (w derived from base):
** what w adds to memory beside base, for the cache budget. */
uint64_t sd_weights_own_bytes(const struct sd_weights *w, const struct sd_weights *base);

/* Replaces item index's tensor by tensor (same shape; w takes over the
** caller's reference) and releases the old one.  Only for a set nobody else
** holds yet (fresh from sd_weights_derive): other holders would see the
** change.  On error the caller keeps its reference. */
enum lf_status sd_weights_replace(struct sd_weights *w, size_t index, struct lf_tensor *tensor,
                                  struct lf_error *err);

#endif
