/*
** test_ops_conv.c - lf_op_conv2d against the plain-C reference (ref_conv.c)
** for every variant (LCMFLOW_OP_VARIANT=portable|lavapipe|gpu; the test
** also checks which shader each variant picks), on SD 1.5's
** kernels (3x3 stride 1 pad 1, 3x3 stride 2 pad 1, 3x3 stride 2 pad
** (0,1,0,1), 1x1) and general ones (5x3, stride 3, uneven padding), odd
** sizes, output-channel counts that are not multiples of the tiles, with
** and without bias, f32 and f16 weights and activations; and a 1x1 conv
** over a 130 MiB input (beyond lavapipe's 128 MiB maxStorageBufferRange).
**
** Inputs are uniform in [-1, 1), so |y| <= K = C * KH * KW.  Tolerances:
** f32 output 1e-4 absolute + 1e-4 relative (f32 accumulation of at most a
** few hundred products against double); f16 output 2e-3 absolute + 2e-3
** relative (the result is rounded to f16: 2^-11 relative).
*/
#include "op_test.h"
#include "vk_ops.h"
#include "ref_conv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct conv_case {
    int64_t B, C, H, W, O, KH, KW;
    struct lf_conv2d_params p;
    bool lavapipe; /* the lavapipe variant takes this shape */
};

static const struct conv_case cases[] = {
    {1, 4, 16, 16, 8, 3, 3, {1, 1, 1, 1, 1}, true},
    {2, 5, 9, 24, 19, 3, 3, {1, 1, 1, 1, 1}, true},
    {1, 7, 17, 16, 21, 3, 3, {2, 1, 1, 1, 1}, true}, /* 9x8 out: partial tile */
    {1, 6, 16, 16, 10, 3, 3, {2, 0, 1, 0, 1}, true}, /* VAE encoder downsample */
    {2, 12, 8, 8, 33, 1, 1, {1, 0, 0, 0, 0}, true},  /* 1x1 */
    {1, 1, 4, 64, 3, 1, 1, {1, 0, 0, 0, 0}, true},   /* one input channel */
    {1, 3, 1, 8, 2, 3, 3, {1, 1, 1, 1, 1}, true},    /* one row: all padding */
    {1, 32, 8, 8, 32, 3, 3, {1, 1, 1, 1, 1}, true},  /* the tiny model's width */
    {1, 3, 11, 13, 5, 3, 3, {1, 1, 1, 1, 1}, false}, /* odd width */
    {1, 2, 10, 9, 3, 5, 3, {3, 2, 0, 1, 2}, false},  /* general kernel */
    {1, 9, 13, 18, 6, 3, 3, {2, 0, 1, 0, 1}, true},  /* odd downsample */
    {1, 4, 6, 6, 7, 3, 3, {1, 0, 0, 0, 0}, true},    /* no padding */
    /* The 64-channel tiles, full and partial, 8 or 16 positions per lane. */
    {1, 8, 16, 32, 70, 3, 3, {1, 1, 1, 1, 1}, true},
    {1, 6, 8, 8, 64, 3, 3, {1, 1, 1, 1, 1}, true},
    {1, 5, 16, 32, 64, 3, 3, {2, 0, 1, 0, 1}, true},
    {1, 4, 38, 64, 50, 3, 3, {2, 1, 1, 1, 1}, true},
    {1, 10, 32, 16, 96, 1, 1, {1, 0, 0, 0, 0}, true},
    {2, 3, 6, 24, 48, 1, 1, {1, 0, 0, 0, 0}, true},
    /* Output widths that are not multiples of the lane's positions. */
    {1, 4, 12, 12, 50, 3, 3, {1, 1, 1, 1, 1}, true},
    {1, 3, 8, 72, 64, 3, 3, {1, 1, 1, 1, 1}, true},
};

static const char *const variants[] = {"portable", "lavapipe", "gpu"};

static float *random_array(int64_t n, uint32_t seed)
{
    float *a = malloc((size_t)(n ? n : 1) * sizeof *a);
    assert_non_null(a);
    op_test_random(a, (size_t)n, -1, 1, seed);
    return a;
}

