/*
** test_sd_arch.c - the synthetic-checkpoint architecture lists exactly the
** tensors (names and shapes) of a real SD 1.5 checkpoint: checked against
** the tiny-sd15 fixture, whose key set is SD 1.5's, and the sd15 preset's
** parameter count against SD 1.5's published 1.07 billion.
*/
#include "lcmflow/safetensors.h"
#include "sd_arch.h"
#include "sd_names.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct walk {
    struct lf_safetensors *st;
    int count, missing, wrong_shape;
    int64_t params;
};

static void visit(const struct sd_arch_tensor *t, void *user)
{
    struct walk *w = user;
    w->count++;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    w->params += n;
    if (!w->st) return;
    const struct lf_safetensors_tensor *f = lf_safetensors_find(w->st, t->name);
    if (!f) {
        printf("  not in the fixture: %s\n", t->name);
        w->missing++;
        return;
    }
    bool same = f->rank == t->rank;
    for (int i = 0; same && i < t->rank; i++)
        same = f->shape[i] == t->shape[i];
    if (!same) {
        printf("  shape differs: %s\n", t->name);
        w->wrong_shape++;
    }
}

static void tiny_matches_fixture_keys(void **state)
{
    const char *dir = getenv("LCMFLOW_FIXTURES");
    char path[600];
    snprintf(path, sizeof path, "%s/tiny-sd15/model.safetensors", dir ? dir : "../shared/fixtures");
    struct lf_error err = {0};
    struct walk w = {0};
    if (lf_safetensors_open(path, &w.st, &err) != LF_OK) {
        printf("fixture absent (%s): skipped\n", err.message);
        skip();
    }
    struct sd_arch arch = sd_arch_tiny;
    arch.text.vocab = 49408; /* the fixture carries the real vocabulary's size */
    sd_arch_each(&arch, visit, &w);
    assert_int_equal(w.missing, 0);
    assert_int_equal(w.wrong_shape, 0);
    assert_int_equal(w.count, (int)lf_safetensors_count(w.st));
    lf_safetensors_close(w.st);
}

static void sd15_has_the_published_size(void **state)
{
    struct walk w = {0};
    sd_arch_each(&sd_arch_sd15, visit, &w);
    printf("  sd15 preset: %d tensors, %lld parameters\n", w.count, (long long)w.params);
    assert_int_equal(w.count, 1130); /* the fixture's 1002 plus 8 more text layers of 16 */
    assert_true(w.params > 1060000000 && w.params < 1070000000);
}

/* ---- reading back what sd_arch_each writes ---- */

#define MAX_TENSORS 4096

/* The tensor list of an arch, as a lookup for sd_arch_read_*. */
struct list {
    struct sd_arch_tensor t[MAX_TENSORS];
    int count;
    const char *prefix; /* the component looked at */
};

static void collect(const struct sd_arch_tensor *t, void *user)
{
    struct list *l = user;
    assert_true(l->count < MAX_TENSORS);
    l->t[l->count++] = *t;
}

static bool lookup(const char *name, int *rank, int64_t shape[4], void *user)
{
    const struct list *l = user;
    char full[200];
    snprintf(full, sizeof full, "%s%s", l->prefix, name);
    for (int i = 0; i < l->count; i++)
        if (!strcmp(l->t[i].name, full)) {
            *rank = l->t[i].rank;
            memcpy(shape, l->t[i].shape, sizeof l->t[i].shape);
            return true;
        }
    return false;
}

/* A layout SD 1.5 does not have: 3 levels, 1 res block down and 2 up,
** attention on the two deeper levels only, depth 2. */
static struct sd_arch other_layout(void)
{
    struct sd_arch a = sd_arch_tiny;
    a.unet.levels = 3;
    a.unet.attention[0] = false, a.unet.attention[1] = true, a.unet.attention[2] = true;
    a.unet.attention[3] = false;
    a.unet.down_res = 1, a.unet.up_res = 2;
    a.unet.transformer_depth = 2;
    a.unet.widths[3] = 0;
    a.vae.levels = 3, a.vae.encoder_res = 1, a.vae.decoder_res = 2;
    a.vae.encoder_widths[3] = a.vae.decoder_widths[3] = 0;
    return a;
}

