/* test_cli_info.c - runs the built `lcmflow info` (path in argv[1]) on the
** tiny SD 1.5 fixture (single file and diffusers folder), a synthesized
** checkpoint, each fixture LoRA, the TAEF2 files, a pickle name and a file
** that is not safetensors.  Parameter counts in the output are checked
** against sums computed here from the files' headers.
**
** The sd15 preset (2.1 GB, about a minute to write) is checked only when
** LCMFLOW_TEST_SD15=1; otherwise the tiny preset stands in for it. */
#include "ckpt_edit.h"
#include "test_util.h"
#include "lcmflow/safetensors.h"
#include "sd_lora.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *exe;
static char fixtures[1024];

/* Runs exe with up to 4 args (the first NULL ends them). */
static void run4(struct test_output *r, const char *a0, const char *a1, const char *a2,
                 const char *a3)
{
    const char *argv[] = {exe, a0, a1, a2, a3, NULL};
    test_exec(r, argv, NULL, NULL);
}

static void run(struct test_output *r, const char *a0, const char *a1, const char *a2)
{
    run4(r, a0, a1, a2, NULL);
}

static void info(struct test_output *r, const char *path)
{
    run(r, "info", path, NULL);
    printf("%s%s", r->out, r->err);
}

static void expect(const struct test_output *r, const char *text)
{
    if (!strstr(r->out, text)) fail_msg("output lacks '%s':\n%s", text, r->out);
}

/* The tensors and parameters of the component row called name. */
static void row(const struct test_output *r, const char *name, long long *tensors,
                long long *params)
{
    char key[64];
    snprintf(key, sizeof key, "\n  %s ", name);
    const char *p = strstr(r->out, key);
    if (!p) fail_msg("no row '%s' in:\n%s", name, r->out);
    p += strlen(key);
    long long v[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        while (*p == ' ')
            p++;
        for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
            if (*p != ',') v[k] = v[k] * 10 + (*p - '0');
    }
    *tensors = v[0];
    *params = v[1];
}

/* Sums the tensors of path whose names start with prefix (and, when
** contains is given, contain it). */
static void sum(const char *path, const char *prefix, const char *contains, long long *tensors,
                long long *params)
{
    struct lf_safetensors *st = test_safetensors_open("%s", path);
    *tensors = *params = 0;
    for (size_t i = 0; i < lf_safetensors_count(st); i++) {
        const struct lf_safetensors_tensor *t = lf_safetensors_tensor_at(st, i);
        if (strncmp(t->name, prefix, strlen(prefix)) || (contains && !strstr(t->name, contains)))
            continue;
        (*tensors)++;
        *params += t->numel;
    }
    lf_safetensors_close(st);
}

static void check_row(const struct test_output *r, const char *name, const char *path,
                      const char *prefix)
{
    long long t, p, wt, wp;
    row(r, name, &t, &p);
    sum(path, prefix, NULL, &wt, &wp);
    assert_true(wt > 0);
    assert_int_equal(t, wt);
    assert_int_equal(p, wp);
}

static void fixture(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", fixtures, rel);
}

static void tiny_arch(const struct test_output *r)
{
    expect(r, "widths 32 64 128 128 (4 levels), 2 res blocks per level down and 3 up, "
              "16 transformers (depth 1), context dim 64, in 4 / out 4 channels");
    expect(r, "text encoder: CLIP, 4 layers, width 64, MLP 256");
    expect(r, "VAE: latent channels 4, encoder widths 32 64 96 96 (2 blocks per level), "
              "decoder widths 96 96 64 32 (3 blocks per level), mid-block attention");
    expect(r, "other widths than the real SD 1.5");
    /* Every tensor the architecture needs, nothing else (issue 13). */
    expect(r, "UNet tensors: all 686 needed are present, 0 unexpected\n");
    expect(r, "VAE tensors: all 248 needed are present, 0 unexpected\n");
    expect(r, "text encoder tensors: all 68 needed are present, 0 unexpected\n");
}

static void tiny_single_file(void **state)
{
    char path[1200];
    struct test_output r;
    fixture(path, sizeof path, "tiny-sd15/model.safetensors");
    info(&r, path);
    assert_int_equal(r.status, 0);
    expect(&r, "SD 1.5 checkpoint (single-file LDM layout)");
    tiny_arch(&r);
    expect(&r, "vocabulary 49408, 77 positions");
    check_row(&r, "UNet", path, "model.diffusion_model.");
    check_row(&r, "VAE", path, "first_stage_model.");
    check_row(&r, "text encoder", path, "cond_stage_model.");
    check_row(&r, "total", path, "");
    expect(&r, "  F16\n");
}

