/*
** test_models.c - the SD 1.5 model code against the tiny-sd15 fixture's
** reference outputs (diffusers / openai CLIP in float32 on the CPU):
** text encoder, UNet (square and non-square latents, several timesteps,
** every block's output for the first case), VAE decode (with intermediates)
** and encode, from the single-file checkpoint and the diffusers folder.
**
** Tolerance with dtype f32 (the fixture README's single-module bound):
** |a - b| <= 1e-4 + 1e-4 * |b|.  With f16 weights and activations the error
** is measured and printed, and bounded loosely (see f16_text_encoder).
*/
#include "test_util.h"
#include "op_test.h"
#include "sd_checkpoint.h"
#include "sd_clip.h"
#include "sd_unet.h"
#include "sd_vae.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define ATOL 1e-4
#define RTOL 1e-4

static char fixtures[512];

static void path_of(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/tiny-sd15/%s", fixtures, rel);
}

/* A reference tensor as floats (caller frees); fails the test if absent. */
static float *ref_f32(struct lf_safetensors *st, const char *name, int64_t *numel, int64_t shape[4],
                      int *rank)
{
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, name);
    if (!t) fail_msg("reference tensor %s missing", name);
    float *data = malloc((size_t)t->numel * sizeof *data);
    struct lf_error err = {0};
    if (t->st_dtype == LF_ST_DTYPE_I32) {
        for (int64_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, (const char *)t->data + i * 4, 4);
            data[i] = (float)v;
        }
    } else {
        assert_int_equal(lf_safetensors_tensor_to_f32(st, t, data, t->numel, &err), LF_OK);
    }
    if (numel) *numel = t->numel;
    if (shape)
        for (int i = 0; i < t->rank; i++)
            shape[i] = t->shape[i];
    if (rank) *rank = t->rank;
    return data;
}

static struct lf_safetensors *open_ref(const char *rel)
{
    return test_safetensors_open("%s/tiny-sd15/%s", fixtures, rel);
}

static void load(const char *rel, enum lf_dtype dtype, struct sd_checkpoint *ck)
{
    char path[700];
    struct lf_error err = {0};
    path_of(path, sizeof path, rel);
    if (sd_checkpoint_load(op_test_device(), path, dtype, ck, &err) != LF_OK)
        fail_msg("loading %s: %s", path, err.message);
}

static void compare_tensor(const char *label, struct lf_tensor *t, const float *want, int64_t count,
                           double atol, double rtol)
{
    assert_int_equal(lf_tensor_numel(t), count);
    float *got = op_test_download(t);
    op_test_assert_close(label, got, want, (size_t)count, atol, rtol);
    free(got);
}

static double text_encoder_case(struct sd_checkpoint *ck, const char *prefix, double atol,
                                double rtol)
{
    struct lf_safetensors *ref = open_ref("ref/text_encoder.safetensors");
    struct sd_clip clip;
    struct lf_error err = {0};
    assert_int_equal(sd_clip_init(&clip, ck->clip, &ck->arch.text, &err), LF_OK);
    char name[128];
    snprintf(name, sizeof name, "%s.input_ids", prefix);
    int64_t n;
    float *idsf = ref_f32(ref, name, &n, NULL, NULL);
    int32_t ids[77];
    for (int i = 0; i < 77; i++)
        ids[i] = (int32_t)idsf[i];
    snprintf(name, sizeof name, "%s.last_hidden_state", prefix);
    int64_t count;
    float *want = ref_f32(ref, name, &count, NULL, NULL);
    struct lf_tensor *out;
    if (sd_clip_encode(&clip, ids, 77, &out, &err) != LF_OK) fail_msg("%s", err.message);
    float *got = op_test_download(out);
    double worst;
    double r = op_test_compare(got, want, (size_t)count, atol, rtol, &worst);
    printf("  text encoder %s: max |err| %.3g (%.2f of tolerance)\n", prefix, worst, r);
    assert_true(r <= 1.0);
    free(got), free(want), free(idsf);
    lf_tensor_release(out);
    sd_clip_clear(&clip);
    lf_safetensors_close(ref);
    return worst;
}