/* The reader recovers every field of the arch the tensors were written from
** (SD 1.5, the tiny model and another layout). */
static void read_back(const struct sd_arch *want)
{
    static struct list l;
    struct sd_arch got;
    l.count = 0;
    sd_arch_each(want, collect, &l);
    l.prefix = SD_LDM_UNET_PREFIX;
    sd_arch_read_unet(lookup, &l, &got.unet);
    l.prefix = SD_LDM_VAE_PREFIX;
    sd_arch_read_vae(lookup, &l, &got.vae);
    l.prefix = SD_LDM_CLIP_PREFIX;
    sd_arch_read_text(lookup, &l, 0, &got.text);
    assert_memory_equal(&got.unet, &want->unet, sizeof got.unet);
    assert_memory_equal(&got.vae, &want->vae, sizeof got.vae);
    assert_memory_equal(&got.text, &want->text, sizeof got.text);
}

static void reader_inverts_writer(void **state)
{
    read_back(&sd_arch_sd15);
    read_back(&sd_arch_tiny);
    struct sd_arch other = other_layout();
    read_back(&other);
    assert_int_equal(sd_arch_unet_transformers(&sd_arch_sd15.unet), 16);
    assert_int_equal(sd_arch_unet_transformers(&other.unet), 2 * (1 + 2) + 1);
}

/* The name table of a layout maps each of its UNet and VAE weights to a
** diffusers name and back, and the diffusers names describe the same
** layout (what the loader reads a diffusers folder by). */
static void names_follow_the_layout(void **state)
{
    static struct list l, diff;
    struct sd_arch a = other_layout();
    struct lf_error err = {0};
    struct sd_names unet, vae;
    l.count = diff.count = 0;
    sd_arch_each(&a, collect, &l);
    assert_int_equal(sd_names_unet(&a.unet, &unet, &err), LF_OK);
    assert_int_equal(sd_names_vae(&a.vae, &vae, &err), LF_OK);
    int mapped = 0;
    for (int i = 0; i < l.count; i++) {
        const char *name = l.t[i].name;
        const struct sd_names *t = NULL;
        size_t plen = 0;
        if (!strncmp(name, SD_LDM_UNET_PREFIX, strlen(SD_LDM_UNET_PREFIX)))
            t = &unet, plen = strlen(SD_LDM_UNET_PREFIX);
        else if (!strncmp(name, SD_LDM_VAE_PREFIX, strlen(SD_LDM_VAE_PREFIX)))
            t = &vae, plen = strlen(SD_LDM_VAE_PREFIX);
        if (!t) continue;
        char d[256], back[256];
        if (!sd_names_to_diffusers(t, name + plen, d)) fail_msg("%s: no diffusers name", name);
        assert_true(sd_names_to_ldm(t, d, back));
        assert_string_equal(back, name + plen);
        if (t == &unet) {
            diff.t[diff.count] = l.t[i];
            snprintf(diff.t[diff.count++].name, sizeof l.t[i].name, "%s", d);
        }
        mapped++;
    }
    assert_true(mapped > 100);
    /* output_blocks.1.2.conv: the upsampler after the deepest level's 2 res
    ** blocks, behind a transformer. */
    char out[256];
    assert_true(sd_names_to_diffusers(&unet, "output_blocks.1.2.conv.weight", out));
    assert_string_equal(out, "up_blocks.0.upsamplers.0.conv.weight");
    assert_true(sd_names_to_diffusers(&unet, "input_blocks.2.0.op.weight", out));
    assert_string_equal(out, "down_blocks.0.downsamplers.0.conv.weight");
    struct sd_arch_unet layout;
    diff.prefix = "";
    sd_arch_read_unet_layout_diffusers(lookup, &diff, &layout);
    assert_int_equal(layout.levels, 3);
    assert_int_equal(layout.down_res, 1);
    assert_int_equal(layout.up_res, 2);
    assert_false(layout.attention[0]);
    assert_true(layout.attention[1] && layout.attention[2]);
    sd_names_clear(&unet), sd_names_clear(&vae);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_matches_fixture_keys),
        cmocka_unit_test(sd15_has_the_published_size),
        cmocka_unit_test(reader_inverts_writer),
        cmocka_unit_test(names_follow_the_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
