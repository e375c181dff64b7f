/*
** sd_names.c - the LDM <-> diffusers name table (see sd_names.h).
*/
#include "sd_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Members renamed inside a module of a kind: {LDM, diffusers}.  strict:
** members not listed have no counterpart; otherwise they keep their name. */
struct members {
    enum sd_module_kind kind;
    bool strict;
    const char *const (*map)[2];
    size_t count;
};

static const char *const unet_res[][2] = {
    {"in_layers.0", "norm1"},          {"in_layers.2", "conv1"},
    {"out_layers.0", "norm2"},         {"out_layers.3", "conv2"},
    {"emb_layers.1", "time_emb_proj"}, {"skip_connection", "conv_shortcut"},
};
static const char *const vae_res[][2] = {{"nin_shortcut", "conv_shortcut"}};
static const char *const vae_attention[][2] = {
    {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"},
};

static const struct members member_tables[] = {
    {SD_MODULE_RES, true, unet_res, sizeof unet_res / sizeof *unet_res},
    {SD_MODULE_VAE_RES, false, vae_res, sizeof vae_res / sizeof *vae_res},
    {SD_MODULE_VAE_ATTENTION, true, vae_attention, sizeof vae_attention / sizeof *vae_attention},
};

struct builder {
    struct sd_names *t;
    size_t cap;
    bool oom;
};

static void add_module(const struct sd_module *m, void *user)
{
    struct builder *b = user;
    if (b->oom) return;
    if (b->t->count == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct sd_name_pair *p = realloc(b->t->pairs, cap * sizeof *p);
        if (!p) {
            b->oom = true;
            return;
        }
        b->t->pairs = p;
        b->cap = cap;
    }
    struct sd_name_pair *p = &b->t->pairs[b->t->count++];
    p->kind = m->kind;
    memcpy(p->ldm, m->ldm, sizeof p->ldm);
    memcpy(p->diffusers, m->diffusers, sizeof p->diffusers);
}

static enum lf_status finish(struct builder *b, struct lf_error *err)
{
    if (!b->oom) return LF_OK;
    sd_names_clear(b->t);
    return lf_error_set(err, LF_ERR_OUT_OF_MEMORY, "out of host memory");
}

enum lf_status sd_names_unet(const struct sd_arch_unet *layout, struct sd_names *out,
                             struct lf_error *err)
{
    struct builder b = {.t = out};
    memset(out, 0, sizeof *out);
    sd_arch_unet_modules(layout, add_module, &b);
    return finish(&b, err);
}

enum lf_status sd_names_vae(const struct sd_arch_vae *layout, struct sd_names *out,
                            struct lf_error *err)
{
    struct builder b = {.t = out};
    memset(out, 0, sizeof *out);
    sd_arch_vae_modules(layout, add_module, &b);
    return finish(&b, err);
}

enum lf_status sd_names_of_diffusers_file(const struct lf_safetensors *st, bool unet,
                                          struct sd_names *out, struct lf_error *err)
{
    struct sd_file_view raw = {.st = st, .prefix = ""};
    struct sd_arch arch;
    if (unet) {
        sd_arch_read_unet_layout_diffusers(sd_file_view_lookup, &raw, &arch.unet);
        return sd_names_unet(&arch.unet, out, err);
    }
    sd_arch_read_vae_layout_diffusers(sd_file_view_lookup, &raw, &arch.vae);
    return sd_names_vae(&arch.vae, out, err);
}

void sd_names_clear(struct sd_names *t)
{
    free(t->pairs);
    memset(t, 0, sizeof *t);
}

/* "<prefix>" or "<prefix>.<rest>": the rest (or "" for the prefix itself). */
static const char *after(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return NULL;
    if (name[n] == '\0') return name + n;
    return name[n] == '.' ? name + n + 1 : NULL;
}

/* Renames the member rest of a module of kind from column `from` to column
** 1 - from; false when a strict table does not list it. */
static bool rename_member(enum sd_module_kind kind, const char *rest, int from, char *out,
                          size_t size)
{
    for (size_t i = 0; i < sizeof member_tables / sizeof *member_tables; i++) {
        const struct members *m = &member_tables[i];
        if (m->kind != kind) continue;
        for (size_t k = 0; k < m->count; k++) {
            const char *tail = after(rest, m->map[k][from]);
            if (tail && *tail) {
                snprintf(out, size, "%s.%s", m->map[k][1 - from], tail);
                return true;
            }
        }
        if (m->strict) return false;
    }
    snprintf(out, size, "%s", rest);
    return true;
}

/* from 0: LDM -> diffusers; 1: diffusers -> LDM.  The longest module path
** that prefixes name wins. */
static bool translate(const struct sd_names *t, const char *name, int from, char *out)
{
    const struct sd_name_pair *best = NULL;
    const char *rest = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < t->count; i++) {
        const char *module = from ? t->pairs[i].diffusers : t->pairs[i].ldm;
        size_t n = strlen(module);
        const char *r = after(name, module);
        if (r && n > best_len) best = &t->pairs[i], best_len = n, rest = r;
    }
    if (!best) return false;
    const char *to = from ? best->ldm : best->diffusers;
    if (!*rest) return snprintf(out, 256, "%s", to) < 256;
    char member[200];
    if (!rename_member(best->kind, rest, from, member, sizeof member)) return false;
    return snprintf(out, 256, "%s.%s", to, member) < 256;
}

bool sd_names_to_ldm(const struct sd_names *t, const char *diffusers, char *out)
{
    return translate(t, diffusers, 1, out);
}

bool sd_names_to_diffusers(const struct sd_names *t, const char *ldm, char *out)
{
    return translate(t, ldm, 0, out);
}

bool sd_file_view_name(const struct sd_file_view *v, const char *name, char *out, size_t size)
{
    char mapped[256];
    if (v->names) {
        if (!sd_names_to_diffusers(v->names, name, mapped)) return false;
        name = mapped;
    }
    int n = snprintf(out, size, "%s%s", v->names || !v->prefix ? "" : v->prefix, name);
    return n >= 0 && (size_t)n < size;
}

const struct lf_safetensors_tensor *sd_file_view_find(const struct sd_file_view *v,
                                                      const char *name)
{
    char full[400];
    return sd_file_view_name(v, name, full, sizeof full) ? lf_safetensors_find(v->st, full) : NULL;
}

bool sd_file_view_lookup(const char *name, int *rank, int64_t shape[4], void *user)
{
    const struct lf_safetensors_tensor *t = sd_file_view_find(user, name);
    if (!t || t->rank > 4) return false;
    *rank = t->rank;
    memcpy(shape, t->shape, (size_t)t->rank * sizeof *shape);
    return true;
}

enum sd_naming sd_names_unet_naming(const char *path)
{
    static const struct {
        const char *block;
        enum sd_naming naming;
    } tops[] = {
        {"input_blocks", SD_NAMING_LDM},    {"middle_block", SD_NAMING_LDM},
        {"output_blocks", SD_NAMING_LDM},   {"down_blocks", SD_NAMING_DIFFUSERS},
        {"mid_block", SD_NAMING_DIFFUSERS}, {"up_blocks", SD_NAMING_DIFFUSERS},
    };
    for (size_t i = 0; i < sizeof tops / sizeof *tops; i++) {
        size_t n = strlen(tops[i].block);
        if (!strncmp(path, tops[i].block, n) && (path[n] == '.' || path[n] == '_'))
            return tops[i].naming;
    }
    return SD_NAMING_OTHER;
}
