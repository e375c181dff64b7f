/*
** sd_conditioning.c - chunked, weighted prompt encoding (see sd_conditioning.h).
*/
#include "sd_conditioning.h"

#include "lcmflow/tensor.h"

#include <stdlib.h>
#include <string.h>

#define CTX SD_TOKENIZER_CONTEXT

bool sd_weighting_parse(const char *name, enum sd_weighting *out)
{
    static const char *const names[] = {"a1111", "comfy", "none"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *out = (enum sd_weighting)i;
            return true;
        }
    return false;
}

/* ---- layout ---- */

struct layout {
    struct sd_prompt_tokens *t;
    int32_t bos, eos;
    int fill; /* text tokens in the open chunk */
    bool open;
};

static bool grow(struct layout *l)
{
    struct sd_prompt_tokens *t = l->t;
    size_t n = (size_t)(t->chunks + 1) * CTX;
    int32_t *ids = realloc(t->ids, n * sizeof *ids);
    if (ids) t->ids = ids;
    float *w = realloc(t->weights, n * sizeof *w);
    if (w) t->weights = w;
    const float **v = realloc(t->vectors, n * sizeof *v);
    if (v) t->vectors = v;
    const char **names = realloc(t->names, n * sizeof *names);
    if (names) t->names = names;
    if (!ids || !w || !v || !names) return false;
    size_t base = (size_t)t->chunks * CTX;
    for (size_t i = base; i < n; i++) {
        t->ids[i] = i == base ? l->bos : l->eos;
        t->weights[i] = 1.0f;
        t->vectors[i] = NULL;
        t->names[i] = NULL;
    }
    t->chunks++;
    l->fill = 0;
    l->open = true;
    return true;
}

/* Closes the open chunk (already padded: grow() fills it with EOS). */
static void close_chunk(struct layout *l)
{
    l->open = false;
}

static bool put(struct layout *l, int32_t id, float weight, const float *vector, const char *name)
{
    if ((!l->open || l->fill == SD_CHUNK_TOKENS) && !grow(l)) return false;
    size_t i = (size_t)(l->t->chunks - 1) * CTX + 1 + (size_t)l->fill++;
    l->t->ids[i] = id;
    l->t->weights[i] = weight;
    l->t->vectors[i] = vector;
    l->t->names[i] = name;
    return true;
}

/* A group that must not be split when it fits in a fresh chunk. */
static void keep_together(struct layout *l, int n)
{
    if (l->open && l->fill > 0 && n <= SD_CHUNK_TOKENS && l->fill + n > SD_CHUNK_TOKENS)
        close_chunk(l);
}

static bool word_end(struct sd_tokenizer *tok, int32_t id)
{
    const char *s = sd_tokenizer_token(tok, id);
    size_t n = s ? strlen(s) : 0;
    return n >= 4 && !strcmp(s + n - 4, "</w>");
}

static enum lf_status add_text(struct layout *l, struct sd_tokenizer *tok, const char *text,
                               float weight, struct lf_error *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    enum lf_status s = sd_tokenizer_encode_untruncated(tok, text, &ids, &n, err);
    for (size_t i = 0; !s && i < n;) {
        size_t j = i;
        while (j + 1 < n && !word_end(tok, ids[j]))
            j++;
        keep_together(l, (int)(j - i + 1));
        for (; !s && i <= j; i++)
            if (!put(l, ids[i], weight, NULL, NULL))
                s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    free(ids);
    return s;
}

static enum lf_status add_embedding(struct layout *l, struct sd_embeddings *lib, const char *name,
                                    float weight, struct lf_error *err)
{
    if (!lib)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "embedding:%s: no embeddings folder given",
                            name);
    const struct sd_embedding *e;
    enum lf_status s = sd_embeddings_find(lib, name, &e, err);
    if (s) return s;
    keep_together(l, e->count);
    for (int i = 0; i < e->count; i++)
        if (!put(l, l->eos, weight, e->data + (size_t)i * (size_t)e->width, e->name))
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    return LF_OK;
}

enum lf_status sd_prompt_tokenize(struct sd_tokenizer *tok, const struct sd_prompt *prompt,
                                  struct sd_embeddings *lib, struct sd_prompt_tokens *out,
                                  struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    struct layout l = {out, sd_tokenizer_bos(tok), sd_tokenizer_eos(tok), 0, false};
    enum lf_status s = LF_OK;
    for (size_t i = 0; !s && i < prompt->count; i++) {
        const struct sd_prompt_run *r = &prompt->runs[i];
        switch (r->kind) {
        case SD_PROMPT_BREAK:
            /* BREAK ends the chunk; one with nothing open leaves an empty chunk */
            if (!l.open && !grow(&l)) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
            close_chunk(&l);
            break;
        case SD_PROMPT_EMBEDDING:
            s = add_embedding(&l, lib, r->text, r->weight, err);
            break;
        case SD_PROMPT_TEXT:
            s = add_text(&l, tok, r->text, r->weight, err);
            break;
        }
    }
    if (!s && out->chunks == 0 && !grow(&l))
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if (s) sd_prompt_tokens_free(out);
    return s;
}

