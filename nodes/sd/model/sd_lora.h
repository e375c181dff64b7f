/*
** sd_lora.h - LoRA files: reading every common layout, matching their
** modules to a loaded SD 1.5 model, and merging them into NEW weights.
**
** Usage (a LoraLoader node; error handling shortened):
**
**     struct sd_lora *lora;                      // cache it: the file is read once
**     sd_lora_load(device, "lcm.safetensors", &lora, &err);
**
**     struct sd_lora_report rep;                 // once per (lora, model) pair
**     if (sd_lora_match(lora, ckpt.unet, ckpt.clip, &rep, &err)) ... // nothing matches,
**     if (rep.warning) fprintf(stderr, "%s\n", rep.warning);         // a shape that does not fit
**     sd_lora_report_clear(&rep);
**
**     const struct sd_lora *stack[] = {lora};
**     float strength_model = 1.0f, strength_clip = 0.8f;
**     struct sd_weights *unet, *clip;            // new references, caller releases
**     sd_lora_apply(model_in, SD_LORA_PART_UNET, stack, &strength_model, 1, &unet, &err);
**     sd_lora_apply(clip_in, SD_LORA_PART_CLIP, stack, &strength_clip, 1, &clip, &err);
**     ... sd_unet_init(&u, unet, &ckpt.arch.unet, &err) ...
**     sd_weights_release(unet); sd_weights_release(clip);
**     sd_lora_release(lora);
**
** Contract of sd_lora_apply: the input weights' VALUES are never modified
** (they are cached values other nodes share).  The output is a new struct
** sd_weights that shares (retains) every tensor no LoRA touches and owns its
** own tensors for the touched ones, each computed from the INPUT's value as
**     W' = W + sum_i strength_i * (alpha_i / rank_i) * up_i @ down_i
** in the listed order, accumulated in f32 (one f32 GEMM per LoRA, added to
** the running f32 value); with f16 weights the f32 result is rounded to f16
** once at the end.  Each merge is lf_op_lora_merge: its backend picks
** how (Vulkan: device GEMM + add on GPUs, OpenBLAS on the host for
** lavapipe, 20x faster there; see the LoRA merge in runtime/vulkan/).
** Memory: a touched layer is held once.  When the input's tensor is held
** by the input alone and is what its checkpoint file gives (not itself a
** merge), the merge takes it over and writes into it (sd_weights_take); the
** input loads that layer from the mapped file again if it is ever used (or
** merged again: a strength change loads the base from the file, bit for
** bit what was loaded first).  Otherwise the merge writes into a copy.
** Because a call always starts from its input, a chain of LoraLoader
** nodes never drifts: when one strength changes, the executor re-runs only
** that node (and those after it) from its cached input, and merging at 0.3
** then at 0.7 gives bit-for-bit the
** weights of merging at 0.7 directly.  When nothing is touched (a strength
** of 0, or a LoRA without modules for that part) the output is the input
** itself, retained: callers can compare pointers to skip work downstream
** (e.g. not re-running the text encoder when only strength_model changed).
**
** File layouts (keys of down / up / alpha):
**   kohya      lora_unet_<P>.lora_down.weight / .lora_up.weight / .alpha,
**              lora_te_<Q>...; P = LDM or diffusers UNet path with '.' -> '_'
**              (lora_unet_input_blocks_1_1_proj_in, lora_unet_down_blocks_0_
**              attentions_0_proj_in), Q = Hugging Face CLIP path
**   peft       unet.<P>.lora_A.weight / .lora_B.weight (also .lora_A.default.
**              weight), text_encoder.<Q>...; alpha if present, else = rank
**   diffusers  unet.<P>.lora.down.weight / .lora.up.weight (LoRACompatible
**              layers) and unet.<...>.processor.to_q_lora.down.weight (the
**              older attention-processor files)
** '_' inside module names is never turned back into '.': the model's own
** module paths (LDM and diffusers naming) are converted to the '_' form and
** looked up, as the fixture README prescribes.
*/
#ifndef LCMFLOW_SD_LORA_H
#define LCMFLOW_SD_LORA_H

#include "sd_weights.h"

#include <stdbool.h>

enum sd_lora_part {
    SD_LORA_PART_UNKNOWN = 0, /* a prefix lcmflow does not know (lora_te2_, ...) */
    SD_LORA_PART_UNET,
    SD_LORA_PART_CLIP,
};

enum sd_lora_format {
    SD_LORA_FORMAT_KOHYA = 0, /* lora_down / lora_up / alpha */
    SD_LORA_FORMAT_PEFT,      /* lora_A / lora_B */
    SD_LORA_FORMAT_DIFFUSERS, /* lora.down / lora.up, processor to_q_lora */
    SD_LORA_FORMAT_MIXED,     /* modules in more than one of the above */
};

