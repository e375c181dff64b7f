/*
** value.c - copying, clearing and sizing struct lf_value (plugin.h).
*/
#include "lcmflow/graph.h"
#include "lcmflow/tensor.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[LF_TYPE_COUNT] = {
    [LF_TYPE_NONE] = "NONE",     [LF_TYPE_INT] = "INT",
    [LF_TYPE_FLOAT] = "FLOAT",   [LF_TYPE_STRING] = "STRING",
    [LF_TYPE_BOOL] = "BOOL",     [LF_TYPE_TENSOR] = "TENSOR",
    [LF_TYPE_LATENT] = "LATENT", [LF_TYPE_CONDITIONING] = "CONDITIONING",
    [LF_TYPE_IMAGE] = "IMAGE",   [LF_TYPE_UNET] = "UNET",
    [LF_TYPE_CLIP] = "CLIP",     [LF_TYPE_VAE] = "VAE",
};

const char *lf_value_type_name(enum lf_value_type type)
{
    if ((unsigned)type < LF_TYPE_COUNT) return type_names[type];
    return "?";
}

static bool is_tensor_type(enum lf_value_type t)
{
    return t >= LF_TYPE_TENSOR && t <= LF_TYPE_IMAGE;
}

static bool is_object_type(enum lf_value_type t)
{
    return t >= LF_TYPE_UNET && t <= LF_TYPE_VAE;
}

enum lf_status lf_value_copy(struct lf_value *dst, const struct lf_value *src, struct lf_error *err)
{
    *dst = *src;
    if (src->type == LF_TYPE_STRING) {
        dst->u.s = strdup(src->u.s ? src->u.s : "");
        if (!dst->u.s) {
            dst->type = LF_TYPE_NONE;
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of memory copying a string");
        }
    } else if (is_tensor_type(src->type) && src->u.tensor) {
        lf_tensor_retain(src->u.tensor);
    } else if (is_object_type(src->type)) {
        lf_object_retain(src->u.object);
    }
    return LF_OK;
}

void lf_value_clear(struct lf_value *v)
{
    if (!v) return;
    if (v->type == LF_TYPE_STRING)
        free(v->u.s);
    else if (is_tensor_type(v->type) && v->u.tensor)
        lf_tensor_release(v->u.tensor);
    else if (is_object_type(v->type))
        lf_object_release(v->u.object);
    memset(v, 0, sizeof *v);
}

/* Element sizes by enum lf_dtype, kept here so sizing needs no tensor.c. */
size_t lf_value_nbytes(const struct lf_value *v)
{
    if (v->type == LF_TYPE_STRING) return sizeof *v + (v->u.s ? strlen(v->u.s) + 1 : 0);
    if (is_tensor_type(v->type) && v->u.tensor) return sizeof *v + lf_tensor_nbytes(v->u.tensor);
    if (is_object_type(v->type) && v->u.object) return sizeof *v + (size_t)v->u.object->nbytes;
    return sizeof *v;
}
