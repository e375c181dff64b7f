/*
** sd_weights.c - a component's weights on the device, by name.
*/
#include "sd_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum lf_status sd_file_open(const char *path, struct sd_file **out, struct lf_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = lf_safetensors_open(path, &(*out)->st, err);
    if (s) {
        free(*out);
        *out = NULL;
        return s;
    }
    (*out)->refcount = 1;
    return LF_OK;
}

struct sd_file *sd_file_retain(struct sd_file *file)
{
    if (file) file->refcount++;
    return file;
}

void sd_file_release(struct sd_file *file)
{
    if (!file || --file->refcount > 0) return;
    lf_safetensors_close(file->st);
    free(file);
}

enum lf_status sd_weights_create(struct lf_device *device, enum lf_dtype dtype,
                                 struct sd_weights **out, struct lf_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    (*out)->refcount = 1;
    (*out)->device = device;
    (*out)->dtype = dtype;
    return LF_OK;
}

struct sd_weights *sd_weights_retain(struct sd_weights *w)
{
    if (w) w->refcount++;
    return w;
}

void sd_weights_release(struct sd_weights *w)
{
    if (!w || --w->refcount > 0) return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->items[i].name);
        lf_tensor_release(w->items[i].tensor);
    }
    for (size_t i = 0; i < w->file_count; i++)
        sd_file_release(w->files[i]);
    free(w->files);
    free(w->items);
    free(w->index);
    free(w);
}

uint64_t sd_hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static enum lf_status rehash(struct sd_weights *w, struct lf_error *err)
{
    size_t size = w->index_size ? w->index_size * 2 : 1024;
    size_t *index = malloc(size * sizeof *index);
    if (!index) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < size; i++)
        index[i] = SIZE_MAX;
    for (size_t i = 0; i < w->count; i++) {
        size_t slot = sd_hash_name(w->items[i].name) & (size - 1);
        while (index[slot] != SIZE_MAX)
            slot = (slot + 1) & (size - 1);
        index[slot] = i;
    }
    free(w->index);
    w->index = index;
    w->index_size = size;
    return LF_OK;
}

const struct sd_weight *sd_weights_find(const struct sd_weights *w, const char *name)
{
    if (!w->index_size) return NULL;
    size_t slot = sd_hash_name(name) & (w->index_size - 1);
    for (; w->index[slot] != SIZE_MAX; slot = (slot + 1) & (w->index_size - 1))
        if (!strcmp(w->items[w->index[slot]].name, name)) return &w->items[w->index[slot]];
    return NULL;
}

struct lf_tensor *sd_weights_tensor(const struct sd_weights *w, const char *name)
{
    const struct sd_weight *item = sd_weights_find(w, name);
    struct lf_tensor *t = NULL;
    if (item) sd_weights_get(w, (size_t)(item - w->items), &t, NULL);
    return t;
}

bool sd_weights_lookup(const char *name, int *rank, int64_t shape[4], void *weights)
{
    const struct sd_weight *item = sd_weights_find(weights, name);
    if (!item || item->rank > 4) return false;
    *rank = item->rank;
    memcpy(shape, item->shape, (size_t)item->rank * sizeof *shape);
    return true;
}

static void note_shape(struct sd_weight *item)
{
    item->rank = item->tensor->rank;
    memcpy(item->shape, item->tensor->shape, sizeof item->shape);
}

/* Reads a file tensor into a new device tensor of w's dtype; the device
** converts (sd_weights_load_source gives the same bits again). */
static enum lf_status upload(const struct sd_weights *w, const struct lf_safetensors *st,
                             const struct lf_safetensors_tensor *src, bool prepare,
                             struct lf_tensor **out, struct lf_error *err)
{
    int64_t one = 1;
    const int64_t *shape = src->rank ? src->shape : &one;
    int rank = src->rank ? src->rank : 1;
    enum lf_status s = lf_tensor_create(w->device, w->dtype, rank, shape, out, err);
    if (!s) s = lf_safetensors_tensor_upload(st, src, *out, err);
    if (s) {
        lf_tensor_release(*out);
        *out = NULL;
    } else if (prepare && rank >= 2) {
        lf_tensor_prepare_weight(*out); /* a hint; biases and norms stay as they are */
    }
    return s;
}