/* The key spellings: the suffix after the module name, the tensor's role
** and the format it marks.  processor: the old attention-processor layout
** (attn1.processor.to_q_lora.down.weight is module attn1.to_q). */
enum sd_lora_role { SD_LORA_ROLE_DOWN, SD_LORA_ROLE_UP, SD_LORA_ROLE_ALPHA };
struct sd_lora_spelling {
    const char *suffix;
    enum sd_lora_role role;
    enum sd_lora_format format; /* SD_LORA_FORMAT_MIXED for .alpha: any format */
    bool processor;
};
/* Every spelling sd_lora_load reads (the one table; `lcmflow info` uses it
** too), longest first where one suffix ends another. */
extern const struct sd_lora_spelling sd_lora_spellings[];
extern const size_t sd_lora_spelling_count;
/* The spelling key ends with, NULL when key is no LoRA tensor; *module_len:
** the length of the module name in front of the suffix. */
const struct sd_lora_spelling *sd_lora_key_spelling(const char *key, size_t *module_len);
/* The part a module name belongs to by its prefix (lora_unet_, unet.,
** lora_te_, text_encoder.); *rest (may be NULL): the path after it. */
enum sd_lora_part sd_lora_module_part(const char *module, const char **rest);

/* One low-rank module: delta = (alpha / rank) * up @ down. */
struct sd_lora_module {
    char *name;     /* as in the file, without the role suffix (lora_unet_..., unet....) */
    char *flat;     /* lookup form: part prefix removed, '.' -> '_' */
    char *down_key; /* the down tensor's key, for messages */
    enum sd_lora_part part;
    enum sd_lora_format format;
    int64_t rank;
    float alpha; /* the .alpha value, or rank when absent */
    bool has_alpha;
    int up_rank, down_rank; /* ranks (dimensions) of the stored tensors */
    int64_t up_shape[4], down_shape[4];
    struct lf_tensor *up, *down; /* f32 on the device (converted once at load, exactly:
                                    f16 and bf16 values are f32 values); owned; NULL
                                    when loaded without a device */
};

/* A parsed LoRA file.  Reference counted; immutable after sd_lora_load. */
struct sd_lora {
    uint32_t refcount;
    char *path;
    enum sd_lora_format format;
    struct sd_lora_module *modules;
    size_t count;
    char **ignored; /* keys that are no LoRA tensor (owned strings) */
    size_t ignored_count;
    int64_t min_rank, max_rank;
    int64_t params; /* elements of all up and down tensors */
};

/* Reads and validates path.  device may be NULL to inspect a file only
** (sd_lora_apply then refuses it).  Errors (naming the file and key): a file
** with no LoRA tensor at all, a module with down but no up (or the reverse),
** a rank mismatch between up and down, malformed shapes or alpha.
** Caller releases with sd_lora_release(). */
enum lf_status sd_lora_load(struct lf_device *device, const char *path, struct sd_lora **out,
                            struct lf_error *err);
/* The same on a file the caller opened (and keeps open: nothing is
** borrowed from it after the call). */
enum lf_status sd_lora_read(struct lf_device *device, const struct lf_safetensors *st,
                            struct sd_lora **out, struct lf_error *err);
struct sd_lora *sd_lora_retain(struct sd_lora *lora);
void sd_lora_release(struct sd_lora *lora); /* NULL allowed */

const char *sd_lora_format_name(enum sd_lora_format format);

/* What one LoRA matches in a model. */
struct sd_lora_report {
    size_t modules; /* in the file */
    size_t matched_unet, matched_clip;
    size_t matched_ldm, matched_diffusers; /* UNet matches by naming (kohya files) */
    size_t unet_targets, clip_targets;     /* matchable layers of the model */
    size_t unmatched;                      /* modules plus ignored keys that match nothing */
    /* "N LoRA keys match nothing in the model and are ignored: a, b, c (and
    ** K more)", or NULL when everything matched.  Owned; freed by clear. */
    char *warning;
};

/* Matches lora against the UNet and text-encoder weights (clip may be NULL).
** Errors: nothing matches (LF_ERR_NOT_FOUND), a module whose shape does not
** fit its layer (LF_ERR_FORMAT naming the key and both shapes).  report is
** filled on success; clear it with sd_lora_report_clear(). */
enum lf_status sd_lora_match(const struct sd_lora *lora, const struct sd_weights *unet,
                             const struct sd_weights *clip, struct sd_lora_report *report,
                             struct lf_error *err);
void sd_lora_report_clear(struct sd_lora_report *report);

/* A few lines for `lcmflow info LORA`: format, module count, rank(s) and
** alpha(s), the parts and kinds of layers touched (attention, feed-forward,
** proj_in/out, resnet convs, time_emb_proj, shortcuts, samplers, text
** encoder), and with report (may be NULL) the matched fraction of the
** model's layers and the warning.  Written into buf (truncated to size). */
void sd_lora_describe(const struct sd_lora *lora, const struct sd_lora_report *report, char *buf,
                      size_t size);

/* Merges loras[0..n) with strengths[0..n) (negative allowed; 0 skips) into
** the part of the model that in holds (UNet or text encoder), see the
** contract at the top.  *out: a new reference (possibly to in itself), caller
** releases.  Modules of the part that match nothing are skipped (see
** sd_lora_match for the warning); a LoRA that has modules for the part but
** matches none of them, or a shape that does not fit, is an error naming the
** file and key.  in is not modified, on success or on error. */
enum lf_status sd_lora_apply(struct sd_weights *in, enum sd_lora_part part,
                             const struct sd_lora *const *loras, const float *strengths, size_t n,
                             struct sd_weights **out, struct lf_error *err);

#endif
