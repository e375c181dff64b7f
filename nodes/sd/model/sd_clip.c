/*
** sd_clip.c - CLIP text encoder: token + position embedding, pre-LN
** transformer blocks with causal self-attention and quick-GELU MLP, final
** layer norm (eps 1e-5 everywhere).  The embedding lookup runs on the host
** from the mapped file, so no gather op is needed.
*/
#include "sd_clip.h"
#include "sd_nn.h"
#include "sd_tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_EMBEDDING    "text_model.embeddings.token_embedding.weight"
#define POSITION_EMBEDDING "text_model.embeddings.position_embedding.weight"

enum lf_status sd_clip_init(struct sd_clip *c, struct sd_weights *weights,
                            const struct sd_arch_text *arch, struct lf_error *err)
{
    memset(c, 0, sizeof *c);
    if (!arch->found || !sd_weights_find(weights, POSITION_EMBEDDING))
        return lf_error_set(err, LF_ERR_FORMAT, "text encoder: missing tensor '%s'",
                            arch->found ? POSITION_EMBEDDING : TOKEN_EMBEDDING);
    if (arch->layers == 0)
        return lf_error_set(err, LF_ERR_FORMAT, "text encoder: no transformer layers found");
    c->vocab = arch->vocab;
    c->hidden = arch->hidden;
    c->positions = arch->positions;
    c->layers = arch->layers;
    c->heads = arch->heads;
    if (c->heads <= 0 || c->hidden % c->heads)
        return lf_error_set(err, LF_ERR_FORMAT,
                            "text encoder: width %d is not divisible into %d heads", c->hidden,
                            c->heads);
    c->weights = sd_weights_retain(weights);
    c->act_dtype = weights->dtype;
    return LF_OK;
}

enum lf_status sd_clip_check_vocab(const struct sd_clip *c, const struct sd_tokenizer *tok,
                                   struct lf_error *err)
{
    size_t n = sd_tokenizer_vocab_size(tok);
    if (n == (size_t)c->vocab) return LF_OK;
    return lf_error_set_at(err, LF_ERR_INVALID, sd_tokenizer_path(tok), 0, 0,
                           "the vocabulary has %zu tokens but the text encoder's token "
                           "embedding ('%s') has %d rows: it is another model's vocabulary "
                           "(give this checkpoint's own with the tokenizer param or %s)",
                           n, TOKEN_EMBEDDING, c->vocab, SD_TOKENIZER_ENV);
}

void sd_clip_clear(struct sd_clip *c)
{
    sd_weights_release(c->weights);
    memset(c, 0, sizeof *c);
}