static void tiny_diffusers(void **state)
{
    char dir[1200], path[1300];
    struct test_output r;
    fixture(dir, sizeof dir, "tiny-sd15/diffusers");
    info(&r, dir);
    assert_int_equal(r.status, 0);
    expect(&r, "SD 1.5 checkpoint (diffusers folder layout)");
    tiny_arch(&r);
    expect(&r, "4 heads (config.json)");
    expect(&r, "tokenizer: tokenizer/vocab.json");
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    check_row(&r, "UNet", path, "");
    snprintf(path, sizeof path, "%s/vae/diffusion_pytorch_model.safetensors", dir);
    check_row(&r, "VAE", path, "");
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", dir);
    check_row(&r, "text encoder", path, "");
    /* One part alone is named as such. */
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    info(&r, path);
    expect(&r, "a diffusers UNet alone");
    expect(&r, "widths 32 64 128 128");
}

/* Removes what synth-checkpoint wrote (its own vocabulary only for tiny). */
static void remove_synth(const char *dir)
{
    static const char *const files[] = {"synth.safetensors",          "synth.tokenizer/vocab.json",
                                        "synth.tokenizer/merges.txt", "synth.tokenizer",
                                        "broken.safetensors",         ""};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
}

/* A copy of dir/synth.safetensors without one bias, with one tensor stored
** as integers and one that nothing reads: info names each. */
static void broken_synth(const char *dir)
{
    char src[256], dst[256];
    struct test_output r;
    snprintf(src, sizeof src, "%s/synth.safetensors", dir);
    snprintf(dst, sizeof dst, "%s/broken.safetensors", dir);
    const struct ckpt_edit edits[] = {
        {.name = "first_stage_model.decoder.conv_out.bias", .kind = CKPT_DROP},
        {.name = "model.diffusion_model.out.2.weight",
         .kind = CKPT_DTYPE,
         .dtype = LF_ST_DTYPE_I16},
        {.name = "model.diffusion_model.label_emb.0.0.weight",
         .kind = CKPT_ADD,
         .dtype = LF_ST_DTYPE_F16,
         .rank = 2,
         .shape = {4, 4}},
    };
    assert_int_equal(ckpt_edit_copy(src, dst, edits, 3), 0);
    info(&r, dst);
    assert_int_equal(r.status, 0);
    expect(&r, "UNet tensors: 0 of the 686 needed are missing, 0 misshaped, 1 not float "
               "(loading refuses this), 1 unexpected (nothing reads them)");
    expect(&r, "tensor 'model.diffusion_model.out.2.weight' has dtype I16");
    expect(&r, "unexpected: model.diffusion_model.label_emb.0.0.weight");
    expect(&r, "VAE tensors: 1 of the 248 needed are missing, 0 misshaped, 0 not float");
    expect(&r, "tensor 'first_stage_model.decoder.conv_out.bias' is missing (the VAE needs it: "
               "[3])");
    expect(&r, "text encoder tensors: all 68 needed are present, 0 unexpected");
}

static void synthesized(void **state)
{
    char dir[] = "/tmp/lcmflow-info-XXXXXX", path[256];
    struct test_output r;
    assert_non_null(mkdtemp(dir));
    const char *sd15 = getenv("LCMFLOW_TEST_SD15");
    bool full = sd15 && !strcmp(sd15, "1");
    if (!full) printf("  (sd15 preset skipped: set LCMFLOW_TEST_SD15=1; using tiny)\n");
    snprintf(path, sizeof path, "%s/synth.safetensors", dir);
    const char *argv_preset = full ? "sd15" : "tiny";
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(exe, exe, "synth-checkpoint", "--preset", argv_preset, "--seed", "3", "--out", path,
              (char *)NULL);
        _exit(127);
    }
    int wstatus;
    waitpid(pid, &wstatus, 0);
    assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    info(&r, path);
    assert_int_equal(r.status, 0);
    expect(&r, "SD 1.5 checkpoint (single-file LDM layout)");
    check_row(&r, "UNet", path, "model.diffusion_model.");
    check_row(&r, "VAE", path, "first_stage_model.");
    check_row(&r, "text encoder", path, "cond_stage_model.");
    if (full) {
        expect(&r, "widths match the real SD 1.5 model");
        expect(&r, "UNet                686      859,520,964");
        expect(&r, "model channels 320, widths 320 640 1280 1280 (4 levels)");
        expect(&r, "context dim 768");
        expect(&r, "text encoder: CLIP, 12 layers, width 768, MLP 3072, vocabulary 49408");
        expect(&r, "encoder widths 128 256 512 512");
        expect(&r, "total             1,130    1,066,235,307");
    } else {
        tiny_arch(&r);
        expect(&r, "vocabulary 1024");
        /* The tiny model's vocabulary is its own (synth.tokenizer/), not a
        ** tokenizer/ folder another checkpoint beside it would use. */
        snprintf(path, sizeof path, "%s/synth.tokenizer/vocab.json", dir);
        assert_int_equal(access(path, R_OK), 0);
        snprintf(path, sizeof path, "%s/tokenizer", dir);
        assert_int_not_equal(access(path, F_OK), 0);
        broken_synth(dir);
    }
    remove_synth(dir);
}

