/*
** nodes_lora.c - LoraLoader: merges one LoRA into a model and/or text
** encoder.  Chains of LoraLoader nodes stack LoRAs; each node merges into
** NEW weights from its (cached) input, so a strength change re-runs only
** that node and what follows, never the checkpoint load, and never drifts.
** The parsed, uploaded LoRA file is kept in the host's cache (plugin ABI
** 1.2 cache_put) under its path and identity: a strength change merges
** again from it without reading the file.
*/
#include "sd_lora.h"
#include "lcmflow/node.h"
#include "sd_nodes.h"
#include "sd_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Port and param indices; the tables below are indexed by them (designated
** initialisers), and their slot at the count stays zero: the end. */
enum { LORA_PATH, LORA_STRENGTH_MODEL, LORA_STRENGTH_CLIP, LORA_PARAMS };
enum { LORA_IN_MODEL, LORA_IN_CLIP, LORA_INPUTS };
enum { LORA_OUT_MODEL, LORA_OUT_CLIP, LORA_OUTPUTS };

/* A parsed LoRA as a host-cached object; its kind is this string, compared
** by address, so another object under the same key is never taken for it. */
static const char lora_kind[] = "sd.lora";

struct lora_object {
    struct lf_object base;
    struct sd_lora *lora;
};

static void lora_object_destroy(struct lf_object *o)
{
    struct lora_object *l = (struct lora_object *)o;
    sd_lora_release(l->lora);
    free(l);
}

/* The LoRA file of the call: from the host cache when the same file (path
** and identity) was read before, else read, uploaded and cached.  *out is
** a new reference. */
static enum lf_status lora_get(const struct lf_node_call *c, struct lf_device *device,
                               struct sd_lora **out, struct lf_error *err)
{
    const char *path = lf_node_param_string(c, LORA_PATH);
    bool cache = LF_HOST_HAS(c->host, cache_put) && LF_HOST_HAS(c->host, cache_get) &&
                 c->struct_size >= offsetof(struct lf_node_call, file_identity) + sizeof(uint64_t);
    uint64_t key = cache ? lf_hash_u64(lf_hash_str(LF_HASH_INIT, path), c->file_identity) : 0;
    struct lf_object *found = cache ? c->host->cache_get(c->ctx, key) : NULL;
    struct lora_object *o = found && found->kind == lora_kind ? (struct lora_object *)found : NULL;
    if (found && !o) lf_object_release(found); /* not ours: read the file */
    if (o) {
        *out = sd_lora_retain(o->lora);
        lf_object_release(&o->base);
        return LF_OK;
    }
    enum lf_status s = sd_lora_load(device, path, out, err);
    if (s) return s;
    if (c->host->log)
        c->host->log(c->ctx, LF_LOG_INFO, "read LoRA file %s (%zu modules)", path, (*out)->count);
    if (!cache || !(o = calloc(1, sizeof *o))) return LF_OK; /* used uncached */
    o->base = (struct lf_object){.refcount = 1,
                                 .nbytes = (uint64_t)(*out)->params * sizeof(float),
                                 .kind = lora_kind,
                                 .destroy = lora_object_destroy};
    o->lora = sd_lora_retain(*out);
    c->host->cache_put(c->ctx, key, &o->base);
    lf_object_release(&o->base);
    return LF_OK;
}

