/*
** sd_embedding.c - textual-inversion embedding files (see sd_embedding.h).
*/
#include "sd_embedding.h"

#include "lcmflow/safetensors.h"
#include "sd_checkpoint.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXT ".safetensors"

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The tensor holding the vectors: emb_params, else the only tensor. */
static enum lf_status pick_tensor(const struct lf_safetensors *st, const char *path,
                                  const struct lf_safetensors_tensor **out, struct lf_error *err)
{
    *out = lf_safetensors_find(st, "emb_params");
    if (*out) return LF_OK;
    size_t n = lf_safetensors_count(st);
    if (n == 1) {
        *out = lf_safetensors_tensor_at(st, 0);
        return LF_OK;
    }
    char names[300] = "";
    for (size_t i = 0; i < n && strlen(names) < 200; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'", i ? ", " : "",
                 lf_safetensors_tensor_at(st, i)->name);
    return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                           "not a textual-inversion embedding: expected a tensor 'emb_params' "
                           "or exactly one tensor, found %zu (%s)",
                           n, names);
}

enum lf_status sd_embedding_load(const char *path, struct sd_embedding *out, struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    enum lf_status s = sd_refuse_pickle(path, err);
    if (s) return s;
    struct lf_safetensors *st;
    if ((s = lf_safetensors_open(path, &st, err))) return s;
    const struct lf_safetensors_tensor *t = NULL;
    s = pick_tensor(st, path, &t, err);
    const int64_t *shape = t ? t->shape : NULL;
    int rank = t ? t->rank : 0;
    if (!s && rank == 3 && shape[0] == 1) shape++, rank--;
    if (!s && (rank < 1 || rank > 2 || t->numel == 0 || shape[rank - 1] > 65536))
        s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                            "embedding tensor '%s' has rank %d: expected [n, width] or [width]",
                            t->name, t->rank);
    if (!s) {
        out->width = (int)shape[rank - 1];
        out->count = rank == 2 ? (int)shape[0] : 1;
        out->path = dup_str(path);
        out->tensor = dup_str(t->name);
        out->data = malloc((size_t)t->numel * sizeof *out->data);
        if (!out->path || !out->tensor || !out->data)
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!s) s = lf_safetensors_tensor_to_f32(st, t, out->data, t->numel, err);
    lf_safetensors_close(st);
    if (s) sd_embedding_clear(out);
    return s;
}