static void run_case(const struct conv_case *k, size_t index, enum lf_dtype xt, enum lf_dtype wt,
                     bool with_bias)
{
    int64_t xs[4] = {k->B, k->C, k->H, k->W}, ws[4] = {k->O, k->C, k->KH, k->KW};
    int64_t nx = k->B * k->C * k->H * k->W, nw = k->O * k->C * k->KH * k->KW;
    int64_t Ho = (k->H + k->p.pad_top + k->p.pad_bottom - k->KH) / k->p.stride + 1;
    int64_t Wo = (k->W + k->p.pad_left + k->p.pad_right - k->KW) / k->p.stride + 1;
    int64_t ny = k->B * k->O * Ho * Wo;
    float *x = random_array(nx, (uint32_t)index * 3 + 1);
    float *w = random_array(nw, (uint32_t)index * 3 + 2);
    float *bias = random_array(k->O, (uint32_t)index * 3 + 3);
    float *want = malloc((size_t)ny * sizeof *want);
    struct lf_tensor *tx = op_test_tensor(xt, 4, xs, x), *tw = op_test_tensor(wt, 4, ws, w);
    struct lf_tensor *tb = with_bias ? op_test_tensor(wt, 1, &k->O, bias) : NULL;
    ref_conv2d(x, w, with_bias ? bias : NULL, k->B, k->C, k->H, k->W, k->O, k->KH, k->KW, &k->p,
               want);
    double atol = xt == LF_DTYPE_F16 ? 2e-3 : 1e-4, rtol = atol;
    const struct lf_vk_info *vk = lf_vk_device_info(op_test_device());
    bool check_path = vk && vk->subgroup_size >= 8;
    /* Vulkan: every shader variant; another backend: its one kernel. */
    size_t variant_count = vk ? sizeof variants / sizeof *variants : 1;
    for (size_t v = 0; v < variant_count; v++) {
        setenv("LCMFLOW_OP_VARIANT", variants[v], 1);
        const char *shader = "native";
        if (vk) {
            shader = lf_vk_conv2d_shader(tx, tw, &k->p);
            assert_non_null(shader);
            if (check_path)
                assert_int_equal(strncmp(shader, "conv2d_lavapipe", 15) == 0,
                                 v == 1 && k->lavapipe);
            assert_int_equal(strcmp(shader, "conv2d_gpu") == 0, v == 2);
        }
        struct lf_tensor *ty = NULL;
        struct lf_error err = {0};
        if (lf_op_conv2d(tx, tw, tb, &k->p, &ty, &err) != LF_OK)
            fail_msg("conv2d: %s", err.message);
        assert_int_equal(ty->dtype, xt);
        assert_int_equal(ty->shape[2], Ho);
        assert_int_equal(ty->shape[3], Wo);
        float *got = op_test_download(ty);
        char label[96];
        snprintf(label, sizeof label, "case %zu %s x %s w %s%s", index, shader, lf_dtype_name(xt),
                 lf_dtype_name(wt), with_bias ? " +bias" : "");
        op_test_assert_close(label, got, want, (size_t)ny, atol, rtol);
        free(got);
        lf_tensor_release(ty);
    }
    unsetenv("LCMFLOW_OP_VARIANT");
    free(x), free(w), free(bias), free(want);
    lf_tensor_release(tx), lf_tensor_release(tw), lf_tensor_release(tb);
}

static void conv_matches_reference(void **state)
{
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        /* The 64-channel tile builds take lavapipe 10-30 s each to compile
        ** (per dtype combination): they run SD's combination (f32
        ** activations, f16 weights) only.  Their dtype handling is the same
        ** source as the 16-channel builds', which run every combination. */
        if (cases[c].O >= 48 && cases[c].lavapipe) {
            run_case(&cases[c], c, LF_DTYPE_F32, LF_DTYPE_F16, true);
            /* f16 activations on a shape that takes 16 positions per lane in
            ** f32: those builds were wrong in f16 (the pipeline's f16 PSNR
            ** test caught it), so f16 must go elsewhere and be right. */
            if (c == 12) run_case(&cases[c], c, LF_DTYPE_F16, LF_DTYPE_F16, true);
            continue;
        }
        run_case(&cases[c], c, LF_DTYPE_F32, LF_DTYPE_F32, true);
        run_case(&cases[c], c, LF_DTYPE_F32, LF_DTYPE_F16, c % 2 == 0);
        run_case(&cases[c], c, LF_DTYPE_F16, LF_DTYPE_F16, c % 2 == 1);
    }
    op_test_check_validation();
}