static void text_encoder_matches(void **state)
{
    struct sd_checkpoint ck;
    load("model.safetensors", LF_DTYPE_F32, &ck);
    /* No config.json: the heads are guessed from the width (the tiny model's 4). */
    assert_false(ck.arch.text.heads_from_config);
    assert_int_equal(ck.arch.text.heads, 4);
    text_encoder_case(&ck, "p0", ATOL, RTOL);
    text_encoder_case(&ck, "p1", ATOL, RTOL);
    text_encoder_case(&ck, "p2", ATOL, RTOL);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

struct probe_check {
    struct lf_safetensors *ref;
    const char *prefix;
    int checked;
};

static bool check_probe(const char *name, struct lf_tensor *t, void *user)
{
    struct probe_check *pc = user;
    char key[200];
    snprintf(key, sizeof key, "%s%s", pc->prefix, name);
    if (!lf_safetensors_find(pc->ref, key)) return true;
    int64_t n;
    float *want = ref_f32(pc->ref, key, &n, NULL, NULL);
    compare_tensor(key, t, want, n, ATOL, RTOL);
    free(want);
    pc->checked++;
    return true;
}

static void unet_case(const struct sd_unet *u, struct lf_safetensors *ref, const char *id, float t,
                      bool probed)
{
    struct lf_error err = {0};
    char name[128];
    int64_t shape[4], n, cshape[4];
    int rank, crank;
    snprintf(name, sizeof name, "%s.sample", id);
    float *sample = ref_f32(ref, name, &n, shape, &rank);
    float *ctx = ref_f32(ref, "encoder_hidden_states", NULL, cshape, &crank);
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, rank, shape, sample);
    struct lf_tensor *c = op_test_tensor(LF_DTYPE_F32, crank, cshape, ctx), *eps;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.intermediate.", id);
    struct probe_check pc = {ref, prefix, 0};
    if (sd_unet_forward_probed(u, x, t, c, probed ? check_probe : NULL, &pc, &eps, &err) != LF_OK)
        fail_msg("%s: %s", id, err.message);
    if (probed) assert_int_equal(pc.checked, 13);
    snprintf(name, sizeof name, "%s.eps", id);
    float *want = ref_f32(ref, name, &n, NULL, NULL);
    compare_tensor(name, eps, want, n, ATOL, RTOL);
    free(sample), free(ctx), free(want);
    lf_tensor_release(x), lf_tensor_release(c), lf_tensor_release(eps);
}

static void unet_matches(void **state)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    struct sd_unet u;
    load("model.safetensors", LF_DTYPE_F32, &ck);
    assert_int_equal(sd_unet_init(&u, ck.unet, &ck.arch.unet, &err), LF_OK);
    assert_int_equal(u.model_channels, 32);
    assert_int_equal(u.context_dim, 64);
    assert_int_equal(u.input_count, 12);
    struct lf_safetensors *ref = open_ref("ref/unet.safetensors");
    unet_case(&u, ref, "unet_8x8_t999", 999, true);
    unet_case(&u, ref, "unet_8x8_t259", 259, false);
    unet_case(&u, ref, "unet_8x12_t999", 999, false);
    unet_case(&u, ref, "unet_8x12_t259", 259, false);
    lf_safetensors_close(ref);
    sd_unet_clear(&u);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

static void vae_decode_case(struct sd_checkpoint *ck, bool probed)
{
    struct lf_error err = {0};
    struct sd_vae v;
    assert_int_equal(sd_vae_init(&v, ck->vae, &ck->arch.vae, &err), LF_OK);
    struct lf_safetensors *ref = open_ref("ref/vae.safetensors");
    int64_t shape[4], n;
    int rank;
    float *lat = ref_f32(ref, "decode.latents", &n, shape, &rank);
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, rank, shape, lat), *img;
    struct probe_check pc = {ref, "decode.intermediate.", 0};
    if (sd_vae_decode(&v, x, probed ? check_probe : NULL, &pc, &img, &err) != LF_OK)
        fail_msg("%s", err.message);
    if (probed) assert_int_equal(pc.checked, 8);
    float *want = ref_f32(ref, "decode.output", &n, NULL, NULL);
    compare_tensor("decode.output", img, want, n, ATOL, RTOL);
    free(lat), free(want);
    lf_tensor_release(x), lf_tensor_release(img);
    lf_safetensors_close(ref);
    sd_vae_clear(&v);
}

static void vae_matches(void **state)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    load("model.safetensors", LF_DTYPE_F32, &ck);
    vae_decode_case(&ck, true);
    /* The route SD 1.5's 512-wide mid attention takes: two GEMMs. */
    setenv("LCMFLOW_VAE_ATTENTION", "gemm", 1);
    vae_decode_case(&ck, false);
    unsetenv("LCMFLOW_VAE_ATTENTION");

    struct sd_vae v;
    assert_int_equal(sd_vae_init(&v, ck.vae, &ck.arch.vae, &err), LF_OK);
    struct lf_safetensors *ref = open_ref("ref/vae.safetensors");
    int64_t shape[4], n;
    int rank;
    float *image = ref_f32(ref, "encode.image", &n, shape, &rank);
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, rank, shape, image), *mean, *std;
    if (sd_vae_encode(&v, x, &mean, &std, &err) != LF_OK) fail_msg("%s", err.message);
    float *want = ref_f32(ref, "encode.mean", &n, NULL, NULL);
    compare_tensor("encode.mean", mean, want, n, ATOL, RTOL);
    free(want);
    want = ref_f32(ref, "encode.std", &n, NULL, NULL);
    compare_tensor("encode.std", std, want, n, ATOL, RTOL);
    free(want), free(image);
    lf_tensor_release(x), lf_tensor_release(mean), lf_tensor_release(std);
    lf_safetensors_close(ref);
    sd_vae_clear(&v);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* The diffusers folder holds the same weights under other names: mapped to
