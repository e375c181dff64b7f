/*
** sd_taesd.c - TAESD-family encoder and decoder (see sd_taesd.h).
**
** The files are flattened nn.Sequential containers, so the layer list is
** read back from the indices: "<i>.weight" is a 3x3 conv, "<i>.conv.0.weight"
** a residual block, and an index with no tensors is a parameter-free layer.
** What those are follows the TAESD architecture: in the encoder, a conv
** without bias (other than the first) has stride 2; in the decoder, a conv
** without bias follows a nearest x2 upsample, and the gap after the first
** conv is its ReLU.  The decoder always starts with the soft clamp
** 3 * tanh(x / 3) (index 0 in the sequential layout; outside the layers in
** diffusers, which numbers from the first conv).
*/
#include "sd_taesd.h"
#include "sd_checkpoint.h"
#include "sd_nn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GroupNorm of the pooling branch: the group count is not in the weights;
** every family member that has the branch uses 4 groups, eps 1e-5. */
#define POOL_GROUPS 4
#define POOL_EPS    1e-5f

/* ---- key layouts ---- */

/* The index after prefix, with *rest pointing past "<i>."; -1 if name is
** not "<prefix><digits>.<rest>". */
static int layer_index(const char *name, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return -1;
    const char *p = name + n;
    if (!isdigit((unsigned char)*p)) return -1;
    long v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > 100000) return -1;
    }
    if (*p != '.') return -1;
    if (rest) *rest = p + 1;
    return (int)v;
}

struct scan {
    bool found;
    int first_index, last_index; /* of convs */
    int64_t first_in, last_out;  /* their channels */
    int blocks, pool;
    int64_t params;
};

static void scan_prefix(const struct lf_safetensors *st, const char *prefix, struct scan *s)
{
    memset(s, 0, sizeof *s);
    s->first_index = -1;
    s->last_index = -1;
    size_t n = lf_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        const char *rest;
        int index = layer_index(t->name, prefix, &rest);
        if (index < 0) continue;
        s->found = true;
        s->params += t->numel;
        if (!strcmp(rest, "weight") && t->rank == 4) {
            if (s->first_index < 0 || index < s->first_index) {
                s->first_index = index;
                s->first_in = t->shape[1];
            }
            if (index > s->last_index) {
                s->last_index = index;
                s->last_out = t->shape[0];
            }
        } else if (!strcmp(rest, "conv.0.weight")) {
            s->blocks++;
        } else if (!strcmp(rest, "pool.0.weight")) {
            s->pool++;
        }
    }
    if (s->first_index < 0) s->found = false; /* no conv: not a TAESD part */
}

static void take(struct sd_taesd_file_info *info, bool decoder, const char *prefix,
                 const struct scan *s)
{
    if (decoder) {
        info->decoder = true;
        info->decoder_prefix = prefix;
        info->decoder_latent = (int)s->first_in;
        info->decoder_blocks = s->blocks;
        info->decoder_pool = s->pool;
        info->decoder_params = s->params;
    } else {
        info->encoder = true;
        info->encoder_prefix = prefix;
        info->encoder_latent = (int)s->last_out;
        info->encoder_blocks = s->blocks;
        info->encoder_pool = s->pool;
        info->encoder_params = s->params;
    }
}

bool sd_taesd_inspect(const struct lf_safetensors *st, struct sd_taesd_file_info *info)
{
    static const char *const enc[] = {"encoder.layers.", "taesd_encoder."};
    static const char *const dec[] = {"decoder.layers.", "taesd_decoder."};
    struct scan s;
    memset(info, 0, sizeof *info);
    for (size_t i = 0; i < 2; i++) {
        scan_prefix(st, enc[i], &s);
        if (s.found && !info->encoder) take(info, false, enc[i], &s);
        scan_prefix(st, dec[i], &s);
        if (s.found && !info->decoder) take(info, true, dec[i], &s);
    }
    if (!info->encoder && !info->decoder) {
        scan_prefix(st, "", &s);
        /* Only the encoder reads the 3 image channels first. */
        if (s.found && s.blocks > 0) take(info, s.first_in != 3, "", &s);
    }
    return info->encoder || info->decoder;
}

static bool map_strip(const char *file_name, char *out, void *user)
{
    const char *prefix = user;
    const char *rest;
    if (layer_index(file_name, prefix, &rest) < 0 || strlen(file_name) >= 256) return false;
    strcpy(out, file_name + strlen(prefix));
    return true;
}

/* ---- the layer list ---- */

