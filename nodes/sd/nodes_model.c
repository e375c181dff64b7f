/*
** nodes_model.c - CheckpointLoader, TextEncode and ModelPredict.
*/
#include "lcmflow/ops.h"
#include "sd_checkpoint.h"
#include "sd_embedding.h"
#include "lcmflow/node.h"
#include "sd_nodes.h"
#include "sd_objects.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- CheckpointLoader ---- */

/* Port and param indices; the tables below are indexed by them (designated
** initialisers), and their slot at the count stays zero: the end. */
enum { CKPT_PATH, CKPT_DTYPE, CKPT_TOKENIZER, CKPT_EMBEDDINGS, CKPT_PARAMS };
enum { CKPT_MODEL, CKPT_CLIP, CKPT_VAE, CKPT_OUTPUTS };

static enum lf_status checkpoint_validate(const struct lf_node_type *type,
                                          const struct lf_value *params, struct lf_error *err)
{
    const char *dtype = params[CKPT_DTYPE].u.s ? params[CKPT_DTYPE].u.s : "";
    if (strcmp(dtype, "auto") && strcmp(dtype, "f16") && strcmp(dtype, "f32"))
        return lf_error_set(err, LF_ERR_INVALID, "dtype must be auto, f16 or f32, not '%s'", dtype);
    return sd_refuse_pickle(params[CKPT_PATH].u.s ? params[CKPT_PATH].u.s : "", err);
}

static void mix_stat(const char *path, void *user)
{
    uint64_t *h = user;
    struct stat st;
    if (stat(path, &st) != 0) {
        *h = *h * 31 + 7;
        return;
    }
    uint64_t v[3] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                     (uint64_t)st.st_mtim.tv_nsec};
    for (int i = 0; i < 3; i++)
        *h = (*h ^ v[i]) * 1099511628211ull;
}

/* The embeddings folder: the param, else embeddings/ inside a diffusers
** folder or beside a single file. */
static void embeddings_dir(const char *path, const char *param, char *out, size_t size)
{
    struct stat st;
    const char *slash = strrchr(path, '/');
    if (param && *param)
        snprintf(out, size, "%s", param);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, size, "%s/embeddings", path);
    else
        snprintf(out, size, "%.*sembeddings", slash ? (int)(slash - path + 1) : 0, path);
}

/* A diffusers folder's content is its files, and the vocabulary beside a
** single file counts too: hash the size and mtime of each. */
static enum lf_status checkpoint_identity(const struct lf_node_type *type,
                                          const struct lf_value *params, uint64_t *identity,
                                          struct lf_error *err)
{
    const char *path = params[CKPT_PATH].u.s ? params[CKPT_PATH].u.s : "";
    const char *vocab = params[CKPT_TOKENIZER].u.s ? params[CKPT_TOKENIZER].u.s : "";
    uint64_t h = 1469598103934665603ull;
    char buf[1200];
    sd_checkpoint_files(path, mix_stat, &h);
    if (*vocab) mix_stat(vocab, &h);
    embeddings_dir(path, params[CKPT_EMBEDDINGS].u.s, buf, sizeof buf);
    *identity = sd_embeddings_identity(buf, h);
    return LF_OK;
}

