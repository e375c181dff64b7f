/*
** sd_lora.c - reading a LoRA file: tensor keys grouped into modules
** (down, up, alpha), checked, and uploaded to the device.
*/
#include "sd_lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every key spelling LoraLoader reads, longest first where one ends
** another.  `lcmflow info` goes by the same table (sd_info.c). */
const struct sd_lora_spelling sd_lora_spellings[] = {
    {".lora_down.weight", SD_LORA_ROLE_DOWN, SD_LORA_FORMAT_KOHYA, false},
    {".lora_up.weight", SD_LORA_ROLE_UP, SD_LORA_FORMAT_KOHYA, false},
    {".lora_A.default.weight", SD_LORA_ROLE_DOWN, SD_LORA_FORMAT_PEFT, false},
    {".lora_B.default.weight", SD_LORA_ROLE_UP, SD_LORA_FORMAT_PEFT, false},
    {".lora_A.weight", SD_LORA_ROLE_DOWN, SD_LORA_FORMAT_PEFT, false},
    {".lora_B.weight", SD_LORA_ROLE_UP, SD_LORA_FORMAT_PEFT, false},
    {".lora.down.weight", SD_LORA_ROLE_DOWN, SD_LORA_FORMAT_DIFFUSERS, false},
    {".lora.up.weight", SD_LORA_ROLE_UP, SD_LORA_FORMAT_DIFFUSERS, false},
    {"_lora.down.weight", SD_LORA_ROLE_DOWN, SD_LORA_FORMAT_DIFFUSERS, true},
    {"_lora.up.weight", SD_LORA_ROLE_UP, SD_LORA_FORMAT_DIFFUSERS, true},
    {".alpha", SD_LORA_ROLE_ALPHA, SD_LORA_FORMAT_MIXED /* says nothing about the format */, false},
};
const size_t sd_lora_spelling_count = sizeof sd_lora_spellings / sizeof *sd_lora_spellings;

static bool ends_with(const char *s, size_t n, const char *suffix, size_t m)
{
    return n >= m && !memcmp(s + n - m, suffix, m);
}

const struct sd_lora_spelling *sd_lora_key_spelling(const char *key, size_t *module_len)
{
    size_t len = strlen(key);
    for (size_t k = 0; k < sd_lora_spelling_count; k++) {
        size_t m = strlen(sd_lora_spellings[k].suffix);
        if (len > m && ends_with(key, len, sd_lora_spellings[k].suffix, m)) {
            *module_len = len - m;
            return &sd_lora_spellings[k];
        }
    }
    return NULL;
}

enum sd_lora_part sd_lora_module_part(const char *module, const char **rest)
{
    static const struct {
        const char *prefix;
        enum sd_lora_part part;
    } prefixes[] = {
        {"lora_unet_", SD_LORA_PART_UNET},
        {"lora_te_", SD_LORA_PART_CLIP},
        {"unet.", SD_LORA_PART_UNET},
        {"text_encoder.", SD_LORA_PART_CLIP},
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i].prefix);
        if (!strncmp(module, prefixes[i].prefix, n)) {
            if (rest) *rest = module + n;
            return prefixes[i].part;
        }
    }
    if (rest) *rest = module;
    return SD_LORA_PART_UNKNOWN;
}

const char *sd_lora_format_name(enum sd_lora_format format)
{
    switch (format) {
    case SD_LORA_FORMAT_KOHYA:
        return "kohya";
    case SD_LORA_FORMAT_PEFT:
        return "peft";
    case SD_LORA_FORMAT_DIFFUSERS:
        return "diffusers";
    case SD_LORA_FORMAT_MIXED:
        return "mixed";
    }
    return "?";
}

/* One LoRA tensor of the file, before grouping. */
struct piece {
    char *module; /* the key without its role suffix, processor names fixed */
    enum sd_lora_role role;
    enum sd_lora_format format;
    const struct lf_safetensors_tensor *t;
};

/* "unet.<...>.attn1.processor.to_q" -> "unet.<...>.attn1.to_q";
** "...processor.to_out" -> "...to_out.0" (the Linear inside to_out). */
static char *processor_module(const char *key, size_t len)
{
    char *m = malloc(len + 3);
    if (!m) return NULL;
    memcpy(m, key, len);
    m[len] = '\0';
    char *p = strstr(m, ".processor.");
    if (p) memmove(p, p + 10, strlen(p + 10) + 1);
    size_t n = strlen(m);
    if (ends_with(m, n, ".to_out", 7)) strcat(m, ".0");
    return m;
}

static int piece_cmp(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    int c = strcmp(x->module, y->module);
    return c ? c : (int)x->role - (int)y->role;
}

/* Splits the module name into part and '_' lookup form. */
static enum lf_status classify(struct sd_lora_module *m, struct lf_error *err)
{
    const char *rest;
    m->part = sd_lora_module_part(m->name, &rest);
    m->flat = strdup(rest);
    if (!m->flat) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (char *c = m->flat; *c; c++)
        if (*c == '.') *c = '_';
    return LF_OK;
}

static void shape_text(int rank, const int64_t *shape, char *buf, size_t size)
{
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < rank && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "]");
}