static void loras(void **state)
{
    char path[1200];
    struct test_output r;
    long long t, p, wt, wp;

    fixture(path, sizeof path, "tiny-sd15/lcm_lora.safetensors");
    info(&r, path);
    assert_int_equal(r.status, 0);
    expect(&r, "LoRA (kohya, diffusers module names");
    expect(&r, "modules: 278 (UNet 278, text encoder 0)");
    expect(&r, "touches: UNet only");
    expect(&r, "rank: 4\n");
    expect(&r, "alpha: 4 on 278 modules (scale alpha/rank = 1)");
    check_row(&r, "UNet", path, "lora_unet_");

    /* Against a checkpoint: the fraction of its layers the LoRA matches
    ** (needs a Vulkan device to load the model). */
    char model[1200];
    fixture(model, sizeof model, "tiny-sd15/model.safetensors");
    run4(&r, "info", "--model", model, path);
    printf("%s%s", r.out, r.err);
    if (r.status == 0)
        expect(&r, "matches 278 of 282 UNet layers");
    else
        expect(&r, "Vulkan");

    fixture(path, sizeof path, "tiny-sd15/style_lora_kohya.safetensors");
    info(&r, path);
    expect(&r, "LoRA (kohya, original LDM module names");
    expect(&r, "modules: 216 (UNet 192, text encoder 24)");
    expect(&r, "touches: UNet and text encoder");
    expect(&r, "alpha: 2 on 216 modules (scale alpha/rank = 0.5)");
    check_row(&r, "UNet", path, "lora_unet_");
    check_row(&r, "text encoder", path, "lora_te_");

    fixture(path, sizeof path, "tiny-sd15/style_lora_peft.safetensors");
    info(&r, path);
    expect(&r, "LoRA (diffusers/peft");
    expect(&r, "modules: 192 (UNet 192, text encoder 0)");
    expect(&r, "rank: 4\n");
    expect(&r, "alpha: none (scale 1)");
    row(&r, "UNet", &t, &p);
    sum(path, "unet.", NULL, &wt, &wp);
    assert_int_equal(t, wt);
    assert_int_equal(p, wp);
    /* 1x1-conv modules: proj_in/proj_out of 16 transformers. */
    expect(&r, "160 linear, 32 conv");
}

/* The spelling that pairs with down (role up): "down" -> "up", "_A" -> "_B". */
static const struct sd_lora_spelling *up_spelling(const struct sd_lora_spelling *down)
{
    char want[64];
    const char *at = strstr(down->suffix, "down");
    if (at)
        snprintf(want, sizeof want, "%.*sup%s", (int)(at - down->suffix), down->suffix, at + 4);
    else if ((at = strstr(down->suffix, "_A")))
        snprintf(want, sizeof want, "%.*s_B%s", (int)(at - down->suffix), down->suffix, at + 2);
    else
        return NULL;
    for (size_t i = 0; i < sd_lora_spelling_count; i++)
        if (!strcmp(sd_lora_spellings[i].suffix, want)) return &sd_lora_spellings[i];
    return NULL;
}

