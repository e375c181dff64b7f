/*
** test_taesd.c - the TAESD-family encoder/decoder (sd_taesd.h) on the TAEF2
** fixture: real trained weights and real images with reference latents,
** decoded images and round-trip PSNR (fixtures/taesd/README.md).
**
** f32: latents and decoded images within 1e-4 absolute of the reference
** (measured: 6e-6; the README promises "about 1e-3"), round-trip PSNR within 0.1 dB of the README's
** 29.40 / 30.28 dB.  f16 weights and activations: round-trip PSNR within
** 0.1 dB too (measured: within 0.002 dB; latents within 0.05 absolute).  The diffusers key layout
*(encoder.layers.N / decoder.layers.N,
** both parts in one file) must give bit-identical results, and an SD 1.5
** style member (4 latent channels, no pooling branch) is parsed from a
** synthetic file.
*/
#include "ckpt_edit.h"
#include "test_util.h"
#include "image_io.h"
#include "op_test.h"
#include "sd_taesd.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define ATOL 1e-4

static char dir[600];

static void path_of(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", dir, rel);
}

static void load(const char *enc, const char *dec, enum lf_dtype dtype, struct sd_taesd *t)
{
    char e[700], d[700];
    struct lf_error err = {0};
    if (enc) path_of(e, sizeof e, enc);
    if (dec) path_of(d, sizeof d, dec);
    if (sd_taesd_load(op_test_device(), enc ? e : NULL, dec ? d : NULL, dtype, t, &err) != LF_OK)
        fail_msg("loading TAESD: %s", err.message);
}

/* A reference tensor as floats (caller frees). */
static float *ref_f32(struct lf_safetensors *st, const char *name, int64_t shape[4])
{
    const struct lf_safetensors_tensor *t = lf_safetensors_find(st, name);
    if (!t) fail_msg("reference tensor %s missing", name);
    assert_int_equal(t->rank, 4);
    float *data = malloc((size_t)t->numel * sizeof *data);
    struct lf_error err = {0};
    assert_int_equal(lf_safetensors_tensor_to_f32(st, t, data, t->numel, &err), LF_OK);
    for (int i = 0; i < 4; i++)
        shape[i] = t->shape[i];
    return data;
}

/* The PNG as NCHW floats in [0, 1] (caller frees). */
static float *load_png(const char *name, int64_t shape[4])
{
    char path[700];
    int w, h;
    uint8_t *px;
    struct lf_error err = {0};
    path_of(path, sizeof path, name);
    if (lf_image_load(path, &w, &h, &px, &err) != LF_OK) fail_msg("%s", err.message);
    float *data = malloc((size_t)w * h * 3 * sizeof *data);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < w * h; i++)
            data[(size_t)c * w * h + i] = px[(size_t)i * 3 + c] / 255.0f;
    free(px);
    shape[0] = 1, shape[1] = 3, shape[2] = h, shape[3] = w;
    return data;
}

static double psnr(const float *a, const float *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return 10.0 * log10(1.0 / (se / (double)n));
}