static enum lf_status checkpoint_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct lf_device *device = lf_node_device(c, err);
    if (!device) return err ? err->code : LF_ERR_NO_DEVICE;
    const char *path = lf_node_param_string(c, CKPT_PATH);
    const char *dtype_name = lf_node_param_string(c, CKPT_DTYPE);
    enum lf_dtype dtype = !strcmp(dtype_name, "f32")                         ? LF_DTYPE_F32
                          : !strcmp(dtype_name, "f16")                       ? LF_DTYPE_F16
                          : lf_device_has(device, LF_DEVICE_CAP_F16_WEIGHTS) ? LF_DTYPE_F16
                                                                             : LF_DTYPE_F32;
    if (dtype == LF_DTYPE_F16 && !lf_device_supports_f16(device))
        return lf_error_set(err, LF_ERR_UNSUPPORTED, "dtype f16: the device has no f16 storage");
    struct sd_checkpoint ck;
    enum lf_status s = sd_checkpoint_load(device, path, dtype, &ck, err);
    if (s) return s;
    struct sd_unet unet;
    struct sd_clip clip;
    struct sd_vae vae;
    memset(&unet, 0, sizeof unet), memset(&clip, 0, sizeof clip), memset(&vae, 0, sizeof vae);
    struct sd_vocab *vocab = sd_vocab_new();
    if (!vocab) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    if (!s && !(s = sd_unet_init(&unet, ck.unet, &ck.arch.unet, err)) &&
        !(s = sd_clip_init(&clip, ck.clip, &ck.arch.text, err)))
        s = sd_vae_init(&vae, ck.vae, &ck.arch.vae, err);
    if (!s && !strcmp(dtype_name, "auto")) {
        /* auto: f16 weights where supported; activations f16 where the
        ** device computes f16 natively, f32 elsewhere (lavapipe): there f16
        ** activations only add conversions, and weights are most of the
        ** memory anyway (sd_activation_dtype). */
        enum lf_dtype act = sd_activation_dtype(device, dtype);
        unet.act_dtype = clip.act_dtype = vae.act_dtype = act;
    }
    if (!s) {
        /* An explicit tokenizer param wins; else the checkpoint's own, then
        ** LCMFLOW_TOKENIZER.  A missing vocabulary, or one of another size
        ** than the token embedding, is reported by TextEncode:
        ** the model and VAE are usable without one. */
        embeddings_dir(path, lf_node_param_string(c, CKPT_EMBEDDINGS), vocab->embeddings,
                       sizeof vocab->embeddings);
        const char *param = lf_node_param_string(c, CKPT_TOKENIZER);
        struct lf_error verr = {0};
        enum lf_status vs = *param ? sd_tokenizer_load(param, &vocab->tokenizer, &verr)
                                   : sd_tokenizer_find(path, NULL, &vocab->tokenizer, &verr);
        if (!vs && (vs = sd_clip_check_vocab(&clip, vocab->tokenizer, &verr))) {
            sd_tokenizer_free(vocab->tokenizer); /* encoding with it would be wrong */
            vocab->tokenizer = NULL;
        }
        if (vs) {
            char text[LF_ERROR_MESSAGE_MAX + 600];
            snprintf(vocab->missing, sizeof vocab->missing, "%s",
                     lf_error_text(&verr, text, sizeof text));
        }
    }
    if (!s) {
        struct lf_object *m = sd_unet_object_new(&unet, ck.unet->bytes);
        struct lf_object *t = sd_clip_object_new(&clip, vocab, ck.clip->bytes);
        struct lf_object *v = sd_vae_object_new(&vae, ck.vae->bytes);
        if (!m || !t || !v) {
            lf_object_release(m), lf_object_release(t), lf_object_release(v);
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            lf_node_output_object(c, CKPT_MODEL, LF_TYPE_UNET, m);
            lf_node_output_object(c, CKPT_CLIP, LF_TYPE_CLIP, t);
            lf_node_output_object(c, CKPT_VAE, LF_TYPE_VAE, v);
        }
    } else {
        sd_unet_clear(&unet), sd_clip_clear(&clip), sd_vae_clear(&vae);
    }
    sd_vocab_release(vocab);
    sd_checkpoint_clear(&ck);
    return s;
}

static const char *const ckpt_model_deps[] = {"path", "dtype", NULL};
static const char *const ckpt_clip_deps[] = {"path", "dtype", "tokenizer", "embeddings", NULL};

const struct lf_node_type sd_checkpoint_loader_type = {
    .name = "CheckpointLoader",
    .description = "Loads an SD 1.5 checkpoint (single .safetensors file or diffusers folder).",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES,
    .outputs =
        (const struct lf_output_desc[CKPT_OUTPUTS + 1]){
            [CKPT_MODEL] = {"model", LF_TYPE_UNET, ckpt_model_deps, "the UNet"},
            [CKPT_CLIP] = {"clip", LF_TYPE_CLIP, ckpt_clip_deps,
                           "the text encoder and its tokenizer"},
            [CKPT_VAE] = {"vae", LF_TYPE_VAE, ckpt_model_deps, "the VAE"},
        },
    .params =
        (const struct lf_param_desc[CKPT_PARAMS + 1]){
            [CKPT_PATH] = {.name = "path",
                           .type = LF_TYPE_STRING,
                           .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                           .description = "checkpoint .safetensors file or diffusers folder"},
            [CKPT_DTYPE] = {.name = "dtype",
                            .type = LF_TYPE_STRING,
                            .default_string = "auto",
                            .description =
                                "weights and activations: auto (f16 where supported), f16, f32"},
            [CKPT_TOKENIZER] =
                {.name = "tokenizer",
                 .type = LF_TYPE_STRING,
                 .flags = LF_PARAM_PATH,
                 .default_string = "",
                 .description =
                     "CLIP vocabulary (folder, vocab.json or bpe_simple_vocab_16e6.txt.gz); "
                     "default: the checkpoint's tokenizer/, then $LCMFLOW_TOKENIZER"},
            [CKPT_EMBEDDINGS] = {.name = "embeddings",
                                 .type = LF_TYPE_STRING,
                                 .flags = LF_PARAM_PATH,
                                 .default_string = "",
                                 .description =
                                     "textual-inversion embeddings folder; default: "
                                     "embeddings/ in a diffusers folder or beside the file"},
        },
    .execute = checkpoint_execute,
    .validate = checkpoint_validate,
    .file_identity = checkpoint_identity,
};