/* Every key spelling LoraLoader reads (its table, sd_lora_spellings): a
** one-module file written in it loads, and `lcmflow info` calls it a LoRA
** with that one UNet module (issue 10: info knew 5 of the 11 spellings). */
static void every_lora_spelling(void **state)
{
    char dir[] = "/tmp/lcmflow-info-XXXXXX", path[300], key[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/one.safetensors", dir);
    static const float down_data[4 * 32], up_data[32 * 4], alpha = 2.0f;
    const int64_t down_shape[2] = {4, 32}, up_shape[2] = {32, 4};
    int files = 0;
    for (size_t i = 0; i < sd_lora_spelling_count; i++) {
        const struct sd_lora_spelling *down = &sd_lora_spellings[i], *up;
        if (down->role != SD_LORA_ROLE_DOWN) continue;
        up = up_spelling(down);
        if (!up || up->role != SD_LORA_ROLE_UP) fail_msg("no up spelling for %s", down->suffix);
        const char *module =
            down->processor ? "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1."
                              "processor.to_q"
            : down->format == SD_LORA_FORMAT_KOHYA ? "lora_unet_down_blocks_0_attentions_0_proj_in"
                                                   : "unet.down_blocks.0.attentions.0.proj_in";
        struct lf_error err = {0};
        struct lf_safetensors_writer *w;
        assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
        snprintf(key, sizeof key, "%s%s", module, down->suffix);
        assert_int_equal(lf_safetensors_writer_add(w, key, LF_ST_DTYPE_F32, 2, down_shape,
                                                   down_data, sizeof down_data, &err),
                         LF_OK);
        snprintf(key, sizeof key, "%s%s", module, up->suffix);
        assert_int_equal(lf_safetensors_writer_add(w, key, LF_ST_DTYPE_F32, 2, up_shape, up_data,
                                                   sizeof up_data, &err),
                         LF_OK);
        snprintf(key, sizeof key, "%s.alpha", module); /* processor files carry none */
        if (!down->processor)
            assert_int_equal(lf_safetensors_writer_add(w, key, LF_ST_DTYPE_F32, 0, NULL, &alpha,
                                                       sizeof alpha, &err),
                             LF_OK);
        assert_int_equal(lf_safetensors_writer_write(w, path, &err), LF_OK);
        lf_safetensors_writer_free(w);

        struct sd_lora *lora;
        if (sd_lora_load(NULL, path, &lora, &err) != LF_OK)
            fail_msg("%s: LoraLoader: %s", down->suffix, err.message);
        assert_int_equal(lora->count, 1);
        sd_lora_release(lora);
        struct test_output r;
        info(&r, path);
        assert_int_equal(r.status, 0);
        expect(&r, "LoRA (");
        expect(&r, "modules: 1 (UNet 1, text encoder 0)");
        expect(&r, down->processor ? "alpha: none" : "alpha: 2 on 1 modules");
        files++;
    }
    assert_int_equal(files, 5); /* kohya, peft, peft .default, diffusers, processor */
    remove(path);
    rmdir(dir);
}

static void taesd(void **state)
{
    char path[1200];
    struct test_output r;
    fixture(path, sizeof path, "taesd/taef2_encoder.safetensors");
    if (access(path, R_OK) != 0) skip();
    info(&r, path);
    assert_int_equal(r.status, 0);
    expect(&r, "TAESD-family encoder (sequential layout)");
    expect(&r, "encoder: latent channels 32, 10 blocks (3 with the mid-block pooling branch)");
    check_row(&r, "encoder", path, "");
    fixture(path, sizeof path, "taesd/taef2_decoder.safetensors");
    info(&r, path);
    expect(&r, "TAESD-family decoder (sequential layout)");
    expect(&r, "decoder: latent channels 32, 10 blocks (3 with the mid-block pooling branch)");
    check_row(&r, "decoder", path, "");

    /* The pair as a diffusers AutoencoderTiny folder: encoder.layers.N /
    ** decoder.layers.N (decoder indices one lower: no Clamp layer). */
    char dir[] = "/tmp/lcmflow-info-XXXXXX", file[256];
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/diffusion_pytorch_model.safetensors", dir);
    char enc[1200], dec[1200];
    fixture(enc, sizeof enc, "taesd/taef2_encoder.safetensors");
    fixture(dec, sizeof dec, "taesd/taef2_decoder.safetensors");
    assert_int_equal(ckpt_taesd_to_diffusers(enc, dec, file), 0);
    info(&r, dir);
    assert_int_equal(r.status, 0);
    expect(&r, "TAESD-family encoder and decoder (named layers)");
    expect(&r, "decoder: latent channels 32, 10 blocks (3 with the mid-block pooling branch), "
               "keys decoder.layers.");
    check_row(&r, "encoder", file, "encoder.layers.");
    check_row(&r, "decoder", file, "decoder.layers.");
    remove(file);
    rmdir(dir);
}

static void refusals(void **state)
{
    struct test_output r;
    char path[1200];
    run(&r, "info", "/nonexistent/sd15-pruned.ckpt", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "execute arbitrary code"));
    assert_non_null(strstr(r.err, "sd15-pruned.ckpt"));
    fixture(path, sizeof path, "taesd/README.md");
    run(&r, "info", path, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "not a safetensors file"));
    assert_non_null(strstr(r.err, "README.md"));
    /* A valid safetensors file of no known kind is described, not refused. */
    fixture(path, sizeof path, "taesd/astronaut_ref.safetensors");
    info(&r, path);
    assert_int_equal(r.status, 0);
    expect(&r, "no SD 1.5 checkpoint, LoRA or TAESD");
    expect(&r, "tensors               3          425,984");
    run(&r, "info", NULL, NULL);
    assert_int_equal(r.status, 2);
    run(&r, "info", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: lcmflow info"));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test-cli-info PATH-TO-LCMFLOW\n");
        return 1;
    }
    exe = argv[1];
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_single_file),
        cmocka_unit_test(tiny_diffusers),
        cmocka_unit_test(synthesized),
        cmocka_unit_test(loras),
        cmocka_unit_test(every_lora_spelling),
        cmocka_unit_test(taesd),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