void sd_embedding_clear(struct sd_embedding *e)
{
    free(e->name), free(e->path), free(e->tensor), free(e->data);
    memset(e, 0, sizeof *e);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/name, dir/name.safetensors, then (to refuse them) pickle spellings. */
static bool candidate(const char *dir, const char *name, char *path, size_t size)
{
    static const char *const ext[] = {"", EXT, ".pt", ".bin"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        if (!i && !has_suffix(name, EXT) && !has_suffix(name, ".pt") && !has_suffix(name, ".bin"))
            continue;
        if (snprintf(path, size, "%s/%s%s", dir, name, ext[i]) >= (int)size) continue;
        if (is_file(path)) return true;
    }
    return false;
}

void sd_embeddings_path(const struct sd_embeddings *lib, const char *name, char *path, size_t size)
{
    for (int d = 0; d < 2; d++)
        if (lib->dirs[d] && *lib->dirs[d] && candidate(lib->dirs[d], name, path, size)) return;
    if (size) *path = '\0';
}

/* "a, b, c" of the embedding files in the folders (names without .safetensors). */
static void list_found(const struct sd_embeddings *lib, char *out, size_t size)
{
    size_t used = 0;
    int n = 0;
    out[0] = '\0';
    for (int d = 0; d < 2; d++) {
        DIR *dir = lib->dirs[d] && *lib->dirs[d] ? opendir(lib->dirs[d]) : NULL;
        for (struct dirent *e; dir && (e = readdir(dir));) {
            size_t len = strlen(e->d_name);
            if (e->d_name[0] == '.' ||
                !(has_suffix(e->d_name, EXT) || has_suffix(e->d_name, ".pt") ||
                  has_suffix(e->d_name, ".bin")))
                continue;
            if (has_suffix(e->d_name, EXT)) len -= strlen(EXT);
            int w =
                snprintf(out + used, size - used, "%s%.*s", n++ ? ", " : "", (int)len, e->d_name);
            if (w < 0 || (size_t)w >= size - used) {
                snprintf(out + (size > 5 ? size - 5 : 0), size > 5 ? 5 : 0, "...");
                closedir(dir);
                return;
            }
            used += (size_t)w;
        }
        if (dir) closedir(dir);
    }
    if (!n) snprintf(out, size, "none");
}

enum lf_status sd_embeddings_find(struct sd_embeddings *lib, const char *name,
                                  const struct sd_embedding **out, struct lf_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < lib->count; i++)
        if (!strcmp(lib->items[i]->name, name)) {
            *out = lib->items[i];
            return LF_OK;
        }
    char path[1024], found[400];
    sd_embeddings_path(lib, name, path, sizeof path);
    if (!*path) {
        list_found(lib, found, sizeof found);
        char dirs[700];
        snprintf(dirs, sizeof dirs, "%s%s%s", lib->dirs[0] && *lib->dirs[0] ? lib->dirs[0] : "",
                 lib->dirs[0] && *lib->dirs[0] && lib->dirs[1] && *lib->dirs[1] ? ", " : "",
                 lib->dirs[1] && *lib->dirs[1] ? lib->dirs[1] : "");
        return lf_error_set(err, LF_ERR_NOT_FOUND,
                            "embedding:%s: no %s" EXT
                            " in the embeddings folder(s) (%s); found: %s",
                            name, name, *dirs ? dirs : "none given", found);
    }
    struct sd_embedding e;
    enum lf_status s = sd_embedding_load(path, &e, err);
    if (s) return s;
    if (e.width != lib->width) {
        int width = e.width;
        sd_embedding_clear(&e);
        return lf_error_set_at(err, LF_ERR_INVALID, path, 0, 0,
                               "embedding:%s has vectors of width %d, the text encoder's width "
                               "is %d (an embedding for another model)",
                               name, width, lib->width);
    }
    struct sd_embedding **items = realloc(lib->items, (lib->count + 1) * sizeof *items);
    if (items) lib->items = items;
    struct sd_embedding *one = items ? malloc(sizeof *one) : NULL;
    if (!one || !(e.name = dup_str(name))) {
        free(one);
        sd_embedding_clear(&e);
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *one = e;
    lib->items[lib->count++] = one;
    *out = one;
    return LF_OK;
}

void sd_embeddings_clear(struct sd_embeddings *lib)
{
    for (size_t i = 0; i < lib->count; i++) {
        sd_embedding_clear(lib->items[i]);
        free(lib->items[i]);
    }
    free(lib->items);
    lib->items = NULL;
    lib->count = 0;
}

uint64_t sd_embeddings_identity(const char *dir, uint64_t h)
{
    DIR *d = dir && *dir ? opendir(dir) : NULL;
    if (!d) return h * 31 + 3;
    uint64_t sum = 0; /* order-independent: readdir's order is not fixed */
    for (struct dirent *e; (e = readdir(d));) {
        char path[1400];
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            stat(path, &st) != 0)
            continue;
        uint64_t f = 1469598103934665603ull;
        for (const char *p = e->d_name; *p; p++)
            f = (f ^ (unsigned char)*p) * 1099511628211ull;
        uint64_t v[3] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                         (uint64_t)st.st_mtim.tv_nsec};
        for (int i = 0; i < 3; i++)
            f = (f ^ v[i]) * 1099511628211ull;
        sum += f;
    }
    closedir(d);
    return (h ^ sum) * 1099511628211ull;
}