static size_t numel(const int64_t shape[4])
{
    return (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
}

/* One image: encode, decode the reference latent, round trip. */
static void image_case(const struct sd_taesd *t, const char *name, double ref_psnr, bool exact)
{
    char rel[64];
    struct lf_error err = {0};
    struct lf_safetensors *ref = test_safetensors_open("%s/%s_ref.safetensors", dir, name);
    int64_t ishape[4], lshape[4], dshape[4], pshape[4];
    float *image = ref_f32(ref, "image", ishape);
    float *latent = ref_f32(ref, "latent", lshape);
    float *decoded = ref_f32(ref, "decoded", dshape);
    snprintf(rel, sizeof rel, "%s.png", name);
    float *png = load_png(rel, pshape);
    assert_memory_equal(pshape, ishape, sizeof pshape);
    op_test_assert_close("PNG == reference image", png, image, numel(ishape), 1e-6, 0);

    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, ishape, png), *lat, *dec, *rt;
    if (sd_taesd_encode(t, x, &lat, &err) != LF_OK) fail_msg("encode: %s", err.message);
    assert_int_equal(lat->rank, 4);
    assert_memory_equal(lat->shape, lshape, sizeof lshape);
    float *got_lat = op_test_download(lat);
    struct lf_tensor *lref = op_test_tensor(LF_DTYPE_F32, 4, lshape, latent);
    if (sd_taesd_decode(t, lref, &dec, &err) != LF_OK) fail_msg("decode: %s", err.message);
    assert_memory_equal(dec->shape, dshape, sizeof dshape);
    float *got_dec = op_test_download(dec);
    if (sd_taesd_decode(t, lat, &rt, &err) != LF_OK) fail_msg("round trip: %s", err.message);
    float *got_rt = op_test_download(rt);

    double worst_lat, worst_dec;
    double r_lat = op_test_compare(got_lat, latent, numel(lshape), ATOL, 0, &worst_lat);
    double r_dec = op_test_compare(got_dec, decoded, numel(dshape), ATOL, 0, &worst_dec);
    double p = psnr(got_rt, image, numel(ishape));
    printf("  %s %s: latent max |err| %.3g, decoded max |err| %.3g, round-trip PSNR %.3f dB "
           "(reference %.2f)\n",
           name, t->dtype == LF_DTYPE_F32 ? "f32" : "f16", worst_lat, worst_dec, p, ref_psnr);
    if (exact) {
        assert_true(r_lat <= 1.0);
        assert_true(r_dec <= 1.0);
    }
    assert_true(fabs(p - ref_psnr) <= 0.1);
    for (size_t i = 0; i < numel(dshape); i++)
        assert_true(got_rt[i] >= 0.0f && got_rt[i] <= 1.0f);

    free(image), free(latent), free(decoded), free(png);
    free(got_lat), free(got_dec), free(got_rt);
    lf_tensor_release(x), lf_tensor_release(lat), lf_tensor_release(dec);
    lf_tensor_release(lref), lf_tensor_release(rt);
    lf_safetensors_close(ref);
}

static void structure_from_weights(void **state)
{
    struct sd_taesd t;
    load("taef2_encoder.safetensors", "taef2_decoder.safetensors", LF_DTYPE_F32, &t);
    assert_int_equal(t.latent_channels, 32);
    assert_int_equal(t.encoder.layer_count, 15);
    assert_int_equal(t.encoder.block_count, 10);
    assert_int_equal(t.encoder.pool_block_count, 3);
    assert_true(t.encoder.layers[2].stride2 && !t.encoder.layers[0].stride2);
    assert_int_equal(t.decoder.layer_count, 15);
    assert_int_equal(t.decoder.block_count, 10);
    assert_int_equal(t.decoder.pool_block_count, 3);
    assert_int_equal(t.decoder.layers[0].index, 1);
    assert_true(t.decoder.layers[0].relu_after);
    assert_true(t.decoder.layers[4].upsample && t.decoder.layers[4].index == 7);
    assert_false(t.decoder.layers[14].upsample || t.decoder.layers[14].relu_after);
    sd_taesd_clear(&t);
}

static void taef2_f32(void **state)
{
    struct sd_taesd t;
    load("taef2_encoder.safetensors", "taef2_decoder.safetensors", LF_DTYPE_F32, &t);
    image_case(&t, "astronaut", 29.40, true);
    image_case(&t, "coffee", 30.28, true);
    sd_taesd_clear(&t);
    op_test_check_validation();
}

static void taef2_f16(void **state)
{
    struct sd_taesd t;
    load("taef2_encoder.safetensors", "taef2_decoder.safetensors", LF_DTYPE_F16, &t);
    image_case(&t, "astronaut", 29.40, false);
    image_case(&t, "coffee", 30.28, false);
    sd_taesd_clear(&t);
    op_test_check_validation();
}

