/*
** sd_arch_tensors.c - the tensors of an SD 1.5-structured single-file
** checkpoint (sd_arch_each): the module layout of sd_arch.c, each module
** expanded into its weights.  The same names sd_unet.c, sd_vae.c and
** sd_clip.c read back.
*/
#include "sd_arch_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct emitter {
    sd_arch_fn fn;
    void *user;
    const struct sd_arch *arch;
    const char *prefix;
};

static void emit(struct emitter *e, int is_norm, int64_t fan_in, int rank, const int64_t *shape,
                 const char *fmt, ...)
{
    struct sd_arch_tensor t;
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s%s", e->prefix, name);
    t.rank = rank;
    for (int i = 0; i < rank; i++)
        t.shape[i] = shape[i];
    t.fan_in = fan_in;
    t.is_norm = is_norm;
    e->fn(&t, e->user);
}

static void conv(struct emitter *e, const char *p, const char *name, int64_t cin, int64_t cout,
                 int k)
{
    int64_t w[4] = {cout, cin, k, k}, b[1] = {cout};
    emit(e, 0, cin * k * k, 4, w, "%s%s.weight", p, name);
    emit(e, 0, cin * k * k, 1, b, "%s%s.bias", p, name);
}

static void linear(struct emitter *e, const char *p, const char *name, int64_t in, int64_t out,
                   int bias)
{
    int64_t w[2] = {out, in}, b[1] = {out};
    emit(e, 0, in, 2, w, "%s%s.weight", p, name);
    if (bias) emit(e, 0, in, 1, b, "%s%s.bias", p, name);
}

static void norm(struct emitter *e, const char *p, const char *name, int64_t c)
{
    int64_t s[1] = {c};
    emit(e, 1, 0, 1, s, "%s%s.weight", p, name);
    emit(e, 2, 0, 1, s, "%s%s.bias", p, name);
}

static void unet_res(struct emitter *e, const char *p, int cin, int cout)
{
    norm(e, p, ".in_layers.0", cin);
    conv(e, p, ".in_layers.2", cin, cout, 3);
    linear(e, p, ".emb_layers.1", e->arch->unet.time_embed_dim, cout, 1);
    norm(e, p, ".out_layers.0", cout);
    conv(e, p, ".out_layers.3", cout, cout, 3);
    if (cin != cout) conv(e, p, ".skip_connection", cin, cout, 1);
}

static void unet_transformer(struct emitter *e, const char *p, int c)
{
    int ctx = e->arch->unet.context_dim;
    char b[160];
    norm(e, p, ".norm", c);
    conv(e, p, ".proj_in", c, c, 1);
    for (int d = 0; d < e->arch->unet.transformer_depth; d++) {
        snprintf(b, sizeof b, "%s.transformer_blocks.%d", p, d);
        norm(e, b, ".norm1", c);
        linear(e, b, ".attn1.to_q", c, c, 0);
        linear(e, b, ".attn1.to_k", c, c, 0);
        linear(e, b, ".attn1.to_v", c, c, 0);
        linear(e, b, ".attn1.to_out.0", c, c, 1);
        norm(e, b, ".norm2", c);
        linear(e, b, ".attn2.to_q", c, c, 0);
        linear(e, b, ".attn2.to_k", ctx, c, 0);
        linear(e, b, ".attn2.to_v", ctx, c, 0);
        linear(e, b, ".attn2.to_out.0", c, c, 1);
        norm(e, b, ".norm3", c);
        linear(e, b, ".ff.net.0.proj", c, 8 * c, 1);
        linear(e, b, ".ff.net.2", 4 * c, c, 1);
    }
    conv(e, p, ".proj_out", c, c, 1);
}

static void vae_res(struct emitter *e, const char *p, int cin, int cout)
{
    norm(e, p, ".norm1", cin);
    conv(e, p, ".conv1", cin, cout, 3);
    norm(e, p, ".norm2", cout);
    conv(e, p, ".conv2", cout, cout, 3);
    if (cin != cout) conv(e, p, ".nin_shortcut", cin, cout, 1);
}