static bool float_dtype(const struct lf_safetensors_tensor *t)
{
    return t->st_dtype == LF_ST_DTYPE_F16 || t->st_dtype == LF_ST_DTYPE_F32 ||
           t->st_dtype == LF_ST_DTYPE_BF16;
}

/* Shapes: down [r, in] or [r, C, kh, kw]; up [out, r] or [out, r, 1, 1]. */
static enum lf_status check_module(const struct lf_safetensors *st, struct sd_lora_module *m,
                                   const struct lf_safetensors_tensor *down,
                                   const struct lf_safetensors_tensor *up,
                                   const struct lf_safetensors_tensor *alpha, struct lf_error *err)
{
    const char *path = lf_safetensors_path(st);
    char sd[96], su[96];
    if (!down || !up)
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                               "LoRA module '%s' has %s but no %s weight", m->name,
                               down ? "a down weight"
                               : up ? "an up weight"
                                    : "only an alpha",
                               down ? "up" : "down");
    const struct lf_safetensors_tensor *both[2] = {down, up};
    for (int i = 0; i < 2; i++) {
        const struct lf_safetensors_tensor *t = both[i];
        if (!float_dtype(t))
            return lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0,
                                   "LoRA tensor '%s' has dtype %s (F16, BF16 or F32 expected)",
                                   t->name, lf_st_dtype_name(t->st_dtype));
        if ((t->rank != 2 && t->rank != 4) || t->numel == 0)
            return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                   "LoRA tensor '%s' has %d dimensions (2 or 4 expected)", t->name,
                                   t->rank);
    }
    shape_text(down->rank, down->shape, sd, sizeof sd);
    shape_text(up->rank, up->shape, su, sizeof su);
    if (up->rank == 4 && (up->shape[2] != 1 || up->shape[3] != 1))
        return lf_error_set_at(err, LF_ERR_UNSUPPORTED, path, 0, 0,
                               "LoRA tensor '%s' is %s: only 1x1 up convolutions are supported",
                               up->name, su);
    if (up->shape[1] != down->shape[0])
        return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                               "rank mismatch in LoRA module '%s': '%s' is %s (rank %lld) but "
                               "'%s' is %s (rank %lld)",
                               m->name, down->name, sd, (long long)down->shape[0], up->name, su,
                               (long long)up->shape[1]);
    m->rank = down->shape[0];
    m->down_rank = down->rank;
    m->up_rank = up->rank;
    memcpy(m->down_shape, down->shape, (size_t)down->rank * sizeof *down->shape);
    memcpy(m->up_shape, up->shape, (size_t)up->rank * sizeof *up->shape);
    m->alpha = (float)m->rank;
    if (alpha) {
        float value;
        if (alpha->numel != 1 || !float_dtype(alpha) ||
            lf_safetensors_tensor_to_f32(st, alpha, &value, 1, NULL) != LF_OK || !isfinite(value))
            return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                   "LoRA tensor '%s' is not one finite float", alpha->name);
        m->alpha = value;
        m->has_alpha = true;
    }
    return LF_OK;
}