static enum lf_status lora_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_unet_object *m = sd_unet_object_of(&c->inputs[LORA_IN_MODEL]);
    struct sd_clip_object *t = c->inputs[LORA_IN_CLIP].type == LF_TYPE_NONE
                                   ? NULL
                                   : sd_clip_object_of(&c->inputs[LORA_IN_CLIP]);
    if (!m) return lf_error_set(err, LF_ERR_INVALID, "input model is not an SD UNet");
    if (c->inputs[LORA_IN_CLIP].type != LF_TYPE_NONE && !t)
        return lf_error_set(err, LF_ERR_INVALID, "input clip is not an SD text encoder");
    struct lf_device *device = lf_node_device(c, err);
    if (!device) return err ? err->code : LF_ERR_NO_DEVICE;
    /* strength_clip is strength_model's value when the graph leaves it out
    ** (param_defaults below: the graph engine fills it in). */
    float strength_model = (float)lf_node_param_float(c, LORA_STRENGTH_MODEL);
    float strength_clip = (float)lf_node_param_float(c, LORA_STRENGTH_CLIP);

    struct sd_lora *lora = NULL;
    struct sd_lora_report report = {0};
    struct sd_weights *unet_w = NULL, *clip_w = NULL;
    const struct sd_lora *stack[1];
    enum lf_status s = lora_get(c, device, &lora, err);
    if (!s) s = sd_lora_match(lora, m->unet.weights, t ? t->clip.weights : NULL, &report, err);
    if (!s && report.warning && c->host->log)
        c->host->log(c->ctx, LF_LOG_WARNING, "%s", report.warning);
    stack[0] = lora;
    if (!s)
        s = sd_lora_apply(m->unet.weights, SD_LORA_PART_UNET, stack, &strength_model, 1, &unet_w,
                          err);
    if (!s && t)
        s = sd_lora_apply(t->clip.weights, SD_LORA_PART_CLIP, stack, &strength_clip, 1, &clip_w,
                          err);
    /* New model objects over the merged weights (the structure is the input's),
    ** counted in the cache for the layers they do not share with it: a LoRA
    ** touching most of the UNet is about its size again, not the model's. */
    struct lf_object *mo = NULL, *to = NULL;
    if (!s) {
        struct sd_unet u = m->unet;
        u.weights = sd_weights_retain(unet_w);
        mo = sd_unet_object_new(&u, sd_weights_own_bytes(unet_w, m->unet.weights));
        if (t) {
            struct sd_clip cl = t->clip;
            cl.weights = sd_weights_retain(clip_w);
            to = sd_clip_object_new(&cl, t->vocab, sd_weights_own_bytes(clip_w, t->clip.weights));
        }
        if (!mo || (t && !to)) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!s) {
        lf_node_output_object(c, LORA_OUT_MODEL, LF_TYPE_UNET, mo);
        /* Without a clip input the clip output is absent (NONE is allowed for
        ** an output nothing consumes; a consumer would fail validation). */
        if (to) lf_node_output_object(c, LORA_OUT_CLIP, LF_TYPE_CLIP, to);
    } else {
        lf_object_release(mo), lf_object_release(to);
    }
    sd_weights_release(unet_w), sd_weights_release(clip_w);
    sd_lora_report_clear(&report);
    sd_lora_release(lora);
    return s;
}

static const char *const model_deps[] = {"path", "strength_model", "model", NULL};
/* The clip output does not depend on strength_model: changing only that
** keeps the text encoder cached (when strength_clip is written in the graph;
** otherwise strength_clip follows strength_model, as it should). */
static const char *const clip_deps[] = {"path", "strength_clip", "clip", NULL};
static const char *const lora_param_defaults[] = {"strength_clip", "strength_model", NULL};

const struct lf_node_type sd_lora_loader_type = {
    .name = "LoraLoader",
    .description = "Merges a LoRA (kohya, peft or diffusers file) into the model and text "
                   "encoder.",
    .flags = LF_NODE_DETERMINISTIC | LF_NODE_READS_FILES | LF_NODE_REPLACES,
    .inputs =
        (const struct lf_input_desc[LORA_INPUTS + 1]){
            [LORA_IN_MODEL] = {"model", LF_TYPE_UNET, 0, NULL},
            [LORA_IN_CLIP] = {"clip", LF_TYPE_CLIP, LF_PORT_OPTIONAL,
                              "text encoder (for text-encoder LoRAs)"},
        },
    .outputs =
        (const struct lf_output_desc[LORA_OUTPUTS + 1]){
            [LORA_OUT_MODEL] = {"model", LF_TYPE_UNET, model_deps, NULL},
            [LORA_OUT_CLIP] = {"clip", LF_TYPE_CLIP, clip_deps,
                               "present when the clip input is connected"},
        },
    .params =
        (const struct lf_param_desc[LORA_PARAMS + 1]){
            [LORA_PATH] = {.name = "path",
                           .type = LF_TYPE_STRING,
                           .flags = LF_PARAM_REQUIRED | LF_PARAM_PATH,
                           .description = "LoRA .safetensors file"},
            [LORA_STRENGTH_MODEL] = {.name = "strength_model",
                                     .type = LF_TYPE_FLOAT,
                                     .flags = LF_PARAM_HAS_RANGE,
                                     .default_float = 1.0,
                                     .min = -20.0,
                                     .max = 20.0,
                                     .description = "strength on the UNet (negative allowed)"},
            [LORA_STRENGTH_CLIP] = {.name = "strength_clip",
                                    .type = LF_TYPE_FLOAT,
                                    .flags = LF_PARAM_HAS_RANGE,
                                    .default_float = 1.0,
                                    .min = -20.0,
                                    .max = 20.0,
                                    .description =
                                        "strength on the text encoder; default: strength_model"},
        },
    .execute = lora_execute,
    .param_defaults = lora_param_defaults,
};