static bool known_member(const char *rest)
{
    static const char *const members[] = {
        "weight",        "bias",          "conv.0.weight", "conv.0.bias", "conv.2.weight",
        "conv.2.bias",   "conv.4.weight", "conv.4.bias",   "skip.weight", "pool.0.weight",
        "pool.1.weight", "pool.1.bias",   "pool.3.weight",
    };
    for (size_t i = 0; i < sizeof members / sizeof *members; i++)
        if (!strcmp(rest, members[i])) return true;
    return false;
}

static const struct lf_tensor *weight_at(const struct sd_weights *w, int index, const char *member)
{
    char name[64];
    snprintf(name, sizeof name, "%d.%s", index, member);
    return sd_weights_tensor(w, name);
}

/* Reads the layers of one part from its weights and checks that the
** channels chain; path is for messages. */
static enum lf_status build_layers(struct sd_taesd_part *part, bool decoder, const char *path,
                                   struct lf_error *err)
{
    const struct sd_weights *w = part->weights;
    int max_index = -1;
    for (size_t i = 0; i < w->count; i++) {
        const char *rest;
        int index = layer_index(w->items[i].name, "", &rest);
        if (index < 0 || !known_member(rest))
            return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                   "TAESD %s: unexpected tensor '%s'",
                                   decoder ? "decoder" : "encoder", w->items[i].name);
        if (index > max_index) max_index = index;
        part->params += lf_tensor_numel(w->items[i].tensor);
    }
    part->layers = calloc((size_t)max_index + 1, sizeof *part->layers);
    if (!part->layers) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    int64_t channels = decoder ? 0 : 3;
    for (int i = 0; i <= max_index; i++) {
        const struct lf_tensor *cw = weight_at(w, i, "weight");
        const struct lf_tensor *bw = weight_at(w, i, "conv.0.weight");
        if (!cw && !bw) continue;
        struct sd_taesd_layer *l = &part->layers[part->layer_count];
        l->index = i;
        if (cw) {
            if (cw->rank != 4 || cw->shape[2] != 3 || cw->shape[3] != 3)
                return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                       "TAESD: tensor '%d.weight' is not a 3x3 conv weight", i);
            l->kind = SD_TAESD_CONV;
            l->in_channels = (int)cw->shape[1];
            l->out_channels = (int)cw->shape[0];
            l->bias = weight_at(w, i, "bias") != NULL;
            bool first = part->layer_count == 0;
            if (!l->bias && !first) {
                if (decoder)
                    l->upsample = true;
                else
                    l->stride2 = true;
            }
            if (first && decoder) channels = l->in_channels;
        } else {
            l->kind = SD_TAESD_BLOCK;
            const struct lf_tensor *last = weight_at(w, i, "conv.4.weight");
            l->in_channels = (int)bw->shape[1];
            l->out_channels = last ? (int)last->shape[0] : 0;
            l->pool = weight_at(w, i, "pool.0.weight") != NULL;
            l->skip_conv = weight_at(w, i, "skip.weight") != NULL;
            part->block_count++;
            part->pool_block_count += l->pool;
        }
        if (l->in_channels != channels)
            return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                   "TAESD %s: layer %d reads %d channels, the previous layer "
                                   "gives %lld",
                                   decoder ? "decoder" : "encoder", i, l->in_channels,
                                   (long long)channels);
        channels = l->out_channels;
        part->layer_count++;
    }
    /* The decoder's first conv is followed by its ReLU (a gap in both layouts). */
    if (decoder && part->layer_count > 1 && part->layers[1].index > part->layers[0].index + 1)
        part->layers[0].relu_after = true;
    if (part->layer_count < 2 || part->layers[0].kind != SD_TAESD_CONV ||
        part->layers[part->layer_count - 1].kind != SD_TAESD_CONV || part->block_count == 0)
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                               "TAESD %s: expected conv, blocks ..., conv; the layers do not "
                               "have that shape",
                               decoder ? "decoder" : "encoder");
    if (decoder && channels != 3)
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                               "TAESD decoder: the last conv gives %lld channels, not 3",
                               (long long)channels);
    return LF_OK;
}