enum lf_status sd_weights_add_file(struct sd_weights *w, struct sd_file *file, sd_name_map map,
                                   void *user, struct lf_error *err)
{
    struct sd_file **files = realloc(w->files, (w->file_count + 1) * sizeof *files);
    if (!files) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    w->files = files;
    w->files[w->file_count++] = sd_file_retain(file);

    const struct lf_safetensors *st = file->st;
    size_t n = lf_safetensors_count(st);
    enum lf_status s = LF_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const struct lf_safetensors_tensor *src = lf_safetensors_tensor_at(st, i);
        char name[256];
        if (!map(src->name, name, user)) continue;
        if (!src->has_dtype || (src->dtype != LF_DTYPE_F32 && src->dtype != LF_DTYPE_F16 &&
                                src->dtype != LF_DTYPE_BF16))
            continue; /* position ids, DDPM buffers and the like */
        if (sd_weights_find(w, name)) {
            s = lf_error_set(err, LF_ERR_FORMAT, "%s: tensor '%s' appears twice (as '%s')",
                             lf_safetensors_path(st), name, src->name);
            break;
        }
        if (w->count == w->capacity) {
            size_t cap = w->capacity ? w->capacity * 2 : 256;
            struct sd_weight *items = realloc(w->items, cap * sizeof *items);
            if (!items) {
                s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            w->items = items;
            w->capacity = cap;
        }
        if (2 * (w->count + 1) > w->index_size && (s = rehash(w, err))) break;
        struct sd_weight *item = &w->items[w->count];
        memset(item, 0, sizeof *item);
        item->name = strdup(name);
        if (!item->name) {
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        if ((s = upload(w, st, src, true, &item->tensor, err))) {
            free(item->name);
            lf_error_prefix(err, "%s: tensor %s", lf_safetensors_path(st), src->name);
            break;
        }
        item->file = st;
        item->source = src;
        item->from_source = true;
        note_shape(item);
        w->bytes += lf_tensor_nbytes(item->tensor);
        size_t slot = sd_hash_name(name) & (w->index_size - 1);
        while (w->index[slot] != SIZE_MAX)
            slot = (slot + 1) & (w->index_size - 1);
        w->index[slot] = w->count++;
    }
    return s;
}

enum lf_status sd_weights_derive(const struct sd_weights *w, struct sd_weights **out,
                                 struct lf_error *err)
{
    struct sd_weights *d;
    enum lf_status s = sd_weights_create(w->device, w->dtype, &d, err);
    if (s) return s;
    d->items = calloc(w->count ? w->count : 1, sizeof *d->items);
    d->files = calloc(w->file_count ? w->file_count : 1, sizeof *d->files);
    d->index = malloc((w->index_size ? w->index_size : 1) * sizeof *d->index);
    if (!d->items || !d->files || !d->index) {
        sd_weights_release(d);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    d->capacity = w->count;
    for (size_t i = 0; i < w->file_count; i++)
        d->files[d->file_count++] = sd_file_retain(w->files[i]);
    for (size_t i = 0; i < w->count; i++) {
        struct sd_weight *item = &d->items[i];
        item->name = strdup(w->items[i].name);
        if (!item->name) {
            sd_weights_release(d);
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        item->tensor = lf_tensor_retain(w->items[i].tensor);
        item->file = w->items[i].file;
        item->source = w->items[i].source;
        item->from_source = w->items[i].from_source;
        item->rank = w->items[i].rank;
        memcpy(item->shape, w->items[i].shape, sizeof item->shape);
        d->count++;
    }
    /* Same items in the same order: the hash index is valid as it is. */
    if (w->index_size) memcpy(d->index, w->index, w->index_size * sizeof *d->index);
    d->index_size = w->index_size;
    d->bytes = w->bytes;
    *out = d;
    return LF_OK;
}

uint64_t sd_weights_own_bytes(const struct sd_weights *w, const struct sd_weights *base)
{
    if (w == base) return 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < w->count; i++) {
        const struct lf_tensor *t = w->items[i].tensor;
        if (t && (i >= base->count || t != base->items[i].tensor)) bytes += lf_tensor_nbytes(t);
    }
    return bytes;
}

/* The bytes item index takes in w's dtype, held or dropped (the unit of
** w->bytes). */
static uint64_t item_bytes(const struct sd_weights *w, size_t index)
{
    const struct sd_weight *item = &w->items[index];
    uint64_t bytes = lf_dtype_size(w->dtype);
    for (int i = 0; i < item->rank; i++)
        bytes *= (uint64_t)item->shape[i];
    return bytes;
}

enum lf_status sd_weights_replace(struct sd_weights *w, size_t index, struct lf_tensor *tensor,
                                  struct lf_error *err)
{
    if (index >= w->count)
        return lf_error_set(err, LF_ERR_INVALID, "sd_weights_replace: no item %zu", index);
    struct sd_weight *item = &w->items[index];
    if (tensor->rank != item->rank ||
        memcmp(tensor->shape, item->shape, (size_t)item->rank * sizeof *item->shape) != 0)
        return lf_error_set(err, LF_ERR_INVALID, "sd_weights_replace: %s: another shape",
                            item->name);
    /* bytes counts every item, dropped ones too (they come back when used) */
    w->bytes = w->bytes - item_bytes(w, index) + lf_tensor_nbytes(tensor);
    lf_tensor_release(item->tensor);
    item->tensor = tensor;
    item->from_source = false;
    return LF_OK;
}

enum lf_status sd_weights_load_source(const struct sd_weights *w, size_t index, bool prepare,
                                      struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    const struct sd_weight *item = &w->items[index];
    if (!item->source || !item->file)
        return lf_error_set(err, LF_ERR_INVALID, "weight %s has no source file", item->name);
    /* upload() as the first load did, so the bits are the same */
    struct lf_tensor *t = NULL;
    enum lf_status s = upload(w, item->file, item->source, prepare, &t, err);
    if (!s && (t->rank != item->rank ||
               memcmp(t->shape, item->shape, (size_t)item->rank * sizeof *item->shape))) {
        struct lf_tensor *shaped; /* stored as [C, C], used as [C, C, 1, 1] (the VAE's) */
        s = lf_tensor_reshape(t, item->rank, item->shape, &shaped, err);
        lf_tensor_release(t);
        t = s ? NULL : shaped;
    }
    if (s) {
        lf_error_prefix(err, "%s: tensor %s", lf_safetensors_path(item->file), item->source->name);
        return s;
    }
    *out = t;
    return LF_OK;
}

enum lf_status sd_weights_get(const struct sd_weights *w, size_t index, struct lf_tensor **out,
                              struct lf_error *err)
{
    *out = NULL;
    if (index >= w->count)
        return lf_error_set(err, LF_ERR_INVALID, "sd_weights_get: no item %zu", index);
    struct sd_weight *item = &w->items[index];
    if (!item->tensor) {
        /* w's values are unchanged by this: only whether they are in memory */
        enum lf_status s = sd_weights_load_source(w, index, true, &item->tensor, err);
        if (s) return s;
    }
    *out = item->tensor;
    return LF_OK;
}

struct lf_tensor *sd_weights_take(struct sd_weights *w, size_t index)
{
    struct sd_weight *item = index < w->count ? &w->items[index] : NULL;
    if (!item || !item->from_source || !item->source || !lf_tensor_is_exclusive(item->tensor))
        return NULL;
    struct lf_tensor *t = item->tensor;
    item->tensor = NULL;
    return t;
}
