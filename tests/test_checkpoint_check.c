/*
** test_checkpoint_check.c - a checkpoint is loaded only when every tensor
** its architecture needs is there with the expected shape and a float dtype
** (sd_arch_check.h), and the vocabulary fits the text encoder (issue 13).
**
** Each case breaks one tensor of a synthesized tiny checkpoint and expects
** an error naming that tensor and what was expected.  Before the check a
** missing bias loaded and ran (a different image), a wrong dtype was
** reported as missing, a permuted conv_in was blamed on the latent and a
** missing GroupNorm weight read as "1 input blocks but 12 output blocks".
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ckpt_edit.h"
#include "op_test.h"
#include "sd_arch_check.h"
#include "test_util.h"
#include "sd_checkpoint.h"
#include "sd_clip.h"
#include "sd_synth.h"
#include "sd_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/lcmflow-ckcheck-XXXXXX";
static char base[256], broken[256];

static int setup(void **state)
{
    (void)state;
    struct lf_error err = {0};
    if (!mkdtemp(dir)) return -1;
    snprintf(base, sizeof base, "%s/tiny.safetensors", dir);
    snprintf(broken, sizeof broken, "%s/broken.safetensors", dir);
    if (sd_synth_checkpoint(&sd_arch_tiny, 7, LF_DTYPE_F16, base, NULL, &err) != LF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(base), remove(broken);
    rmdir(dir);
    return 0;
}

/* Loads base with one edit; expects LF_ERR_FORMAT whose message holds every
** string of want. */
static void expect_refused(struct ckpt_edit edit, const char *const *want)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    assert_int_equal(ckpt_edit_copy(base, broken, &edit, 1), 0);
    enum lf_status s = sd_checkpoint_load(op_test_device(), broken, LF_DTYPE_F32, &ck, &err);
    if (s == LF_OK) {
        sd_checkpoint_clear(&ck);
        fail_msg("%s (%d): loaded", edit.name, (int)edit.kind);
    }
    assert_int_equal(s, LF_ERR_FORMAT);
    assert_string_equal(err.path, broken);
    for (; *want; want++)
        if (!strstr(err.message, *want)) fail_msg("'%s' not in: %s", *want, err.message);
}

static void intact_loads(void **state)
{
    (void)state;
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    if (sd_checkpoint_load(op_test_device(), base, LF_DTYPE_F32, &ck, &err) != LF_OK)
        fail_msg("%s", err.message);
    assert_true(ck.arch.unet.found && ck.arch.vae.found && ck.arch.text.found);
    sd_checkpoint_clear(&ck);
}

static void missing_bias(void **state)
{
    (void)state;
    const char *vae[] = {"'first_stage_model.decoder.conv_out.bias' is missing", "VAE", "[3]",
                         NULL};
    expect_refused(
        (struct ckpt_edit){.name = "first_stage_model.decoder.conv_out.bias", .kind = CKPT_DROP},
        vae);
    const char *unet[] = {"'model.diffusion_model.out.2.bias' is missing", "UNet", "[4]", NULL};
    expect_refused(
        (struct ckpt_edit){.name = "model.diffusion_model.out.2.bias", .kind = CKPT_DROP}, unet);
    const char *text[] = {
        "'cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.bias' is "
        "missing",
        "text encoder", NULL};
    expect_refused(
        (struct ckpt_edit){.name = "cond_stage_model.transformer.text_model.encoder.layers.0."
                                   "self_attn.q_proj.bias",
                           .kind = CKPT_DROP},
        text);
}

static void missing_group_norm(void **state)
{
    (void)state;
    const char *want[] = {"'model.diffusion_model.output_blocks.3.0.in_layers.0.weight' is missing",
                          NULL};
    expect_refused(
        (struct ckpt_edit){.name = "model.diffusion_model.output_blocks.3.0.in_layers.0.weight",
                           .kind = CKPT_DROP},
        want);
}

static void wrong_dtype(void **state)
{
    (void)state;
    const char *want[] = {"'model.diffusion_model.out.2.weight' has dtype I16",
                          "needs F16, BF16 or F32", NULL};
    expect_refused((struct ckpt_edit){.name = "model.diffusion_model.out.2.weight",
                                      .kind = CKPT_DTYPE,
                                      .dtype = LF_ST_DTYPE_I16},
                   want);
}

