/*
** safetensors_write.c - the .safetensors writer.
**
** Collects tensors (borrowed host memory) and metadata, then writes the
** header with json-c and the data after it, into a temporary file beside
** the target that is renamed into place only when everything is on disk.
*/
#include "lcmflow/safetensors.h"

#include <json-c/json.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
    char *name;
    enum lf_st_dtype dtype;
    int rank;
    int64_t *shape;
    const void *data; /* borrowed until write returns */
    size_t nbytes;
};

struct meta {
    char *key;
    char *value;
};

struct lf_safetensors_writer {
    struct entry *entries;
    size_t count, cap;
    struct meta *meta;
    size_t meta_count, meta_cap;
};

enum lf_status lf_safetensors_writer_create(struct lf_safetensors_writer **out,
                                            struct lf_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    return LF_OK;
}

void lf_safetensors_writer_free(struct lf_safetensors_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        free(w->entries[i].shape);
    }
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->entries);
    free(w->meta);
    free(w);
}

/* Grows *array (of elem-sized items) so that one more fits. */
static bool grow(void **array, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap) return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*array, ncap * elem);
    if (!p) return false;
    *array = p;
    *cap = ncap;
    return true;
}

enum lf_status lf_safetensors_writer_add(struct lf_safetensors_writer *w, const char *name,
                                         enum lf_st_dtype dtype, int rank, const int64_t *shape,
                                         const void *data, size_t nbytes, struct lf_error *err)
{
    if (!name || strcmp(name, "__metadata__") == 0)
        return lf_error_set(err, LF_ERR_INVALID, "safetensors writer: invalid tensor name '%s'",
                            name ? name : "(null)");
    if ((unsigned)dtype >= LF_ST_DTYPE_COUNT || rank < 0 || (rank > 0 && !shape))
        return lf_error_set(err, LF_ERR_INVALID,
                            "safetensors writer: tensor '%s': bad dtype or shape", name);
    uint64_t numel = 1;
    bool zero = false, overflow = false;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return lf_error_set(err, LF_ERR_INVALID,
                                "safetensors writer: tensor '%s': negative dimension", name);
        uint64_t d = (uint64_t)shape[i];
        if (d == 0)
            zero = true;
        else if (numel > UINT64_MAX / d)
            overflow = true;
        else
            numel *= d;
    }
    if (zero) numel = 0;
    size_t esize = lf_st_dtype_size(dtype);
    if ((!zero && overflow) || numel > SIZE_MAX / esize || numel * esize != nbytes)
        return lf_error_set(err, LF_ERR_INVALID,
                            "safetensors writer: tensor '%s': %zu bytes given, the shape needs "
                            "%llu",
                            name, nbytes, (unsigned long long)(numel * esize));
    if (nbytes > 0 && !data)
        return lf_error_set(err, LF_ERR_INVALID, "safetensors writer: tensor '%s': no data", name);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return lf_error_set(err, LF_ERR_INVALID, "safetensors writer: tensor '%s' added twice",
                                name);
    if (!grow((void **)&w->entries, &w->cap, w->count, sizeof *w->entries))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    struct entry *e = &w->entries[w->count];
    e->name = strdup(name);
    e->shape = malloc(((size_t)rank + 1) * sizeof *e->shape);
    if (!e->name || !e->shape) {
        free(e->name);
        free(e->shape);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    if (rank > 0) memcpy(e->shape, shape, (size_t)rank * sizeof *shape);
    e->dtype = dtype;
    e->rank = rank;
    e->data = data;
    e->nbytes = nbytes;
    w->count++;
    return LF_OK;
}

enum lf_status lf_safetensors_writer_set_metadata(struct lf_safetensors_writer *w, const char *key,
                                                  const char *value, struct lf_error *err)
{
    if (!key || !value)
        return lf_error_set(err, LF_ERR_INVALID, "safetensors writer: NULL metadata");
    char *v = strdup(value);
    if (!v) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->meta_count; i++) {
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return LF_OK;
        }
    }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->meta, &w->meta_cap, w->meta_count, sizeof *w->meta)) {
        free(k);
        free(v);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    w->meta[w->meta_count].key = k;
    w->meta[w->meta_count].value = v;
    w->meta_count++;
    return LF_OK;
}