/* token_embedding[ids] + position_embedding[0..count), on the host; a
** non-NULL vectors[i] replaces token i's row. */
static enum lf_status embed(const struct sd_clip *c, const int32_t *ids,
                            const float *const *vectors, int count, float *x, struct lf_error *err)
{
    const struct sd_weight *tok = sd_weights_find(c->weights, TOKEN_EMBEDDING);
    const struct sd_weight *pos = sd_weights_find(c->weights, POSITION_EMBEDDING);
    size_t h = (size_t)c->hidden;
    float *row = malloc(h * sizeof *row);
    float *table = malloc((size_t)count * h * sizeof *table);
    enum lf_status s = LF_OK;
    if (!row || !table) {
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    /* Position rows 0..count-1 are a prefix of the table: convert that part. */
    {
        float *all = malloc((size_t)pos->source->numel * sizeof *all);
        if (!all) {
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
            goto done;
        }
        s = lf_safetensors_tensor_to_f32(pos->file, pos->source, all, pos->source->numel, err);
        if (s == LF_OK) memcpy(table, all, (size_t)count * h * sizeof *table);
        free(all);
        if (s) goto done;
    }
    size_t tok_elem = tok->source->nbytes / (size_t)tok->source->numel;
    for (int i = 0; i < count; i++) {
        if (vectors && vectors[i]) {
            for (size_t j = 0; j < h; j++)
                x[(size_t)i * h + j] = vectors[i][j] + table[(size_t)i * h + j];
            continue;
        }
        if (ids[i] < 0 || ids[i] >= c->vocab) {
            s = lf_error_set(err, LF_ERR_INVALID, "text encoder: token id %d is outside 0..%d",
                             ids[i], c->vocab - 1);
            goto done;
        }
        const unsigned char *src =
            (const unsigned char *)tok->source->data + (size_t)ids[i] * h * tok_elem;
        for (size_t j = 0; j < h; j++) {
            uint16_t v16;
            float v32;
            switch (tok->source->st_dtype) {
            case LF_ST_DTYPE_F16:
                memcpy(&v16, src + j * 2, 2);
                row[j] = lf_f16_to_f32(v16);
                break;
            case LF_ST_DTYPE_BF16:
                memcpy(&v16, src + j * 2, 2);
                row[j] = lf_bf16_to_f32(v16);
                break;
            default:
                memcpy(&v32, src + j * 4, 4);
                row[j] = v32;
                break;
            }
            x[(size_t)i * h + j] = row[j] + table[(size_t)i * h + j];
        }
    }
done:
    free(row);
    free(table);
    return s;
}

enum lf_status sd_clip_encode(const struct sd_clip *c, const int32_t *ids, int count,
                              struct lf_tensor **out, struct lf_error *err)
{
    return sd_clip_encode_ex(c, ids, NULL, count, 1, out, err);
}

enum lf_status sd_clip_encode_ex(const struct sd_clip *c, const int32_t *ids,
                                 const float *const *vectors, int count, int clip_skip,
                                 struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    if (count <= 0 || count > c->positions)
        return lf_error_set(err, LF_ERR_INVALID, "text encoder: %d tokens (at most %d)", count,
                            c->positions);
    if (clip_skip < 1 || clip_skip > c->layers)
        return lf_error_set(err, LF_ERR_INVALID,
                            "text encoder: clip_skip %d is outside 1..%d (its layer count)",
                            clip_skip, c->layers);
    float *x = malloc((size_t)count * (size_t)c->hidden * sizeof *x);
    if (!x) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = embed(c, ids, vectors, count, x, err);
    struct lf_tensor *h = NULL;
    int64_t shape[3] = {1, count, c->hidden};
    if (s == LF_OK) s = lf_tensor_from_f32(c->weights->device, c->act_dtype, 3, shape, x, &h, err);
    free(x);
    if (s) return s;
    struct sd_nn nn = {.weights = c->weights, .component = "text encoder", .err = err};
    float scale = 1.0f / sqrtf((float)(c->hidden / c->heads));
    /* clip_skip n stops after layer L - n + 1, then the final layer norm
    ** (AUTOMATIC1111 and ComfyUI alike). */
    for (int l = 0; l < c->layers - (clip_skip - 1) && !nn.status; l++) {
        char p[64];
        snprintf(p, sizeof p, "text_model.encoder.layers.%d", l);
        struct lf_tensor *n = sd_layer_norm(&nn, h, 1e-5f, "%s.layer_norm1", p);
        struct lf_tensor *q = sd_linear(&nn, n, "%s.self_attn.q_proj", p);
        struct lf_tensor *k = sd_linear(&nn, n, "%s.self_attn.k_proj", p);
        struct lf_tensor *v = sd_linear(&nn, n, "%s.self_attn.v_proj", p);
        sd_drop(n);
        struct lf_tensor *a = NULL;
        if (!nn.status) sd_check(&nn, lf_op_attention(q, k, v, c->heads, scale, true, &a, err), &a);
        sd_drop(q), sd_drop(k), sd_drop(v);
        struct lf_tensor *o = sd_linear(&nn, a, "%s.self_attn.out_proj", p);
        sd_drop(a);
        struct lf_tensor *h1 = sd_add(&nn, h, o);
        sd_drop(o), sd_drop(h);
        n = sd_layer_norm(&nn, h1, 1e-5f, "%s.layer_norm2", p);
        struct lf_tensor *f1 = sd_linear(&nn, n, "%s.mlp.fc1", p);
        sd_drop(n);
        struct lf_tensor *g = sd_unary(&nn, f1, LF_UNARY_QUICK_GELU);
        sd_drop(f1);
        struct lf_tensor *f2 = sd_linear(&nn, g, "%s.mlp.fc2", p);
        sd_drop(g);
        h = sd_add(&nn, h1, f2);
        sd_drop(h1), sd_drop(f2);
    }
    struct lf_tensor *y = sd_layer_norm(&nn, h, 1e-5f, "text_model.final_layer_norm");
    sd_drop(h);
    return sd_finish(&nn, y, out);
}