/* Reads a file tensor into a new f32 device tensor of its own shape. */
static enum lf_status upload(struct lf_device *device, const struct lf_safetensors *st,
                             const struct lf_safetensors_tensor *t, struct lf_tensor **out,
                             struct lf_error *err)
{
    enum lf_status s = lf_tensor_create(device, LF_DTYPE_F32, t->rank, t->shape, out, err);
    if (!s && (s = lf_safetensors_tensor_upload(st, t, *out, err))) {
        lf_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

static enum lf_status add_ignored(struct sd_lora *lora, const char *key, struct lf_error *err)
{
    char **list = realloc(lora->ignored, (lora->ignored_count + 1) * sizeof *list);
    if (!list) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    lora->ignored = list;
    if (!(list[lora->ignored_count] = strdup(key)))
        return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    lora->ignored_count++;
    return LF_OK;
}

/* Sorts the file's LoRA tensors into pieces; others go to lora->ignored. */
static enum lf_status collect(const struct lf_safetensors *st, struct sd_lora *lora,
                              struct piece **out, size_t *count, struct lf_error *err)
{
    size_t n = lf_safetensors_count(st), used = 0;
    struct piece *pieces = calloc(n ? n : 1, sizeof *pieces);
    if (!pieces) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    enum lf_status s = LF_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        size_t mlen;
        const struct sd_lora_spelling *sp = sd_lora_key_spelling(t->name, &mlen);
        if (!sp) {
            s = add_ignored(lora, t->name, err);
            continue;
        }
        struct piece *p = &pieces[used];
        p->role = sp->role;
        p->format = sp->format;
        p->t = t;
        if (sp->processor) {
            p->module = processor_module(t->name, mlen);
        } else if ((p->module = malloc(mlen + 1))) {
            memcpy(p->module, t->name, mlen);
            p->module[mlen] = '\0';
        }
        if (!p->module) s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        used++;
    }
    qsort(pieces, used, sizeof *pieces, piece_cmp);
    *out = pieces;
    *count = used;
    return s;
}

/* Builds the modules from consecutive pieces of the same module name. */
static enum lf_status group(struct lf_device *device, const struct lf_safetensors *st,
                            struct sd_lora *lora, const struct piece *pieces, size_t count,
                            struct lf_error *err)
{
    const char *path = lf_safetensors_path(st);
    lora->modules = calloc(count ? count : 1, sizeof *lora->modules);
    if (!lora->modules) return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    bool seen[SD_LORA_FORMAT_MIXED] = {false};
    for (size_t i = 0; i < count;) {
        size_t j = i;
        const struct lf_safetensors_tensor *role[3] = {NULL, NULL, NULL};
        enum sd_lora_format format = SD_LORA_FORMAT_KOHYA;
        for (; j < count && !strcmp(pieces[j].module, pieces[i].module); j++) {
            if (role[pieces[j].role])
                return lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                                       "LoRA module '%s' has two %s tensors ('%s' and '%s')",
                                       pieces[i].module,
                                       pieces[j].role == SD_LORA_ROLE_ALPHA  ? "alpha"
                                       : pieces[j].role == SD_LORA_ROLE_DOWN ? "down"
                                                                             : "up",
                                       role[pieces[j].role]->name, pieces[j].t->name);
            role[pieces[j].role] = pieces[j].t;
            if (pieces[j].role != SD_LORA_ROLE_ALPHA) format = pieces[j].format;
        }
        struct sd_lora_module *m = &lora->modules[lora->count++];
        m->format = format;
        if (!(m->name = strdup(pieces[i].module)))
            return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        enum lf_status s = classify(m, err);
        if (!s)
            s = check_module(st, m, role[SD_LORA_ROLE_DOWN], role[SD_LORA_ROLE_UP],
                             role[SD_LORA_ROLE_ALPHA], err);
        if (!s && !(m->down_key = strdup(role[SD_LORA_ROLE_DOWN]->name)))
            s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
        if (!s && device) s = upload(device, st, role[SD_LORA_ROLE_DOWN], &m->down, err);
        if (!s && device) s = upload(device, st, role[SD_LORA_ROLE_UP], &m->up, err);
        if (s) return s;
        seen[format] = true;
        lora->params += role[SD_LORA_ROLE_DOWN]->numel + role[SD_LORA_ROLE_UP]->numel;
        if (lora->count == 1 || m->rank < lora->min_rank) lora->min_rank = m->rank;
        if (m->rank > lora->max_rank) lora->max_rank = m->rank;
        i = j;
    }
    int kinds = 0;
    for (int f = 0; f < SD_LORA_FORMAT_MIXED; f++)
        if (seen[f]) {
            kinds++;
            lora->format = (enum sd_lora_format)f;
        }
    if (kinds > 1) lora->format = SD_LORA_FORMAT_MIXED;
    return LF_OK;
}

enum lf_status sd_lora_read(struct lf_device *device, const struct lf_safetensors *st,
                            struct sd_lora **out, struct lf_error *err)
{
    const char *path = lf_safetensors_path(st);
    *out = NULL;
    enum lf_status s;
    struct sd_lora *lora = calloc(1, sizeof *lora);
    struct piece *pieces = NULL;
    size_t count = 0;
    if (!lora || !(lora->path = strdup(path))) {
        s = lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
    } else {
        lora->refcount = 1;
        s = collect(st, lora, &pieces, &count, err);
    }
    if (!s && count == 0)
        s = lf_error_set_at(err, LF_ERR_FORMAT, path, 0, 0,
                            "not a LoRA file: none of its %zu tensors is a LoRA weight "
                            "(*.lora_down.weight / *.lora_up.weight, *.lora_A.weight / "
                            "*.lora_B.weight or *.lora.down.weight / *.lora.up.weight)",
                            lf_safetensors_count(st));
    if (!s) s = group(device, st, lora, pieces, count, err);
    for (size_t i = 0; i < count; i++)
        free(pieces[i].module);
    free(pieces);
    if (s) {
        sd_lora_release(lora);
        return s;
    }
    *out = lora;
    return LF_OK;
}

enum lf_status sd_lora_load(struct lf_device *device, const char *path, struct sd_lora **out,
                            struct lf_error *err)
{
    struct lf_safetensors *st;
    *out = NULL;
    enum lf_status s = lf_safetensors_open(path, &st, err);
    if (s) return s;
    s = sd_lora_read(device, st, out, err);
    lf_safetensors_close(st);
    return s;
}

struct sd_lora *sd_lora_retain(struct sd_lora *lora)
{
    if (lora) lora->refcount++;
    return lora;
}

void sd_lora_release(struct sd_lora *lora)
{
    if (!lora || --lora->refcount > 0) return;
    for (size_t i = 0; i < lora->count; i++) {
        struct sd_lora_module *m = &lora->modules[i];
        free(m->name);
        free(m->flat);
        free(m->down_key);
        lf_tensor_release(m->up);
        lf_tensor_release(m->down);
    }
    for (size_t i = 0; i < lora->ignored_count; i++)
        free(lora->ignored[i]);
    free(lora->ignored);
    free(lora->modules);
    free(lora->path);
    free(lora);
}