/* The reference order: larger elements first (keeps data aligned), then name. */
static int entry_order(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    size_t sx = lf_st_dtype_size(x->dtype), sy = lf_st_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Builds the JSON header for entries in the given order. */
static struct json_object *build_header(const struct lf_safetensors_writer *w,
                                        struct entry *const *order)
{
    struct json_object *root = json_object_new_object();
    if (!root) return NULL;
    if (w->meta_count) {
        struct json_object *meta = json_object_new_object();
        if (!meta || json_object_object_add(root, "__metadata__", meta) != 0) goto fail;
        for (size_t i = 0; i < w->meta_count; i++)
            if (json_object_object_add(meta, w->meta[i].key,
                                       json_object_new_string(w->meta[i].value)) != 0)
                goto fail;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->count; i++) {
        const struct entry *e = order[i];
        struct json_object *t = json_object_new_object();
        struct json_object *shape = json_object_new_array();
        struct json_object *offsets = json_object_new_array();
        if (!t || !shape || !offsets || json_object_object_add(root, e->name, t) != 0) {
            json_object_put(t);
            json_object_put(shape);
            json_object_put(offsets);
            goto fail;
        }
        json_object_object_add(t, "dtype", json_object_new_string(lf_st_dtype_name(e->dtype)));
        json_object_object_add(t, "shape", shape);
        json_object_object_add(t, "data_offsets", offsets);
        for (int d = 0; d < e->rank; d++)
            json_object_array_add(shape, json_object_new_int64(e->shape[d]));
        json_object_array_add(offsets, json_object_new_uint64(offset));
        json_object_array_add(offsets, json_object_new_uint64(offset + e->nbytes));
        offset += e->nbytes;
    }
    return root;
fail:
    json_object_put(root);
    return NULL;
}

static bool write_all(int fd, const void *data, size_t size)
{
    const unsigned char *p = data;
    while (size > 0) {
        size_t chunk = size < ((size_t)1 << 30) ? size : ((size_t)1 << 30);
        ssize_t n = write(fd, p, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

enum lf_status lf_safetensors_writer_write(struct lf_safetensors_writer *w, const char *path,
                                           struct lf_error *err)
{
    enum lf_status status = LF_OK;
    struct entry **order = malloc((w->count + 1) * sizeof *order);
    struct json_object *root = NULL;
    char *tmp = NULL;
    int fd = -1;
    if (!order) return lf_error_set_at(err, LF_ERR_OUT_OF_MEMORY, path, 0, 0, "out of memory");
    for (size_t i = 0; i < w->count; i++)
        order[i] = &w->entries[i];
    qsort(order, w->count, sizeof *order, entry_order);

    root = build_header(w, order);
    const char *json = root ? json_object_to_json_string_ext(
                                  root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                            : NULL;
    if (!json) {
        status = lf_error_set_at(err, LF_ERR_OUT_OF_MEMORY, path, 0, 0, "out of memory");
        goto done;
    }
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    if (padded > LF_SAFETENSORS_MAX_HEADER) {
        status = lf_error_set_at(err, LF_ERR_INVALID, path, 0, 0,
                                 "the header would be %zu bytes, over the format's limit", padded);
        goto done;
    }

    size_t plen = strlen(path);
    tmp = malloc(plen + 16);
    if (!tmp) {
        status = lf_error_set_at(err, LF_ERR_OUT_OF_MEMORY, path, 0, 0, "out of memory");
        goto done;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) {
        status = lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot create %s: %s", tmp,
                                 strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }

    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";
    bool ok =
        write_all(fd, lenbuf, 8) && write_all(fd, json, len) && write_all(fd, spaces, padded - len);
    for (size_t i = 0; ok && i < w->count; i++)
        ok = write_all(fd, order[i]->data, order[i]->nbytes);
    /* mkstemp makes the file 0600; a model file is ordinary data. */
    ok = ok && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    fd = -1;
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        status = lf_error_set_at(err, LF_ERR_IO, path, 0, 0, "cannot write: %s", strerror(e));
    }

done:
    free(tmp);
    json_object_put(root);
    free(order);
    return status;
}