/* The TAEF2 pair as one diffusers AutoencoderTiny file. */
static void write_diffusers(const char *out)
{
    char enc[700], dec[700];
    path_of(enc, sizeof enc, "taef2_encoder.safetensors");
    path_of(dec, sizeof dec, "taef2_decoder.safetensors");
    assert_int_equal(ckpt_taesd_to_diffusers(enc, dec, out), 0);
}

static void diffusers_layout(void **state)
{
    char tmp[] = "/tmp/lcmflow-taesd-XXXXXX", file[600];
    assert_non_null(mkdtemp(tmp));
    snprintf(file, sizeof file, "%s/diffusion_pytorch_model.safetensors", tmp);
    write_diffusers(file);

    struct lf_error err = {0};
    struct sd_taesd a, b;
    load("taef2_encoder.safetensors", "taef2_decoder.safetensors", LF_DTYPE_F32, &a);
    if (sd_taesd_load(op_test_device(), file, file, LF_DTYPE_F32, &b, &err) != LF_OK)
        fail_msg("%s", err.message);
    assert_int_equal(b.latent_channels, 32);
    assert_int_equal(b.decoder.layer_count, a.decoder.layer_count);
    assert_true(b.decoder.layers[0].relu_after);
    assert_int_equal(b.decoder.layers[0].index, 0);

    int64_t shape[4] = {1, 3, 32, 48};
    float img[3 * 32 * 48];
    op_test_random(img, sizeof img / sizeof *img, 0.0f, 1.0f, 5);
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, shape, img), *la, *lb, *da, *db;
    assert_int_equal(sd_taesd_encode(&a, x, &la, &err), LF_OK);
    assert_int_equal(sd_taesd_encode(&b, x, &lb, &err), LF_OK);
    assert_int_equal(sd_taesd_decode(&a, la, &da, &err), LF_OK);
    assert_int_equal(sd_taesd_decode(&b, la, &db, &err), LF_OK);
    float *fa = op_test_download(la), *fb = op_test_download(lb);
    assert_memory_equal(fa, fb, (size_t)lf_tensor_numel(la) * sizeof *fa);
    free(fa), free(fb);
    fa = op_test_download(da), fb = op_test_download(db);
    assert_memory_equal(fa, fb, (size_t)lf_tensor_numel(da) * sizeof *fa);
    free(fa), free(fb);
    lf_tensor_release(x), lf_tensor_release(la), lf_tensor_release(lb);
    lf_tensor_release(da), lf_tensor_release(db);
    sd_taesd_clear(&a), sd_taesd_clear(&b);
    unlink(file);
    rmdir(tmp);
}

/* Random f32 weights for a synthetic file; the data must outlive the
** writer's write, so it stays in a static pool. */
static float pool_data[64][16 * 16 * 9];
static int pool_used;

static void add_random(struct lf_safetensors_writer *w, const char *name, int rank, int64_t d0,
                       int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3}, n = 1;
    for (int k = 0; k < rank; k++)
        n *= shape[k];
    assert_true(pool_used < 64 && n <= 16 * 16 * 9);
    float *data = pool_data[pool_used];
    op_test_random(data, (size_t)n, -0.2f, 0.2f, (uint32_t)++pool_used);
    struct lf_error err = {0};
    assert_int_equal(
        lf_safetensors_writer_add(w, name, LF_ST_DTYPE_F32, rank, shape, data, (size_t)n * 4, &err),
        LF_OK);
}