void sd_prompt_tokens_free(struct sd_prompt_tokens *t)
{
    free(t->ids), free(t->weights), free(t->vectors), free(t->names);
    memset(t, 0, sizeof *t);
}

/* ---- encoding ---- */

static enum lf_status encode_chunk(const struct sd_clip *c, const int32_t *ids,
                                   const float *const *vectors, int clip_skip, float *out,
                                   struct lf_error *err)
{
    struct lf_tensor *z = NULL;
    enum lf_status s = sd_clip_encode_ex(c, ids, vectors, CTX, clip_skip, &z, err);
    if (!s) s = lf_tensor_download_f32(z, out, (int64_t)CTX * c->hidden, err);
    lf_tensor_release(z);
    return s;
}

enum lf_status sd_conditioning_empty(const struct sd_clip *c, int32_t bos, int32_t eos,
                                     int clip_skip, float **out, struct lf_error *err)
{
    int32_t ids[CTX];
    ids[0] = bos;
    for (int i = 1; i < CTX; i++)
        ids[i] = eos;
    *out = malloc((size_t)CTX * (size_t)c->hidden * sizeof **out);
    if (!*out) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = encode_chunk(c, ids, NULL, clip_skip, *out, err);
    if (s) free(*out), *out = NULL;
    return s;
}

/* AUTOMATIC1111's "original" emphasis: multiply, then restore the mean. */
static void weight_a1111(float *z, const float *w, size_t hidden)
{
    double before = 0, after = 0;
    size_t n = (size_t)CTX * hidden;
    for (size_t i = 0; i < n; i++)
        before += z[i];
    for (size_t p = 0; p < CTX; p++)
        for (size_t j = 0; j < hidden; j++)
            z[p * hidden + j] *= w[p];
    for (size_t i = 0; i < n; i++)
        after += z[i];
    if (after == 0) return; /* all-zero weights: nothing to rescale */
    float scale = (float)(before / after);
    for (size_t i = 0; i < n; i++)
        z[i] *= scale;
}

/* ComfyUI: each weighted position moves from the empty prompt's encoding. */
static void weight_comfy(float *z, const float *w, const float *empty, size_t hidden)
{
    for (size_t p = 0; p < CTX; p++) {
        if (w[p] == 1.0f) continue;
        for (size_t j = 0; j < hidden; j++) {
            size_t i = p * hidden + j;
            z[i] = empty[i] + w[p] * (z[i] - empty[i]);
        }
    }
}

static bool all_ones(const float *w)
{
    for (int i = 0; i < CTX; i++)
        if (w[i] != 1.0f) return false;
    return true;
}

enum lf_status sd_conditioning_encode(const struct sd_clip *c, const struct sd_prompt_tokens *t,
                                      enum sd_weighting weighting, int clip_skip,
                                      const float *empty, struct lf_tensor **out,
                                      struct lf_error *err)
{
    *out = NULL;
    size_t hidden = (size_t)c->hidden, per = (size_t)CTX * hidden;
    float *z = malloc((size_t)t->chunks * per * sizeof *z), *own = NULL;
    if (!z) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = LF_OK;
    for (int k = 0; !s && k < t->chunks; k++) {
        size_t at = (size_t)k * CTX;
        float *zk = z + (size_t)k * per;
        s = encode_chunk(c, t->ids + at, t->vectors + at, clip_skip, zk, err);
        if (s || weighting == SD_WEIGHTING_NONE || all_ones(t->weights + at)) continue;
        if (weighting == SD_WEIGHTING_A1111) {
            weight_a1111(zk, t->weights + at, hidden);
        } else {
            if (!empty && !own)
                s = sd_conditioning_empty(c, t->ids[0], t->ids[CTX - 1], clip_skip, &own, err);
            if (!s) weight_comfy(zk, t->weights + at, empty ? empty : own, hidden);
        }
    }
    int64_t shape[3] = {1, (int64_t)t->chunks * CTX, c->hidden};
    if (!s) s = lf_tensor_from_f32(c->weights->device, LF_DTYPE_F32, 3, shape, z, out, err);
    free(z);
    free(own);
    return s;
}