/* ---- TextEncode (execute: nodes_text.c) ---- */

static const char *const text_empty_deps[] = {"clip", "clip_skip", NULL};

const struct lf_node_type sd_text_encode_type = {
    .name = "TextEncode",
    .description = "Encodes a prompt with the CLIP text encoder: weights, BREAK, embeddings, "
                   "75-token chunks.",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES,
    .inputs = (const struct lf_input_desc[]){{"clip", LF_TYPE_CLIP, 0, "text encoder"}, {0}},
    .outputs =
        (const struct lf_output_desc[SD_TEXT_OUTPUTS + 1]){
            [SD_TEXT_OUT_CONDITIONING] = {"conditioning", LF_TYPE_CONDITIONING, NULL,
                                          "[1, 77*k, C]: k chunks of 75 tokens"},
            [SD_TEXT_OUT_EMPTY] = {"empty_prompt", LF_TYPE_CONDITIONING, text_empty_deps,
                                   "[1, 77, C] the encoded empty prompt, for LcmSampler's "
                                   "empty_prompt"},
        },
    .params =
        (const struct lf_param_desc[SD_TEXT_PARAMS + 1]){
            [SD_TEXT_TEXT] = {.name = "text",
                              .type = LF_TYPE_STRING,
                              .default_string = "",
                              .description = "the prompt: (word:1.2), [word], BREAK, "
                                             "embedding:NAME"},
            [SD_TEXT_WEIGHTING] = {.name = "weighting",
                                   .type = LF_TYPE_STRING,
                                   .default_string = "a1111",
                                   .description = "a1111 (mean-preserving), comfy, or none "
                                                  "(brackets are text)"},
            [SD_TEXT_CLIP_SKIP] = {.name = "clip_skip",
                                   .type = LF_TYPE_INT,
                                   .flags = LF_PARAM_HAS_RANGE,
                                   .default_int = 1,
                                   .min = 1,
                                   .max = 64,
                                   .description = "1: last layer; 2: penultimate layer, then the "
                                                  "final layer norm"},
            [SD_TEXT_EMBEDDINGS] = {.name = "embeddings",
                                    .type = LF_TYPE_STRING,
                                    .flags = LF_PARAM_PATH,
                                    .default_string = "",
                                    .description = "textual-inversion folder, searched before "
                                                   "the checkpoint's"},
        },
    .execute = sd_text_encode_execute,
    .validate = sd_text_encode_validate,
    .file_identity = sd_text_encode_identity,
};

/* ---- ModelPredict ---- */

enum { PREDICT_TIMESTEP, PREDICT_PARAMS };
enum { PREDICT_MODEL, PREDICT_LATENT, PREDICT_CONDITIONING, PREDICT_INPUTS };

static enum lf_status model_predict_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_unet_object *m = sd_unet_object_of(&c->inputs[PREDICT_MODEL]);
    if (!m) return lf_error_set(err, LF_ERR_INVALID, "input model is not an SD UNet");
    struct lf_tensor *out;
    enum lf_status s = sd_unet_forward(&m->unet, lf_node_input_tensor(c, PREDICT_LATENT),
                                       (float)lf_node_param_int(c, PREDICT_TIMESTEP),
                                       lf_node_input_tensor(c, PREDICT_CONDITIONING), &out, err);
    if (!s) lf_node_output_tensor(c, 0, LF_TYPE_TENSOR, out);
    return s;
}

const struct lf_node_type sd_model_predict_type = {
    .name = "ModelPredict",
    .description = "One raw UNet evaluation (the noise prediction), for tests and debugging.",
    .flags = LF_NODE_DETERMINISTIC,
    .inputs =
        (const struct lf_input_desc[PREDICT_INPUTS + 1]){
            [PREDICT_MODEL] = {"model", LF_TYPE_UNET, 0, NULL},
            [PREDICT_LATENT] = {"latent", LF_TYPE_LATENT, 0, NULL},
            [PREDICT_CONDITIONING] = {"conditioning", LF_TYPE_CONDITIONING, 0, NULL},
        },
    .outputs = (const struct lf_output_desc[]){{"tensor", LF_TYPE_TENSOR, NULL, "eps"}, {0}},
    .params =
        (const struct lf_param_desc[PREDICT_PARAMS + 1]){
            [PREDICT_TIMESTEP] = {.name = "timestep",
                                  .type = LF_TYPE_INT,
                                  .flags = LF_PARAM_REQUIRED | LF_PARAM_HAS_RANGE,
                                  .min = 0,
                                  .max = 999,
                                  .description = "integer timestep"}},
    .execute = model_predict_execute,
};