/* A random SD 1.5-style TAESD decoder: 4 latent channels, 16-wide, no
** pooling branch, a 1x1 skip conv in one block. */
static void sd15_style_decoder(void **state)
{
    char tmp[] = "/tmp/lcmflow-taesd-XXXXXX", file[600];
    assert_non_null(mkdtemp(tmp));
    snprintf(file, sizeof file, "%s/taesd_decoder.safetensors", tmp);
    struct lf_error err = {0};
    struct lf_safetensors_writer *w;
    assert_int_equal(lf_safetensors_writer_create(&w, &err), LF_OK);
    add_random(w, "1.weight", 4, 16, 4, 3, 3);
    add_random(w, "1.bias", 1, 16, 0, 0, 0);
    int blocks[] = {3, 4, 6};
    char name[64];
    for (int b = 0; b < 3; b++)
        for (int c = 0; c <= 4; c += 2) {
            snprintf(name, sizeof name, "%d.conv.%d.weight", blocks[b], c);
            add_random(w, name, 4, 16, 16, 3, 3);
            snprintf(name, sizeof name, "%d.conv.%d.bias", blocks[b], c);
            add_random(w, name, 1, 16, 0, 0, 0);
        }
    add_random(w, "4.skip.weight", 4, 16, 16, 1, 1);
    add_random(w, "5.weight", 4, 16, 16, 3, 3); /* bias-less: upsample first */
    add_random(w, "7.weight", 4, 3, 16, 3, 3);
    add_random(w, "7.bias", 1, 3, 0, 0, 0);
    assert_int_equal(lf_safetensors_writer_write(w, file, &err), LF_OK);
    lf_safetensors_writer_free(w);

    struct sd_taesd t;
    if (sd_taesd_load(op_test_device(), NULL, file, LF_DTYPE_F32, &t, &err) != LF_OK)
        fail_msg("%s", err.message);
    assert_int_equal(t.latent_channels, 4);
    assert_int_equal(t.decoder.pool_block_count, 0);
    assert_int_equal(t.decoder.block_count, 3);
    assert_true(t.decoder.layers[2].skip_conv);
    int64_t shape[4] = {1, 4, 3, 5};
    float lat[60];
    op_test_random(lat, 60, -3.0f, 3.0f, 9);
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, shape, lat), *y;
    assert_int_equal(sd_taesd_decode(&t, x, &y, &err), LF_OK);
    assert_int_equal(y->shape[1], 3);
    assert_int_equal(y->shape[2], 6); /* one bias-less conv: one x2 upsample */
    assert_int_equal(y->shape[3], 10);
    /* No encoder was given. */
    assert_int_equal(sd_taesd_encode(&t, y, &x, &err), LF_ERR_UNSUPPORTED);
    lf_tensor_release(y);
    sd_taesd_clear(&t);
    unlink(file);
    rmdir(tmp);
}

static void wrong_files_are_refused(void **state)
{
    char enc[700], dec[700];
    struct lf_error err = {0};
    struct sd_taesd t;
    path_of(enc, sizeof enc, "taef2_encoder.safetensors");
    path_of(dec, sizeof dec, "taef2_decoder.safetensors");
    assert_int_equal(sd_taesd_load(op_test_device(), dec, NULL, LF_DTYPE_F32, &t, &err),
                     LF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "decoder, given as the encoder"));
    assert_non_null(strstr(err.path, "taef2_decoder"));
    assert_int_equal(sd_taesd_load(op_test_device(), NULL, enc, LF_DTYPE_F32, &t, &err),
                     LF_ERR_FORMAT);
    assert_int_equal(sd_taesd_load(op_test_device(), NULL, NULL, LF_DTYPE_F32, &t, &err),
                     LF_ERR_INVALID);
    char other[700];
    snprintf(other, sizeof other, "%s/../tiny-sd15/lcm_lora.safetensors", dir);
    if (access(other, R_OK) == 0) {
        assert_int_equal(sd_taesd_load(op_test_device(), other, NULL, LF_DTYPE_F32, &t, &err),
                         LF_ERR_FORMAT);
        assert_non_null(strstr(err.message, "not a TAESD"));
    }
    assert_null(t.encoder.weights);
}

int main(void)
{
    char fixtures[512];
    if (!test_fixtures_find(fixtures, sizeof fixtures, "taesd/taef2_decoder.safetensors"))
        return 77;
    snprintf(dir, sizeof dir, "%s/taesd", fixtures);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(structure_from_weights),
        cmocka_unit_test(wrong_files_are_refused),
        cmocka_unit_test(diffusers_layout),
        cmocka_unit_test(sd15_style_decoder),
        cmocka_unit_test(taef2_f32),
        cmocka_unit_test(taef2_f16),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
