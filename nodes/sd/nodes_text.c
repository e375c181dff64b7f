/*
** nodes_text.c - what TextEncode does (its table is in nodes_model.c):
** prompt syntax, chunks, weighting, clip_skip and embeddings.
*/
#include "lcmflow/node.h"
#include "sd_conditioning.h"
#include "sd_nodes.h"
#include "sd_objects.h"

#include <stdlib.h>
#include <string.h>

enum lf_status sd_text_encode_validate(const struct lf_node_type *type,
                                       const struct lf_value *params, struct lf_error *err)
{
    const char *w = params[SD_TEXT_WEIGHTING].u.s ? params[SD_TEXT_WEIGHTING].u.s : "";
    enum sd_weighting weighting;
    if (!sd_weighting_parse(w, &weighting))
        return lf_error_set(err, LF_ERR_INVALID, "weighting must be a1111, comfy or none, not '%s'",
                            w);
    return LF_OK;
}

/* The embeddings folder given to this node: its files join the cache key.
** (The checkpoint's folder is in CheckpointLoader's.) */
enum lf_status sd_text_encode_identity(const struct lf_node_type *type,
                                       const struct lf_value *params, uint64_t *identity,
                                       struct lf_error *err)
{
    *identity = sd_embeddings_identity(params[SD_TEXT_EMBEDDINGS].u.s, 1469598103934665603ull);
    return LF_OK;
}

/* The empty prompt's encoding at clip_skip, memoised on the clip object. */
static enum lf_status empty_of(struct sd_clip_object *clip, int clip_skip, struct lf_error *err)
{
    if (clip->empty && clip->empty_clip_skip == clip_skip) return LF_OK;
    free(clip->empty);
    clip->empty = NULL;
    struct sd_tokenizer *tok = clip->vocab->tokenizer;
    enum lf_status s = sd_conditioning_empty(&clip->clip, sd_tokenizer_bos(tok),
                                             sd_tokenizer_eos(tok), clip_skip, &clip->empty, err);
    if (!s) clip->empty_clip_skip = clip_skip;
    return s;
}

static enum lf_status encode(const struct lf_node_call *c, struct sd_clip_object *clip,
                             int clip_skip, struct lf_tensor **out, struct lf_error *err)
{
    enum sd_weighting weighting = SD_WEIGHTING_A1111;
    sd_weighting_parse(lf_node_param_string(c, SD_TEXT_WEIGHTING), &weighting);
    struct sd_prompt prompt;
    enum lf_status s = sd_prompt_parse(
        lf_node_param_string(c, SD_TEXT_TEXT),
        weighting == SD_WEIGHTING_NONE ? SD_PROMPT_LITERAL : SD_PROMPT_WEIGHTED, &prompt, err);
    if (s) return s;
    struct sd_embeddings lib = {
        .dirs = {lf_node_param_string(c, SD_TEXT_EMBEDDINGS), clip->vocab->embeddings},
        .width = clip->clip.hidden,
    };
    struct sd_prompt_tokens tokens;
    s = sd_prompt_tokenize(clip->vocab->tokenizer, &prompt, &lib, &tokens, err);
    if (!s) {
        s = sd_conditioning_encode(&clip->clip, &tokens, weighting, clip_skip, clip->empty, out,
                                   err);
        sd_prompt_tokens_free(&tokens);
    }
    sd_embeddings_clear(&lib);
    sd_prompt_free(&prompt);
    return s;
}

enum lf_status sd_text_encode_execute(const struct lf_node_call *c, struct lf_error *err)
{
    struct sd_clip_object *clip = sd_clip_object_of(&c->inputs[0]);
    if (!clip) return lf_error_set(err, LF_ERR_INVALID, "input clip is not an SD text encoder");
    if (!clip->vocab || !clip->vocab->tokenizer)
        return lf_error_set(err, LF_ERR_NOT_FOUND, "no CLIP vocabulary for this checkpoint: %s",
                            clip->vocab ? clip->vocab->missing : "none loaded");
    int clip_skip = (int)lf_node_param_int(c, SD_TEXT_CLIP_SKIP);
    if (clip_skip > clip->clip.layers)
        return lf_error_set(err, LF_ERR_INVALID,
                            "clip_skip %d: the text encoder has only %d layers", clip_skip,
                            clip->clip.layers);
    struct lf_tensor *cond = NULL, *empty = NULL;
    int64_t shape[3] = {1, SD_TOKENIZER_CONTEXT, clip->clip.hidden};
    enum lf_status s = empty_of(clip, clip_skip, err);
    if (!s) s = encode(c, clip, clip_skip, &cond, err);
    if (!s)
        s = lf_tensor_from_f32(clip->clip.weights->device, LF_DTYPE_F32, 3, shape, clip->empty,
                               &empty, err);
    if (s) {
        lf_tensor_release(cond);
        return s;
    }
    lf_node_output_tensor(c, SD_TEXT_OUT_CONDITIONING, LF_TYPE_CONDITIONING, cond);
    lf_node_output_tensor(c, SD_TEXT_OUT_EMPTY, LF_TYPE_CONDITIONING, empty);
    return LF_OK;
}
