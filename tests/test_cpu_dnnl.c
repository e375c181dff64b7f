/*
** test_cpu_dnnl.c - the CPU backend's oneDNN calls (runtime/cpu/cpu_dnnl.h)
** and its plain kernels (concat, resize, permute, timestep embedding)
** against the references: GEMM with every transpose, batch and broadcast
** combination and bias; convolutions of the SD shapes (3x3 same, stride 2
** with asymmetric padding, 1x1, 4 and 3 channels; Winograd from 16384
** outputs) with plain and packed weights, whole and in bands of rows; the
** packed layout's round trip (bit exact); the LoRA merge.
*/
#include "cpu_dnnl.h"
#include "cpu_kernels.h"
#include "op_test.h"
#include "ref_conv.h"
#include "ref_gemm.h"
#include "ref_layout.h"
#include "ref_misc.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static float *rnd(size_t n, float lo, float hi, uint32_t seed)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    op_test_random(p, n, lo, hi, seed);
    return p;
}

static void gemm_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                      bool a_shared, bool b_shared, bool bias)
{
    int64_t as = a_shared ? 0 : m * k, bs = b_shared ? 0 : k * n;
    size_t na = (size_t)((a_shared ? 1 : batch) * m * k),
           nb = (size_t)((b_shared ? 1 : batch) * k * n);
    float *a = rnd(na, -1, 1, 1), *b = rnd(nb, -1, 1, 2), *bi = rnd((size_t)n, -1, 1, 3);
    float *c = malloc((size_t)(batch * m * n) * 4), *want = malloc((size_t)(batch * m * n) * 4);
    struct lf_cpu_gemm g = {a, b, bias ? bi : NULL, c, m, n, k, batch, as, bs, ta, tb, false};
    struct lf_error err = {0};
    if (lf_cpu_gemm(&g, &err) != LF_OK) fail_msg("gemm: %s", err.message);
    ref_gemm(a, b, bias ? bi : NULL, ta, tb, batch, m, n, k, as, bs, want);
    char label[96];
    snprintf(label, sizeof label, "gemm B%lld %lldx%lldx%lld%s%s%s%s%s", (long long)batch,
             (long long)m, (long long)n, (long long)k, ta ? " ta" : "", tb ? " tb" : "",
             a_shared ? " a-shared" : "", b_shared ? " b-shared" : "", bias ? " bias" : "");
    op_test_assert_close(label, c, want, (size_t)(batch * m * n), 1e-5, 1e-4);
    free(a), free(b), free(bi), free(c), free(want);
}

static void gemm_matches_reference(void **state)
{
    for (int t = 0; t < 4; t++) {
        gemm_case(1, 37, 19, 23, t & 1, t & 2, false, false, t == 1);
        gemm_case(3, 16, 33, 8, t & 1, t & 2, false, false, true);
        gemm_case(3, 16, 33, 8, t & 1, t & 2, false, true, t & 1);
        gemm_case(2, 9, 5, 77, t & 1, t & 2, true, false, false);
    }
    gemm_case(1, 4096, 320, 320, false, true, false, false, true); /* a Linear of the UNet */
    gemm_case(1, 1, 1, 1, false, false, false, false, false);
}

struct conv_case {
    int64_t batch, c, h, w, o, k, stride, pt, pb, pl, pr;
    bool bias;
};