static void permuted_conv_in(void **state)
{
    (void)state;
    /* [32, 4, 3, 3] stored as [4, 32, 3, 3]. */
    const char *want[] = {"'model.diffusion_model.input_blocks.0.0.weight' has shape "
                          "[4, 32, 3, 3]",
                          NULL};
    expect_refused(
        (struct ckpt_edit){
            "model.diffusion_model.input_blocks.0.0.weight", CKPT_SHAPE, 0, 4, {4, 32, 3, 3}},
        want);
    const char *bias[] = {"'first_stage_model.encoder.conv_in.bias' has shape [4, 8]", "needs [32]",
                          NULL};
    expect_refused((struct ckpt_edit){.name = "first_stage_model.encoder.conv_in.bias",
                                      .kind = CKPT_SHAPE,
                                      .rank = 2,
                                      .shape = {4, 8}},
                   bias);
}

/* `lcmflow info`'s audit: the intact file has no problem and nothing
** unexpected; a broken one lists the problem and the extra tensor. */
static void audit(void **state)
{
    (void)state;
    struct lf_safetensors *st;
    struct lf_error err = {0};
    struct sd_arch arch;
    struct sd_arch_audit a;
    struct sd_file_view view = {NULL, SD_LDM_UNET_PREFIX, NULL};
    assert_int_equal(lf_safetensors_open(base, &st, &err), LF_OK);
    view.st = st;
    sd_arch_read_unet(sd_file_view_lookup, &view, &arch.unet);
    sd_arch_audit_component(&arch, SD_COMPONENT_UNET, &view, &a);
    assert_true(a.expected > 600);
    assert_int_equal(a.missing + a.misshaped + a.wrong_dtype + a.unexpected, 0);
    lf_safetensors_close(st);

    struct ckpt_edit edits[] = {
        {.name = "model.diffusion_model.middle_block.1.norm.bias", .kind = CKPT_DROP},
        {.name = "model.diffusion_model.extra.weight",
         .kind = CKPT_ADD,
         .dtype = LF_ST_DTYPE_F16,
         .rank = 1,
         .shape = {3}},
    };
    assert_int_equal(ckpt_edit_copy(base, broken, edits, 2), 0);
    assert_int_equal(lf_safetensors_open(broken, &st, &err), LF_OK);
    view.st = st;
    sd_arch_read_unet(sd_file_view_lookup, &view, &arch.unet);
    sd_arch_audit_component(&arch, SD_COMPONENT_UNET, &view, &a);
    assert_int_equal(a.missing, 1);
    assert_int_equal(a.unexpected, 1);
    assert_int_equal(a.problem_count, 1);
    assert_non_null(strstr(a.problems[0], "model.diffusion_model.middle_block.1.norm.bias"));
    assert_string_equal(a.unexpected_names[0], "model.diffusion_model.extra.weight");
    lf_safetensors_close(st);
}

/* The synthetic vocabulary has exactly the token embedding's rows (it had
** 731 for 1024), and one of another size is refused naming both. */
static void vocabulary_size(void **state)
{
    (void)state;
    char vdir[300];
    struct lf_error err = {0};
    struct sd_tokenizer *tok;
    struct sd_clip clip = {.vocab = sd_arch_tiny.text.vocab};
    snprintf(vdir, sizeof vdir, "%s/vocab", dir);
    assert_int_equal(sd_synth_vocab(vdir, sd_arch_tiny.text.vocab, &err), LF_OK);
    assert_int_equal(sd_tokenizer_load(vdir, &tok, &err), LF_OK);
    assert_int_equal(sd_tokenizer_vocab_size(tok), (size_t)sd_arch_tiny.text.vocab);
    assert_int_equal(sd_clip_check_vocab(&clip, tok, &err), LF_OK);
    clip.vocab = 49408;
    assert_int_equal(sd_clip_check_vocab(&clip, tok, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "1024 tokens"));
    assert_non_null(strstr(err.message, "49408 rows"));
    assert_string_equal(err.path, vdir);
    sd_tokenizer_free(tok);
    test_remove_tree(vdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intact_loads),       cmocka_unit_test(missing_bias),
        cmocka_unit_test(missing_group_norm), cmocka_unit_test(wrong_dtype),
        cmocka_unit_test(permuted_conv_in),   cmocka_unit_test(audit),
        cmocka_unit_test(vocabulary_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