static void conv_rejects_bad_shapes(void **state)
{
    struct lf_error err = {0};
    float v[4 * 3 * 6 * 6] = {0}; /* the largest tensor below: w6 */
    int64_t xs[4] = {1, 3, 5, 5}, ws[4] = {4, 2, 3, 3}, w6[4] = {4, 3, 6, 6}, bs = 5;
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 4, xs, v);
    struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F32, 4, ws, v);
    struct lf_tensor *tw6 = op_test_tensor(LF_DTYPE_F32, 4, w6, v);
    struct lf_tensor *tb = op_test_tensor(LF_DTYPE_F32, 1, &bs, v), *ty = NULL;
    struct lf_conv2d_params p = {1, 0, 0, 0, 0}, bad = {0, 0, 0, 0, 0};
    assert_int_equal(lf_op_conv2d(tx, tw, NULL, &p, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "[O, C, KH, KW]"));
    assert_int_equal(lf_op_conv2d(tx, tw6, NULL, &p, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "does not fit"));
    assert_int_equal(lf_op_conv2d(tx, tw6, NULL, &bad, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "stride"));
    ws[1] = 3;
    struct lf_tensor *tw3 = op_test_tensor(LF_DTYPE_F32, 4, ws, v);
    assert_int_equal(lf_op_conv2d(tx, tw3, tb, &p, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "bias"));
    assert_null(ty);
    lf_tensor_release(tx), lf_tensor_release(tw), lf_tensor_release(tw6);
    lf_tensor_release(tw3), lf_tensor_release(tb);
    op_test_check_validation();
}

/* 128 x 512 x 520 f32 = 130 MiB of input: one binding could not reach it. */
static void conv_beyond_binding_range(void **state)
{
    const int64_t C = 128, H = 512, W = 520, O = 4, S = H * W;
    int64_t xs[4] = {1, C, H, W}, ws[4] = {O, C, 1, 1};
    float *x = malloc((size_t)(C * S) * sizeof *x), *w = random_array(O * C, 7);
    float *want = malloc((size_t)(O * S) * sizeof *want);
    assert_non_null(x);
    assert_non_null(want);
    op_test_random(x, (size_t)(C * S), -1, 1, 8);
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 4, xs, x);
    struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F16, 4, ws, w);
    struct lf_conv2d_params p = {1, 0, 0, 0, 0};
    ref_conv2d(x, w, NULL, 1, C, H, W, O, 1, 1, &p, want);
    bool vk = lf_vk_device_info(op_test_device()) != NULL;
    for (size_t v = 0; v < (vk ? sizeof variants / sizeof *variants : 1); v++) {
        setenv("LCMFLOW_OP_VARIANT", variants[v], 1);
        struct lf_tensor *ty = NULL;
        struct lf_error err = {0};
        if (lf_op_conv2d(tx, tw, NULL, &p, &ty, &err) != LF_OK) fail_msg("conv2d: %s", err.message);
        float *got = op_test_download(ty);
        char label[96];
        snprintf(label, sizeof label, "1x1 over 130 MiB, %s",
                 vk ? lf_vk_conv2d_shader(tx, tw, &p) : "native");
        op_test_assert_close(label, got, want, (size_t)(O * S), 1e-4, 1e-4);
        free(got);
        lf_tensor_release(ty);
    }
    unsetenv("LCMFLOW_OP_VARIANT");
    free(x), free(w), free(want);
    lf_tensor_release(tx), lf_tensor_release(tw);
    op_test_check_validation();
}

/* Unforced, a CPU device takes the lavapipe shader where it can and the
** gpu shader (faster there than the portable one) elsewhere. */
static void conv_default_variant(void **state)
{
    if (!op_test_lavapipe()) skip();
    unsetenv("LCMFLOW_OP_VARIANT");
    float v[3 * 13 * 5 * 9] = {0};
    int64_t odd[4] = {1, 3, 5, 13}, even[4] = {1, 3, 5, 12}, ws[4] = {5, 3, 3, 3};
    struct lf_tensor *to = op_test_tensor(LF_DTYPE_F32, 4, odd, v);
    struct lf_tensor *te = op_test_tensor(LF_DTYPE_F32, 4, even, v);
    struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F16, 4, ws, v);
    struct lf_conv2d_params p = {1, 1, 1, 1, 1};
    assert_string_equal(lf_vk_conv2d_shader(to, tw, &p), "conv2d_gpu");
    assert_string_equal(lf_vk_conv2d_shader(te, tw, &p), "conv2d_lavapipe_k3s1_t16p8");
    lf_tensor_release(to), lf_tensor_release(te), lf_tensor_release(tw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_matches_reference),
        cmocka_unit_test(conv_rejects_bad_shapes),
        cmocka_unit_test(conv_default_variant),
        cmocka_unit_test(conv_beyond_binding_range),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
