/*
** value.c - copying, clearing and sizing struct lf_value (plugin.h).
*/
#include "lcmflow/value.h"
#include "lcmflow/tensor.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
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

/* ---- INT params ---- */

static bool is_unsigned(const struct lf_param_desc *d)
{
    return (d->flags & LF_PARAM_UNSIGNED) != 0;
}

/* A double bound of an ABI 1.0 range as 64-bit bits, saturating. */
static int64_t bound_from_double(const struct lf_param_desc *d, double v)
{
    if (is_unsigned(d)) {
        if (!(v > 0)) return 0;
        if (v >= 18446744073709551616.0) return -1; /* UINT64_MAX's bits */
        return (int64_t)(uint64_t)v;
    }
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v <= -9223372036854775808.0 || v != v) return INT64_MIN;
    return (int64_t)v;
}

void lf_param_int_bounds(const struct lf_param_desc *d, int64_t *min, int64_t *max)
{
    if (!(d->flags & LF_PARAM_HAS_RANGE)) {
        *min = is_unsigned(d) ? 0 : INT64_MIN;
        *max = is_unsigned(d) ? -1 : INT64_MAX;
    } else if (d->flags & LF_PARAM_INT_RANGE) {
        *min = d->min_int;
        *max = d->max_int;
    } else {
        *min = bound_from_double(d, d->min);
        *max = bound_from_double(d, d->max);
    }
}

bool lf_param_int_in_range(const struct lf_param_desc *d, int64_t v)
{
    int64_t lo, hi;
    lf_param_int_bounds(d, &lo, &hi);
    if (is_unsigned(d)) return (uint64_t)v >= (uint64_t)lo && (uint64_t)v <= (uint64_t)hi;
    return v >= lo && v <= hi;
}

bool lf_param_int_parse(const struct lf_param_desc *d, const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    if (is_unsigned(d)) {
        /* strtoull accepts "-1" as 2^64-1: refuse any sign. */
        if (!isdigit((unsigned char)text[0])) return false;
        unsigned long long v = strtoull(text, &end, 10);
        if (*end || errno) return false;
        *out = (int64_t)(uint64_t)v;
        return true;
    }
    long long v = strtoll(text, &end, 10);
    if (!text[0] || *end || errno) return false;
    *out = (int64_t)v;
    return true;
}

const char *lf_param_int_format(const struct lf_param_desc *d, int64_t v, char *buf, size_t size)
{
    if (is_unsigned(d))
        snprintf(buf, size, "%llu", (unsigned long long)(uint64_t)v);
    else
        snprintf(buf, size, "%lld", (long long)v);
    return buf;
}
