/*
** sd_objects.c - UNET, CLIP and VAE values (see sd_objects.h).
*/
#include "sd_objects.h"

#include <stdlib.h>
#include <string.h>

static const char UNET_KIND[] = "sd.unet";
static const char CLIP_KIND[] = "sd.clip";
static const char VAE_KIND[] = "sd.vae";

struct sd_vocab *sd_vocab_new(void)
{
    struct sd_vocab *v = calloc(1, sizeof *v);
    if (v) v->refcount = 1;
    return v;
}

struct sd_vocab *sd_vocab_retain(struct sd_vocab *vocab)
{
    if (vocab) vocab->refcount++;
    return vocab;
}

void sd_vocab_release(struct sd_vocab *vocab)
{
    if (!vocab || --vocab->refcount > 0) return;
    sd_tokenizer_free(vocab->tokenizer);
    free(vocab);
}

static void unet_destroy(struct lf_object *o)
{
    struct sd_unet_object *u = (struct sd_unet_object *)o;
    sd_unet_clear(&u->unet);
    free(u);
}

static void clip_destroy(struct lf_object *o)
{
    struct sd_clip_object *c = (struct sd_clip_object *)o;
    sd_clip_clear(&c->clip);
    sd_vocab_release(c->vocab);
    free(c->empty);
    free(c);
}

static void vae_destroy(struct lf_object *o)
{
    struct sd_vae_object *v = (struct sd_vae_object *)o;
    sd_vae_clear(&v->vae);
    sd_taesd_clear(&v->taesd);
    free(v);
}

static void object_init(struct lf_object *o, const char *kind, uint64_t nbytes,
                        void (*destroy)(struct lf_object *))
{
    o->refcount = 1;
    o->nbytes = nbytes;
    o->kind = kind;
    o->destroy = destroy;
}

struct lf_object *sd_unet_object_new(struct sd_unet *u, uint64_t nbytes)
{
    struct sd_unet_object *o = calloc(1, sizeof *o);
    if (!o) {
        sd_unet_clear(u);
        return NULL;
    }
    object_init(&o->base, UNET_KIND, nbytes, unet_destroy);
    o->unet = *u;
    memset(u, 0, sizeof *u);
    return &o->base;
}

struct lf_object *sd_clip_object_new(struct sd_clip *c, struct sd_vocab *vocab, uint64_t nbytes)
{
    struct sd_clip_object *o = calloc(1, sizeof *o);
    if (!o) {
        sd_clip_clear(c);
        return NULL;
    }
    object_init(&o->base, CLIP_KIND, nbytes, clip_destroy);
    o->clip = *c;
    memset(c, 0, sizeof *c);
    o->vocab = sd_vocab_retain(vocab);
    return &o->base;
}

struct lf_object *sd_vae_object_new(struct sd_vae *v, uint64_t nbytes)
{
    struct sd_vae_object *o = calloc(1, sizeof *o);
    if (!o) {
        sd_vae_clear(v);
        return NULL;
    }
    object_init(&o->base, VAE_KIND, nbytes, vae_destroy);
    o->vae = *v;
    memset(v, 0, sizeof *v);
    return &o->base;
}

struct lf_object *sd_taesd_object_new(struct sd_taesd *t, uint64_t nbytes)
{
    struct sd_vae_object *o = calloc(1, sizeof *o);
    if (!o) {
        sd_taesd_clear(t);
        return NULL;
    }
    object_init(&o->base, VAE_KIND, nbytes, vae_destroy);
    o->is_taesd = true;
    o->taesd = *t;
    memset(t, 0, sizeof *t);
    return &o->base;
}

static struct lf_object *object_of(const struct lf_value *v, enum lf_value_type type,
                                   const char *kind)
{
    /* By content: each plugin links its own copy of these strings. */
    if (!v || v->type != type || !v->u.object || !v->u.object->kind ||
        strcmp(v->u.object->kind, kind) != 0)
        return NULL;
    return v->u.object;
}

struct sd_unet_object *sd_unet_object_of(const struct lf_value *v)
{
    return (struct sd_unet_object *)object_of(v, LF_TYPE_UNET, UNET_KIND);
}

struct sd_clip_object *sd_clip_object_of(const struct lf_value *v)
{
    return (struct sd_clip_object *)object_of(v, LF_TYPE_CLIP, CLIP_KIND);
}

struct sd_vae_object *sd_vae_object_of(const struct lf_value *v)
{
    return (struct sd_vae_object *)object_of(v, LF_TYPE_VAE, VAE_KIND);
}