/* cc through lf_cpu_conv2d into y (ny values): weights packed or plain. */
static void conv_run(const struct conv_case *cc, bool packed, const float *x, const float *w,
                     const float *b, float *y)
{
    int64_t oh = (cc->h + cc->pt + cc->pb - cc->k) / cc->stride + 1;
    int64_t ow = (cc->w + cc->pl + cc->pr - cc->k) / cc->stride + 1;
    struct lf_error err = {0};
    struct lf_cpu_wformat fmt = {0};
    void *pw = NULL;
    size_t bytes = 0;
    uint64_t cap = 0;
    if (packed && lf_cpu_conv_weight_pack(NULL, w, cc->o, cc->c, cc->k, cc->k, false, &pw, &bytes,
                                          &cap, &fmt, &err) != LF_OK)
        fail_msg("pack: %s", err.message);
    struct lf_cpu_conv p = {.x = x,
                            .weight = packed ? pw : w,
                            .wformat = packed ? &fmt : NULL,
                            .bias = cc->bias ? b : NULL,
                            .y = y,
                            .batch = cc->batch,
                            .c = cc->c,
                            .h = cc->h,
                            .w = cc->w,
                            .o = cc->o,
                            .kh = cc->k,
                            .kw = cc->k,
                            .oh = oh,
                            .ow = ow,
                            .stride = cc->stride,
                            .pad_top = cc->pt,
                            .pad_bottom = cc->pb,
                            .pad_left = cc->pl,
                            .pad_right = cc->pr};
    if (lf_cpu_conv2d(&p, &err) != LF_OK) fail_msg("conv: %s", err.message);
    lf_cpu_block_free(pw);
}

static void conv_case(const struct conv_case *cc, bool packed)
{
    struct lf_conv2d_params prm = {(int)cc->stride, (int)cc->pt, (int)cc->pb, (int)cc->pl,
                                   (int)cc->pr};
    int64_t oh = (cc->h + cc->pt + cc->pb - cc->k) / cc->stride + 1;
    int64_t ow = (cc->w + cc->pl + cc->pr - cc->k) / cc->stride + 1;
    size_t nx = (size_t)(cc->batch * cc->c * cc->h * cc->w),
           nw = (size_t)(cc->o * cc->c * cc->k * cc->k);
    size_t ny = (size_t)(cc->batch * cc->o * oh * ow);
    float *x = rnd(nx, -1, 1, 5), *w = rnd(nw, -0.3f, 0.3f, 6), *b = rnd((size_t)cc->o, -1, 1, 7);
    float *y = malloc(ny * 4), *want = malloc(ny * 4);
    struct lf_error err = {0};
    struct lf_cpu_wformat fmt = {0};
    void *pw = NULL;
    size_t bytes = 0;
    uint64_t cap = 0;
    if (packed) {
        enum lf_status st = lf_cpu_conv_weight_pack(NULL, w, cc->o, cc->c, cc->k, cc->k, false, &pw,
                                                    &bytes, &cap, &fmt, &err);
        if (st == LF_ERR_UNSUPPORTED) {
            printf("  (packing %lld->%lld k%lld: %s)\n", (long long)cc->c, (long long)cc->o,
                   (long long)cc->k, err.message);
            packed = false;
        } else if (st != LF_OK) {
            fail_msg("pack: %s", err.message);
        } else {
            assert_true(bytes >= nw * 4);
        }
    }
    struct lf_cpu_conv p = {x,
                            packed ? pw : w,
                            packed ? &fmt : NULL,
                            cc->bias ? b : NULL,
                            y,
                            cc->batch,
                            cc->c,
                            cc->h,
                            cc->w,
                            cc->o,
                            cc->k,
                            cc->k,
                            oh,
                            ow,
                            cc->stride,
                            cc->pt,
                            cc->pb,
                            cc->pl,
                            cc->pr,
                            false,
                            0,
                            0};
    if (lf_cpu_conv2d(&p, &err) != LF_OK) fail_msg("conv: %s", err.message);
    ref_conv2d(x, w, cc->bias ? b : NULL, cc->batch, cc->c, cc->h, cc->w, cc->o, cc->k, cc->k, &prm,
               want);
    char label[128];
    snprintf(label, sizeof label, "conv B%lld %lld->%lld %lldx%lld k%lld s%lld%s",
             (long long)cc->batch, (long long)cc->c, (long long)cc->o, (long long)cc->h,
             (long long)cc->w, (long long)cc->k, (long long)cc->stride, packed ? " packed" : "");
    op_test_assert_close(label, y, want, ny, 1e-4, 1e-4);
    if (packed) { /* unpacking gives the very weights back */
        float *back = malloc(nw * 4);
        if (lf_cpu_conv_weight_unpack(pw, &fmt, back, &err) != LF_OK)
            fail_msg("unpack: %s", err.message);
        assert_memory_equal(back, w, nw * 4);
        free(back);
    }
    lf_cpu_block_free(pw), free(x), free(w), free(b), free(y), free(want);
}