** the LDM names, it must give the same outputs. */
static void diffusers_layout_matches(void **state)
{
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    load("diffusers", LF_DTYPE_F32, &ck);
    assert_true(ck.diffusers);
    assert_true(ck.arch.text.heads_from_config);
    assert_int_equal(ck.arch.text.heads, 4);
    /* The architecture read through the name table is the single file's. */
    struct sd_checkpoint single;
    load("model.safetensors", LF_DTYPE_F32, &single);
    assert_memory_equal(&ck.arch.unet, &single.arch.unet, sizeof ck.arch.unet);
    assert_memory_equal(&ck.arch.vae, &single.arch.vae, sizeof ck.arch.vae);
    assert_int_equal(ck.arch.text.layers, single.arch.text.layers);
    assert_int_equal(ck.arch.text.hidden, single.arch.text.hidden);
    assert_int_equal(ck.arch.unet.widths[3], 128);
    assert_int_equal(ck.arch.unet.heads, 8);
    assert_int_equal(ck.arch.vae.decoder_res, 3);
    sd_checkpoint_clear(&single);
    text_encoder_case(&ck, "p0", ATOL, RTOL);
    struct sd_unet u;
    assert_int_equal(sd_unet_init(&u, ck.unet, &ck.arch.unet, &err), LF_OK);
    struct lf_safetensors *ref = open_ref("ref/unet.safetensors");
    unet_case(&u, ref, "unet_8x12_t999", 999, false);
    lf_safetensors_close(ref);
    sd_unet_clear(&u);
    vae_decode_case(&ck, false);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

/* A diffusers folder with only the ".fp16.safetensors" weights diffusers
** also writes loads as `lcmflow info` describes it (both go by
** sd_diffusers.h; the loader used to want the plain names only). */
static void diffusers_fp16_variant_loads(void **state)
{
    char dir[] = "/tmp/lcmflow-fp16-XXXXXX", src[700], dst[700], root[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    path_of(src, sizeof src, "diffusers");
    assert_non_null(realpath(src, root)); /* the links live elsewhere */
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        const struct sd_diffusers_part *p = &sd_diffusers_parts[c];
        snprintf(dst, sizeof dst, "%s/%s", dir, p->folder);
        assert_int_equal(mkdir(dst, 0755), 0);
        snprintf(src, sizeof src, "%s/%s/%s.safetensors", root, p->folder, p->weights);
        snprintf(dst, sizeof dst, "%s/%s/%s.fp16.safetensors", dir, p->folder, p->weights);
        assert_int_equal(symlink(src, dst), 0);
    }
    struct sd_checkpoint ck;
    struct lf_error err = {0};
    if (sd_checkpoint_load(op_test_device(), dir, LF_DTYPE_F32, &ck, &err) != LF_OK)
        fail_msg("%s", err.message);
    assert_true(ck.arch.unet.found && ck.arch.vae.found && ck.arch.text.found);
    assert_int_equal(ck.arch.unet.widths[2], 128);
    sd_checkpoint_clear(&ck);
    for (int c = 0; c < SD_COMPONENT_COUNT; c++) {
        const struct sd_diffusers_part *p = &sd_diffusers_parts[c];
        snprintf(dst, sizeof dst, "%s/%s/%s.fp16.safetensors", dir, p->folder, p->weights);
        unlink(dst);
        snprintf(dst, sizeof dst, "%s/%s", dir, p->folder);
        rmdir(dst);
    }
    rmdir(dir);
}

/* f16 weights and activations: the error is measured and stated here.
** Text-encoder outputs are ~N(0,1) with max ~3.3; f16 has 11 bits. */
static void f16_text_encoder(void **state)
{
    struct sd_checkpoint ck;
    load("model.safetensors", LF_DTYPE_F16, &ck);
    double worst = text_encoder_case(&ck, "p0", 2e-2, 1e-2);
    printf("  f16 text encoder max |err| = %.4g (bound 2e-2 + 1e-2*|ref|)\n", worst);
    sd_checkpoint_clear(&ck);
    op_test_check_validation();
}

static void pickle_is_refused(void **state)
{
    struct lf_error err = {0};
    struct sd_checkpoint ck;
    assert_int_equal(sd_checkpoint_load(op_test_device(), "model.ckpt", LF_DTYPE_F32, &ck, &err),
                     LF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "execute"));
    char path[700];
    path_of(path, sizeof path, "lcm_lora.safetensors");
    assert_int_equal(sd_checkpoint_load(op_test_device(), path, LF_DTYPE_F32, &ck, &err),
                     LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "not an SD 1.5 checkpoint"));
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pickle_is_refused),
        cmocka_unit_test(text_encoder_matches),
        cmocka_unit_test(unet_matches),
        cmocka_unit_test(vae_matches),
        cmocka_unit_test(diffusers_layout_matches),
        cmocka_unit_test(diffusers_fp16_variant_loads),
        cmocka_unit_test(f16_text_encoder),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
