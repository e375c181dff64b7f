/*
** sd_info.h - what a model file is, read from its tensor names and shapes
** only (no weights are loaded): SD 1.5 checkpoint in the single-file or
** diffusers-folder layout, LoRA (kohya with LDM or diffusers module names,
** peft), TAESD-family encoder/decoder, or something else.  Used by
** `lcmflow info`.
**
** The architecture is read by the loaders' reader (sd_arch.h) and a LoRA
** by LoraLoader's reader (sd_lora_read), so `info` says what loading does.
** Head counts are not stored in the weights and are not reported, except
** the text encoder's from a diffusers config.json.
*/
#ifndef LCMFLOW_SD_INFO_H
#define LCMFLOW_SD_INFO_H

#include "lcmflow/safetensors.h"
#include "sd_arch_check.h"
#include "sd_lora.h"
#include "sd_taesd.h"

#include <stdbool.h>
#include <stdint.h>

enum sd_info_kind {
    SD_INFO_OTHER = 0,  /* a safetensors file of no kind known here */
    SD_INFO_CHECKPOINT, /* SD 1.5-structured checkpoint */
    SD_INFO_LORA,
    SD_INFO_TAESD,
    SD_INFO_UNSUPPORTED, /* a known model lcmflow does not run (SDXL, SD 2.x) */
    SD_INFO_EMBEDDING,   /* textual-inversion embedding (sd_info_embedding.c) */
};

enum sd_info_lora_format {
    SD_INFO_LORA_KOHYA_LDM = 0,   /* lora_unet_input_blocks_1_1_... */
    SD_INFO_LORA_KOHYA_DIFFUSERS, /* lora_unet_down_blocks_0_attentions_0_... */
    SD_INFO_LORA_KOHYA_TE_ONLY,   /* kohya, text encoder modules only */
    SD_INFO_LORA_PEFT,            /* unet.<path>.lora_A.weight */
    SD_INFO_LORA_DIFFUSERS,       /* unet.<path>.lora.down.weight, processor to_q_lora */
    SD_INFO_LORA_MIXED,           /* more than one of the spellings */
    SD_INFO_LORA_REFUSED,         /* LoRA keys, but LoraLoader refuses the file (note says why) */
};

#define SD_INFO_MAX_COMPONENTS 6
#define SD_INFO_MAX_VALUES     8

/* Tensors and parameters of one part of a model, by stored dtype. */
struct sd_info_component {
    char name[32];  /* "UNet", "VAE", "text encoder", "other", ... */
    char file[512]; /* the file it is in (diffusers folders), "" otherwise */
    bool missing;   /* a diffusers component whose file is absent */
    int64_t tensors, params, bytes;
    int64_t dtype_tensors[LF_ST_DTYPE_COUNT];
};

struct sd_info_lora {
    enum sd_info_lora_format format;
    int modules, unet_modules, text_modules, other_modules;
    int linear_modules, conv_modules;
    int ranks[SD_INFO_MAX_VALUES], rank_count; /* distinct, ascending */
    float alphas[SD_INFO_MAX_VALUES];
    int alpha_count;                    /* distinct values; 0: no alpha tensors (scale 1) */
    int alpha_modules;                  /* modules that carry an alpha */
    int ldm_modules, diffusers_modules; /* UNet modules by naming */
    bool more_ranks, more_alphas;       /* more distinct values than listed */
};

struct sd_info {
    enum sd_info_kind kind;
    char what[160];        /* one line: "SD 1.5 checkpoint (single-file LDM layout)" */
    bool diffusers;        /* a folder */
    bool real_sd15_widths; /* checkpoint: every width equals real SD 1.5's */
    struct sd_info_component components[SD_INFO_MAX_COMPONENTS];
    int component_count;
    struct sd_info_component total;
    struct sd_arch arch; /* found false in the parts that are not there */
    /* Checkpoints and their parts: each component that is there against
    ** its architecture, as the loader checks it (by enum sd_component). */
    struct sd_arch_audit audit[SD_COMPONENT_COUNT];
    bool audited[SD_COMPONENT_COUNT];
    struct sd_info_lora lora;
    struct sd_taesd_file_info taesd;
    bool tokenizer; /* diffusers folder with tokenizer/vocab.json */
    char note[256]; /* extra explanation, "" if none */
    struct {
        int vectors, width;
        char tensor[128];
    } embedding; /* SD_INFO_EMBEDDING */
};

/* Describes the file or diffusers folder at path.  Pickle files are refused
** (sd_refuse_pickle's message); a file that is not safetensors is the
** reader's LF_ERR_FORMAT error.  Any readable safetensors file succeeds,
** as SD_INFO_OTHER if nothing else fits. */
enum lf_status sd_info_inspect(const char *path, struct sd_info *out, struct lf_error *err);

/* Fills info when st is a textual-inversion embedding (or an SDXL one,
** as SD_INFO_UNSUPPORTED); false when it is not one. */
bool sd_info_inspect_embedding(const struct lf_safetensors *st, struct sd_info *info);

/* "kohya, LDM module names" and so on. */
const char *sd_info_lora_format_name(enum sd_info_lora_format format);

#endif