static void conv_matches_reference(void **state)
{
    static const struct conv_case cases[] = {
        {1, 32, 16, 16, 32, 3, 1, 1, 1, 1, 1, true},
        {2, 16, 9, 7, 48, 3, 1, 1, 1, 1, 1, false},
        {1, 32, 16, 16, 32, 3, 2, 0, 1, 0, 1, true},
        {1, 64, 8, 8, 32, 1, 1, 0, 0, 0, 0, true},
        {1, 4, 16, 16, 320, 3, 1, 1, 1, 1, 1, true},
        {1, 320, 8, 8, 4, 3, 1, 1, 1, 1, 1, true},
        {1, 3, 17, 19, 16, 3, 1, 1, 1, 1, 1, true},
        {1, 320, 24, 24, 320, 3, 1, 1, 1, 1, 1, true},
        /* Winograd (3x3, stride 1, >= 16384 outputs) */
        {1, 32, 128, 132, 32, 3, 1, 1, 1, 1, 1, true},
        {2, 48, 96, 96, 16, 3, 1, 1, 1, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        conv_case(&cases[i], false);
        conv_case(&cases[i], true);
    }
}

/* A convolution made in bands of output rows (lf_cpu_conv_set_band_bytes)
** matches the reference, and a direct one gives the bits of the whole one:
** each band sees the same input rows, padding only at the image's edges,
** and the same kernel.  (Winograd schedules its tiles per shape: close.) */
static void conv_in_bands_matches_whole(void **state)
{
    static const struct {
        struct conv_case cc;
        size_t band_bytes;
        bool exact;
    } cases[] = {
        {{1, 32, 37, 20, 16, 3, 1, 1, 1, 1, 1, true}, 30000, true},   /* 37 rows: 4 bands */
        {{2, 16, 29, 12, 48, 3, 1, 1, 1, 1, 1, false}, 30000, true},  /* batch 2 */
        {{1, 32, 33, 16, 32, 3, 2, 0, 1, 0, 1, true}, 40000, true},   /* stride 2, padding 0/1 */
        {{1, 64, 20, 8, 32, 1, 1, 0, 0, 0, 0, true}, 20000, true},    /* 1x1 */
        {{1, 64, 72, 40, 64, 3, 1, 1, 1, 1, 1, true}, 1 << 20, true}, /* bands of 48 rows */
        /* Winograd whole; a band of 128 rows (16384 outputs, Winograd) and
        ** one of 12 (direct) */
        {{1, 16, 140, 128, 16, 3, 1, 1, 1, 1, 1, true}, 2 << 20, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct conv_case *cc = &cases[i].cc;
        int64_t oh = (cc->h + cc->pt + cc->pb - cc->k) / cc->stride + 1;
        int64_t ow = (cc->w + cc->pl + cc->pr - cc->k) / cc->stride + 1;
        size_t nx = (size_t)(cc->batch * cc->c * cc->h * cc->w),
               nw = (size_t)(cc->o * cc->c * cc->k * cc->k),
               ny = (size_t)(cc->batch * cc->o * oh * ow);
        float *x = rnd(nx, -1, 1, 21), *w = rnd(nw, -0.3f, 0.3f, 22),
              *b = rnd((size_t)cc->o, -1, 1, 23);
        float *whole = malloc(ny * 4), *banded = malloc(ny * 4), *want = malloc(ny * 4);
        struct lf_conv2d_params prm = {(int)cc->stride, (int)cc->pt, (int)cc->pb, (int)cc->pl,
                                       (int)cc->pr};
        ref_conv2d(x, w, cc->bias ? b : NULL, cc->batch, cc->c, cc->h, cc->w, cc->o, cc->k, cc->k,
                   &prm, want);
        for (int packed = 0; packed < 2; packed++) {
            lf_cpu_conv_set_band_bytes(0);
            conv_run(cc, packed, x, w, b, whole);
            lf_cpu_conv_set_band_bytes(cases[i].band_bytes);
            memset(banded, 0xff, ny * 4); /* NaN: a row no band wrote shows */
            conv_run(cc, packed, x, w, b, banded);
            lf_cpu_conv_set_band_bytes(0);
            char label[128];
            snprintf(label, sizeof label, "conv in bands, case %zu%s", i, packed ? " packed" : "");
            op_test_assert_close(label, banded, want, ny, 1e-4, 1e-4);
            if (cases[i].exact) assert_memory_equal(banded, whole, ny * 4);
        }
        free(x), free(w), free(b), free(whole), free(banded), free(want);
    }
}

static void lora_merge_matches_reference(void **state)
{
    int64_t n = 320, k = 2880, r = 8;
    float *w = rnd((size_t)(n * k), -1, 1, 8), *want = malloc((size_t)(n * k) * 4);
    float *up = rnd((size_t)(n * r), -1, 1, 9), *down = rnd((size_t)(r * k), -1, 1, 10);
    memcpy(want, w, (size_t)(n * k) * 4);
    struct lf_error err = {0};
    if (lf_cpu_lora_merge(w, LF_DTYPE_F32, up, down, n, k, r, 0.75f, &err) != LF_OK)
        fail_msg("lora: %s", err.message);
    ref_lora_merge(want, up, down, n, k, r, 0.75f);
    op_test_assert_close("lora merge 320 x 2880 rank 8", w, want, (size_t)(n * k), 1e-5, 1e-5);
    free(w), free(want), free(up), free(down);
}

static void layout_kernels_match_reference(void **state)
{
    int64_t sa[4] = {2, 3, 5, 7}, sb[4] = {2, 4, 5, 7};
    float *a = rnd(210, -1, 1, 11), *b = rnd(280, -1, 1, 12), *y = malloc(960 * 4),
          *want = malloc(960 * 4);
    lf_cpu_concat(a, b, y, 2, 3, 4, 35, 4);
    ref_concat(a, sa, b, sb, 4, 1, want);
    assert_memory_equal(y, want, 490 * 4);
    float *big = malloc(2 * 3 * 14 * 10 * 4), *bigw = malloc(2 * 3 * 14 * 10 * 4);
    lf_cpu_resize_nearest(a, big, 6, 5, 7, 14, 10, 4);
    ref_resize_nearest(a, 6, 5, 7, 14, 10, bigw);
    assert_memory_equal(big, bigw, 2 * 3 * 14 * 10 * 4);
    static const int perms[][4] = {{0, 2, 3, 1}, {0, 2, 1, 3}, {3, 2, 1, 0}, {1, 0, 2, 3}};
    for (int i = 0; i < 4; i++) {
        lf_cpu_permute(a, y, 4, sa, perms[i], 4);
        ref_permute(a, sa, 4, perms[i], want);
        assert_memory_equal(y, want, 210 * 4);
    }
    int perm3[3] = {1, 0, 2};
    int64_t s3[3] = {6, 5, 7};
    lf_cpu_permute(a, y, 3, s3, perm3, 4);
    ref_permute(a, s3, 3, perm3, want);
    assert_memory_equal(y, want, 210 * 4);
    float t[3] = {999, 1, 261.5f};
    lf_cpu_timestep_embedding(t, y, 3, 320, true, 0, 10000);
    ref_timestep_embedding(t, 3, 320, true, 0, 10000, want);
    op_test_assert_close("timestep embedding", y, want, 3 * 320, 3e-4, 0);
    lf_cpu_timestep_embedding(t, y, 3, 64, false, 1, 10000);
    ref_timestep_embedding(t, 3, 64, false, 1, 10000, want);
    op_test_assert_close("timestep embedding, sin first", y, want, 3 * 64, 3e-4, 0);
    free(a), free(b), free(y), free(want), free(big), free(bigw);
}

static int teardown(void **state)
{
    lf_cpu_dnnl_release();
    return 0;
}

int main(void)
{
    char buf[128];
    printf("%s\n", lf_cpu_dnnl_version(buf, sizeof buf));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemm_matches_reference),
        cmocka_unit_test(conv_matches_reference),
        cmocka_unit_test(conv_in_bands_matches_whole),
        cmocka_unit_test(lora_merge_matches_reference),
        cmocka_unit_test(layout_kernels_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