static enum lf_status load_part(struct lf_device *device, const char *path, bool decoder,
                                enum lf_dtype dtype, struct sd_taesd_part *part,
                                struct lf_error *err)
{
    const char *side = decoder ? "decoder" : "encoder";
    struct sd_file *file;
    enum lf_status s = sd_refuse_pickle(path, err); /* the .pth downloads */
    if (s || (s = sd_file_open(path, &file, err))) return s;
    struct sd_taesd_file_info info;
    bool any = sd_taesd_inspect(file->st, &info);
    const char *prefix = decoder ? info.decoder_prefix : info.encoder_prefix;
    if (!prefix) {
        if (any)
            s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                "this is a TAESD %s, given as the %s",
                                decoder ? "encoder" : "decoder", side);
        else
            s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                "not a TAESD-family %s: no sequential layers ('1.weight', "
                                "'3.conv.0.weight', or '%s.layers.N...')",
                                side, side);
    }
    if (!s) s = sd_weights_create(device, dtype, &part->weights, err);
    if (!s) s = sd_weights_add_file(part->weights, file, map_strip, (void *)prefix, err);
    sd_file_release(file);
    if (!s) s = build_layers(part, decoder, path, err);
    return s;
}

enum lf_status sd_taesd_load(struct lf_device *device, const char *encoder_path,
                             const char *decoder_path, enum lf_dtype dtype, struct sd_taesd *out,
                             struct lf_error *err)
{
    memset(out, 0, sizeof *out);
    out->dtype = dtype;
    if (!encoder_path && !decoder_path)
        return lf_error_set(err, LF_ERR_INVALID, "TAESD: give an encoder or a decoder file");
    if (dtype != LF_DTYPE_F32 && dtype != LF_DTYPE_F16)
        return lf_error_set(err, LF_ERR_INVALID, "TAESD: dtype must be f32 or f16");
    enum lf_status s = LF_OK;
    if (encoder_path) s = load_part(device, encoder_path, false, dtype, &out->encoder, err);
    if (!s && decoder_path) s = load_part(device, decoder_path, true, dtype, &out->decoder, err);
    if (!s) {
        int enc = out->encoder.layer_count
                      ? out->encoder.layers[out->encoder.layer_count - 1].out_channels
                      : 0;
        int dec = out->decoder.layer_count ? out->decoder.layers[0].in_channels : 0;
        if (enc && dec && enc != dec)
            s = lf_error_set_at(err, LF_ERR_FORMAT, decoder_path, 0, 0,
                                "TAESD: the decoder reads %d latent channels, the encoder (%s) "
                                "writes %d: they are not one pair",
                                dec, encoder_path, enc);
        out->latent_channels = enc ? enc : dec;
    }
    if (s) {
        sd_taesd_clear(out);
        out->dtype = dtype;
    }
    return s;
}

static void part_clear(struct sd_taesd_part *part)
{
    sd_weights_release(part->weights);
    free(part->layers);
    memset(part, 0, sizeof *part);
}

void sd_taesd_clear(struct sd_taesd *t)
{
    part_clear(&t->encoder);
    part_clear(&t->decoder);
    memset(t, 0, sizeof *t);
}

/* ---- forward ---- */

/* x + pool(x): 1x1 conv -> GroupNorm -> ReLU -> 1x1 conv. */
static struct lf_tensor *pool_branch(struct sd_nn *nn, struct lf_tensor *x, int i)
{
    struct lf_tensor *a = sd_conv1(nn, x, "%d.pool.0", i);
    struct lf_tensor *b = sd_group_norm(nn, a, POOL_GROUPS, POOL_EPS, false, "%d.pool.1", i);
    sd_drop(a);
    a = sd_unary(nn, b, LF_UNARY_RELU);
    sd_drop(b);
    b = sd_conv1(nn, a, "%d.pool.3", i);
    sd_drop(a);
    struct lf_tensor *y = sd_add(nn, x, b);
    sd_drop(b);
    return y;
}

/* ReLU(conv -> ReLU -> conv -> ReLU -> conv (x) + skip(x)). */
static struct lf_tensor *block(struct sd_nn *nn, struct lf_tensor *x0,
                               const struct sd_taesd_layer *l)
{
    int i = l->index;
    struct lf_tensor *x = l->pool ? pool_branch(nn, x0, i) : lf_tensor_retain(x0);
    struct lf_tensor *a = sd_conv3(nn, x, "%d.conv.0", i);
    struct lf_tensor *b = sd_unary(nn, a, LF_UNARY_RELU);
    sd_drop(a);
    a = sd_conv3(nn, b, "%d.conv.2", i);
    sd_drop(b);
    b = sd_unary(nn, a, LF_UNARY_RELU);
    sd_drop(a);
    a = sd_conv3(nn, b, "%d.conv.4", i);
    sd_drop(b);
    struct lf_tensor *skip = l->skip_conv ? sd_conv1(nn, x, "%d.skip", i) : lf_tensor_retain(x);
    sd_drop(x);
    b = sd_add(nn, a, skip);
    sd_drop(a), sd_drop(skip);
    a = sd_unary(nn, b, LF_UNARY_RELU);
    sd_drop(b);
    return a;
}