static void vae_attention(struct emitter *e, const char *p, int c)
{
    norm(e, p, ".norm", c);
    conv(e, p, ".q", c, c, 1);
    conv(e, p, ".k", c, c, 1);
    conv(e, p, ".v", c, c, 1);
    conv(e, p, ".proj_out", c, c, 1);
}

static void module(const struct sd_module *m, void *user)
{
    struct emitter *e = user;
    switch (m->kind) {
    case SD_MODULE_LINEAR:
        linear(e, m->ldm, "", m->cin, m->cout, 1);
        break;
    case SD_MODULE_NORM:
        norm(e, m->ldm, "", m->cin);
        break;
    case SD_MODULE_CONV:
    case SD_MODULE_DOWNSAMPLE:
    case SD_MODULE_UPSAMPLE:
        conv(e, m->ldm, "", m->cin, m->cout, m->kernel);
        break;
    case SD_MODULE_RES:
        unet_res(e, m->ldm, m->cin, m->cout);
        break;
    case SD_MODULE_TRANSFORMER:
        unet_transformer(e, m->ldm, m->cin);
        break;
    case SD_MODULE_VAE_RES:
        vae_res(e, m->ldm, m->cin, m->cout);
        break;
    case SD_MODULE_VAE_ATTENTION:
        vae_attention(e, m->ldm, m->cin);
        break;
    }
}

static void clip(struct emitter *e, const struct sd_arch_text *a)
{
    int h = a->hidden;
    char p[128];
    int64_t tok[2] = {a->vocab, h}, pos[2] = {a->positions, h};
    emit(e, 0, h, 2, tok, "text_model.embeddings.token_embedding.weight");
    emit(e, 0, h, 2, pos, "text_model.embeddings.position_embedding.weight");
    for (int l = 0; l < a->layers; l++) {
        snprintf(p, sizeof p, "text_model.encoder.layers.%d", l);
        norm(e, p, ".layer_norm1", h);
        linear(e, p, ".self_attn.q_proj", h, h, 1);
        linear(e, p, ".self_attn.k_proj", h, h, 1);
        linear(e, p, ".self_attn.v_proj", h, h, 1);
        linear(e, p, ".self_attn.out_proj", h, h, 1);
        norm(e, p, ".layer_norm2", h);
        linear(e, p, ".mlp.fc1", h, a->mlp, 1);
        linear(e, p, ".mlp.fc2", a->mlp, h, 1);
    }
    norm(e, "text_model", ".final_layer_norm", h);
}

static void each_component(struct emitter *e, enum sd_component c)
{
    if (c == SD_COMPONENT_UNET)
        sd_arch_unet_modules(&e->arch->unet, module, e);
    else if (c == SD_COMPONENT_VAE)
        sd_arch_vae_modules(&e->arch->vae, module, e);
    else
        clip(e, &e->arch->text);
}

void sd_arch_each(const struct sd_arch *arch, sd_arch_fn fn, void *user)
{
    static const char *const prefixes[SD_COMPONENT_COUNT] = {
        [SD_COMPONENT_UNET] = SD_LDM_UNET_PREFIX,
        [SD_COMPONENT_VAE] = SD_LDM_VAE_PREFIX,
        [SD_COMPONENT_TEXT] = SD_LDM_CLIP_PREFIX,
    };
    struct emitter e = {.fn = fn, .user = user, .arch = arch};
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        e.prefix = prefixes[c];
        each_component(&e, (enum sd_component)c);
    }
}

void sd_arch_each_component(const struct sd_arch *arch, enum sd_component c, sd_arch_fn fn,
                            void *user)
{
    struct emitter e = {.fn = fn, .user = user, .arch = arch, .prefix = ""};
    each_component(&e, c);
}
