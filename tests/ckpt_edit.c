/*
** ckpt_edit.c - see ckpt_edit.h.
*/
#include "ckpt_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ckpt_edit *edit_of(const char *name, const struct ckpt_edit *edits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (edits[i].kind != CKPT_ADD && !strcmp(edits[i].name, name)) return &edits[i];
    return NULL;
}

int ckpt_edit_copy(const char *src, const char *dst, const struct ckpt_edit *edits, size_t n)
{
    struct lf_safetensors *st = NULL;
    struct lf_safetensors_writer *w = NULL;
    struct lf_error err = {0};
    void **zeros = calloc(n ? n : 1, sizeof *zeros);
    int rc = -1;
    if (!zeros || lf_safetensors_open(src, &st, &err) || lf_safetensors_writer_create(&w, &err))
        goto done;
    for (size_t i = 0; i < lf_safetensors_metadata_count(st); i++) {
        const char *key, *value;
        lf_safetensors_metadata_at(st, i, &key, &value);
        if (lf_safetensors_writer_set_metadata(w, key, value, &err)) goto done;
    }
    for (size_t i = 0; i < lf_safetensors_count(st); i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        const struct ckpt_edit *e = edit_of(t->name, edits, n);
        if (e && e->kind == CKPT_DROP) continue;
        enum lf_st_dtype dtype = e && e->kind == CKPT_DTYPE ? e->dtype : t->st_dtype;
        int rank = e && e->kind == CKPT_SHAPE ? e->rank : t->rank;
        const int64_t *shape = e && e->kind == CKPT_SHAPE ? e->shape : t->shape;
        if (lf_safetensors_writer_add(w, t->name, dtype, rank, shape, t->data, t->nbytes, &err))
            goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (edits[i].kind != CKPT_ADD) continue;
        size_t bytes = lf_st_dtype_size(edits[i].dtype);
        for (int d = 0; d < edits[i].rank; d++)
            bytes *= (size_t)edits[i].shape[d];
        if (!(zeros[i] = calloc(1, bytes ? bytes : 1))) goto done;
        if (lf_safetensors_writer_add(w, edits[i].name, edits[i].dtype, edits[i].rank,
                                      edits[i].shape, zeros[i], bytes, &err))
            goto done;
    }
    if (!lf_safetensors_writer_write(w, dst, &err)) rc = 0;
done:
    if (rc) fprintf(stderr, "ckpt_edit_copy %s -> %s: %s\n", src, dst, err.message);
    lf_safetensors_writer_free(w);
    lf_safetensors_close(st);
    for (size_t i = 0; zeros && i < n; i++)
        free(zeros[i]);
    free(zeros);
    return rc;
}

int ckpt_taesd_to_diffusers(const char *encoder, const char *decoder, const char *dst)
{
    struct lf_error err = {0};
    struct lf_safetensors_writer *w = NULL;
    struct lf_safetensors *src[2] = {NULL, NULL};
    const char *paths[2] = {encoder, decoder};
    enum lf_status s = lf_safetensors_writer_create(&w, &err);
    for (int side = 0; side < 2 && !s; side++) {
        s = lf_safetensors_open(paths[side], &src[side], &err);
        for (size_t i = 0; !s && i < lf_safetensors_count(src[side]); i++) {
            const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(src[side], i);
            char *rest, name[256];
            long index = strtol(t->name, &rest, 10);
            snprintf(name, sizeof name, "%s.layers.%ld%s", side ? "decoder" : "encoder",
                     index - side, rest);
            s = lf_safetensors_writer_add(w, name, t->st_dtype, t->rank, t->shape, t->data,
                                          t->nbytes, &err);
        }
    }
    if (!s) s = lf_safetensors_writer_write(w, dst, &err);
    lf_safetensors_writer_free(w);
    lf_safetensors_close(src[0]), lf_safetensors_close(src[1]);
    if (s) fprintf(stderr, "%s: %s\n", dst, err.message);
    return s ? -1 : 0;
}