static struct lf_tensor *conv_layer(struct sd_nn *nn, struct lf_tensor *x,
                                    const struct sd_taesd_layer *l)
{
    static const int pad[4] = {1, 1, 1, 1};
    struct lf_tensor *in = NULL;
    if (l->upsample && !nn->status && x) {
        sd_check(nn, lf_op_resize_nearest(x, x->shape[2] * 2, x->shape[3] * 2, &in, nn->err), &in);
    } else {
        in = x ? lf_tensor_retain(x) : NULL;
    }
    struct lf_tensor *y = sd_conv(nn, in, l->stride2 ? 2 : 1, pad, "%d", l->index);
    sd_drop(in);
    if (l->relu_after) {
        struct lf_tensor *r = sd_unary(nn, y, LF_UNARY_RELU);
        sd_drop(y);
        y = r;
    }
    return y;
}

/* Runs every layer of part on x (not consumed); returns a new tensor. */
static struct lf_tensor *run_layers(struct sd_nn *nn, const struct sd_taesd_part *part,
                                    struct lf_tensor *x)
{
    struct lf_tensor *h = x ? lf_tensor_retain(x) : NULL;
    for (int k = 0; k < part->layer_count && !nn->status; k++) {
        const struct sd_taesd_layer *l = &part->layers[k];
        struct lf_tensor *y = l->kind == SD_TAESD_CONV ? conv_layer(nn, h, l) : block(nn, h, l);
        sd_drop(h);
        h = y;
    }
    return h;
}

enum lf_status sd_taesd_decode(const struct sd_taesd *t, struct lf_tensor *latents,
                               struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    if (!t->decoder.weights)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "TAESD: no decoder weights were loaded");
    if (latents->rank != 4 || latents->shape[1] != t->latent_channels)
        return lf_error_set(err, LF_ERR_INVALID,
                            "TAESD decode: latents must be [B, %d, h, w], got rank %d with %lld "
                            "channels",
                            t->latent_channels, latents->rank,
                            (long long)(latents->rank > 1 ? latents->shape[1] : 0));
    struct sd_nn nn = {.weights = t->decoder.weights, .component = "TAESD decoder", .err = err};
    struct lf_tensor *x = sd_cast(&nn, latents, t->dtype);
    /* Soft clamp 3 * tanh(x / 3). */
    struct lf_tensor *a = sd_scale(&nn, x, 1.0f / 3.0f, 0.0f);
    sd_drop(x);
    x = sd_unary(&nn, a, LF_UNARY_TANH);
    sd_drop(a);
    a = sd_scale(&nn, x, 3.0f, 0.0f);
    sd_drop(x);
    struct lf_tensor *y = run_layers(&nn, &t->decoder, a);
    sd_drop(a);
    /* Clamp to [0, 1] as relu(y) - relu(y - 1). */
    struct lf_tensor *lo = sd_unary(&nn, y, LF_UNARY_RELU);
    a = sd_scale(&nn, y, 1.0f, -1.0f);
    sd_drop(y);
    struct lf_tensor *hi = sd_unary(&nn, a, LF_UNARY_RELU);
    sd_drop(a);
    struct lf_tensor *c = NULL;
    if (!nn.status) sd_check(&nn, lf_op_binary(lo, hi, LF_BINARY_SUB, &c, err), &c);
    sd_drop(lo), sd_drop(hi);
    return sd_finish(&nn, c, out);
}

enum lf_status sd_taesd_encode(const struct sd_taesd *t, struct lf_tensor *image,
                               struct lf_tensor **out, struct lf_error *err)
{
    *out = NULL;
    if (!t->encoder.weights)
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "TAESD: no encoder weights were loaded");
    if (image->rank != 4 || image->shape[1] != 3 || image->shape[2] % 8 || image->shape[3] % 8)
        return lf_error_set(err, LF_ERR_INVALID,
                            "TAESD encode: image must be [B, 3, H, W] with H and W multiples "
                            "of 8");
    struct sd_nn nn = {.weights = t->encoder.weights, .component = "TAESD encoder", .err = err};
    struct lf_tensor *x = sd_cast(&nn, image, t->dtype);
    struct lf_tensor *y = run_layers(&nn, &t->encoder, x);
    sd_drop(x);
    return sd_finish(&nn, y, out);
}
