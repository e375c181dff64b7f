/*
** sd_info_embedding.c - `lcmflow info` on a textual-inversion embedding:
** which layout, how many vectors, how wide, and for which text encoder.
*/
#include "sd_info.h"

#include <stdio.h>
#include <string.h>

static const char *model_of_width(int64_t width)
{
    switch (width) {
    case 768:
        return "SD 1.5 (CLIP ViT-L/14, 768 wide)";
    case 1024:
        return "SD 2.x (OpenCLIP ViT-H, 1024 wide): lcmflow runs SD 1.5 only";
    case 1280:
        return "SDXL's second encoder (1280 wide): lcmflow runs SD 1.5 only";
    default:
        return "a text encoder of that width (check it matches the checkpoint's)";
    }
}

static bool float_dtype(enum lf_st_dtype d)
{
    return d == LF_ST_DTYPE_F32 || d == LF_ST_DTYPE_F16 || d == LF_ST_DTYPE_BF16;
}

bool sd_info_inspect_embedding(const struct lf_safetensors *st, struct sd_info *info)
{
    size_t n = lf_safetensors_count(st);
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, "emb_params");
    bool a1111 = t != NULL;
    if (!t && n == 2 && lf_safetensors_find(st, "clip_l") && lf_safetensors_find(st, "clip_g")) {
        info->kind = SD_INFO_UNSUPPORTED;
        snprintf(info->what, sizeof info->what,
                 "SDXL textual-inversion embedding (clip_l + clip_g): lcmflow runs SD 1.5 only");
        return true;
    }
    if (!t && n == 1) t = lf_safetensors_tensor_at(st, 0);
    if (!t || !float_dtype(t->st_dtype)) return false;
    const int64_t *shape = t->shape;
    int rank = t->rank;
    if (rank == 3 && shape[0] == 1) shape++, rank--;
    if (rank < 1 || rank > 2) return false;
    int64_t width = shape[rank - 1], count = rank == 2 ? shape[0] : 1;
    /* a lone tensor counts when its width is a known text encoder's or its
    ** name is a placeholder token such as "<cat-toy>" */
    if (!a1111 && width != 768 && width != 1024 && width != 1280 && t->name[0] != '<') return false;
    info->kind = SD_INFO_EMBEDDING;
    struct sd_info_component *c = &info->components[0];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "embedding");
    for (size_t i = 0; i < n; i++) {
        const struct lf_safetensors_tensor *ti = lf_safetensors_tensor_at(st, i);
        c->tensors++, c->params += ti->numel, c->bytes += (int64_t)ti->nbytes;
        c->dtype_tensors[ti->st_dtype]++;
    }
    info->component_count = 1;
    info->embedding.vectors = (int)count;
    info->embedding.width = (int)width;
    snprintf(info->embedding.tensor, sizeof info->embedding.tensor, "%s", t->name);
    snprintf(info->what, sizeof info->what,
             "textual-inversion embedding (%s layout, tensor '%.40s'): %lld vector%s of width "
             "%lld, for %s",
             a1111 ? "AUTOMATIC1111 emb_params" : "diffusers", t->name, (long long)count,
             count == 1 ? "" : "s", (long long)width, model_of_width(width));
    snprintf(info->note, sizeof info->note,
             "use it in a prompt as embedding:NAME (NAME: the file name without .safetensors), "
             "with the file in the checkpoint's embeddings/ folder or TextEncode's embeddings");
    return true;
}
