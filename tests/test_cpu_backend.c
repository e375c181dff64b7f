/*
** test_cpu_backend.c - the native CPU backend as a device: choosing it by
** name, weight preparation (conv weights packed into oneDNN's layout, f16
** weights held as f32) invisible to downloads, uploads, ops and the LoRA
** merge (which runs in the packed form), and its memory counters.
*/
#include "backend.h"
#include "op_test.h"
#include "ref_conv.h"
#include "ref_gemm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static struct lf_device *cpu;

static int open_cpu(void **state)
{
    struct lf_error err = {0};
    setenv("LCMFLOW_DEVICE", "cpu", 1);
    if (lf_device_create(NULL, &cpu, &err) != LF_OK) {
        fprintf(stderr, "opening the CPU backend: %s\n", err.message);
        return -1;
    }
    unsetenv("LCMFLOW_DEVICE");
    return 0;
}

static int close_cpu(void **state)
{
    lf_device_destroy(cpu);
    return 0;
}

/* v as a tensor of dtype holds it. */
static float round_to(enum lf_dtype dtype, float v)
{
    if (dtype == LF_DTYPE_F16) return lf_f16_to_f32(lf_f32_to_f16(v));
    if (dtype == LF_DTYPE_BF16) return lf_bf16_to_f32(lf_f32_to_bf16(v));
    return v;
}

static struct lf_tensor *make(enum lf_dtype dtype, int rank, const int64_t *shape, float *data)
{
    struct lf_tensor *t = NULL;
    struct lf_error err = {0};
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    for (int64_t i = 0; i < n; i++)
        data[i] = round_to(dtype, data[i]);
    if (lf_tensor_from_f32(cpu, dtype, rank, shape, data, &t, &err) != LF_OK)
        fail_msg("tensor: %s", err.message);
    return t;
}

static void chosen_by_name(void **state)
{
    const struct lf_device_info *info = lf_device_get_info(cpu);
    assert_int_equal(info->backend, LF_BACKEND_CPU);
    assert_int_equal(info->type, LF_DEVICE_CPU);
    assert_true(info->caps & LF_DEVICE_CAP_SUPPORTED);
    assert_non_null(strstr(info->details, "oneDNN"));
    struct lf_device *d = NULL;
    struct lf_error err = {0};
    setenv("LCMFLOW_DEVICE", "no-such-device", 1);
    assert_int_equal(lf_device_create(NULL, &d, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "device 'no-such-device' not found"));
    unsetenv("LCMFLOW_DEVICE");
    assert_null(d);
}

/* A packed conv weight downloads as it was uploaded and convolves as the
** plain one does; a write after packing replaces it. */
static void conv_weight_prepared(void **state)
{
    int64_t ws[4] = {32, 16, 3, 3}, xs[4] = {1, 16, 12, 10}, nw = 32 * 16 * 9, nx = 16 * 120;
    float *w = malloc((size_t)nw * 4), *x = malloc((size_t)nx * 4), *back = malloc((size_t)nw * 4);
    float *want = malloc(32 * 120 * 4);
    op_test_random(w, (size_t)nw, -1, 1, 1);
    op_test_random(x, (size_t)nx, -1, 1, 2);
    /* f32 and f16 pack as f32, bf16 into a bf16 blocked layout. */
    const enum lf_dtype dtypes[] = {LF_DTYPE_F32, LF_DTYPE_F16, LF_DTYPE_BF16};
    for (int dt = 0; dt < 3; dt++) {
        enum lf_dtype dtype = dtypes[dt];
        struct lf_tensor *tw = make(dtype, 4, ws, w), *tx = make(LF_DTYPE_F32, 4, xs, x), *ty;
        struct lf_device_memory_stats before, after;
        lf_device_memory_stats(cpu, &before);
        assert_true(lf_tensor_prepare_weight(tw));
        lf_device_memory_stats(cpu, &after);
        assert_true(after.in_use >= before.in_use); /* f16 held as f32 grows */
        assert_true(after.reserved >= after.in_use);
        assert_false(lf_tensor_prepare_weight(tw)); /* once */
        struct lf_error err = {0};
        assert_int_equal(lf_tensor_download_f32(tw, back, nw, &err), LF_OK);
        assert_memory_equal(back, w, (size_t)nw * 4);
        struct lf_conv2d_params p = {1, 1, 1, 1, 1};
        assert_int_equal(lf_op_conv2d(tx, tw, NULL, &p, &ty, &err), LF_OK);
        float *got = op_test_download(ty);
        ref_conv2d(x, w, NULL, 1, 16, 12, 10, 32, 3, 3, &p, want);
        op_test_assert_close("conv on packed weights", got, want, 32 * 120, 1e-4, 1e-4);
        free(got);
        lf_tensor_release(ty);
        for (int64_t i = 0; i < nw; i++)
            back[i] = dt ? lf_f16_to_f32(lf_f32_to_f16(0.5f * w[i])) : 0.5f * w[i];
        assert_int_equal(lf_tensor_upload_f32(tw, back, nw, &err), LF_OK);
        float *again = op_test_download(tw);
        assert_memory_equal(again, back, (size_t)nw * 4);
        free(again);
        lf_tensor_release(tw), lf_tensor_release(tx);
    }
    free(w), free(x), free(back), free(want);
}

/* An f16 linear weight held as f32: downloads give the f16 values, the GEMM
** and a LoRA merge (rounded once to f16) match the reference. */
static void f16_linear_weight_prepared(void **state)
{
    int64_t n = 24, k = 40, r = 4, m = 7;
    int64_t ws[2] = {n, k}, xs[2] = {m, k}, us[2] = {n, r}, ds[2] = {r, k};
    float *w = malloc((size_t)(n * k) * 4), *x = malloc((size_t)(m * k) * 4);
    float *up = malloc((size_t)(n * r) * 4), *down = malloc((size_t)(r * k) * 4);
    float *want = malloc((size_t)(m * n) * 4);
    op_test_random(w, (size_t)(n * k), -1, 1, 3);
    op_test_random(x, (size_t)(m * k), -1, 1, 4);
    op_test_random(up, (size_t)(n * r), -1, 1, 5);
    op_test_random(down, (size_t)(r * k), -1, 1, 6);
    struct lf_tensor *tw = make(LF_DTYPE_F16, 2, ws, w), *tx = make(LF_DTYPE_F32, 2, xs, x), *ty;
    struct lf_tensor *tu = make(LF_DTYPE_F32, 2, us, up), *td = make(LF_DTYPE_F32, 2, ds, down);
    assert_true(lf_tensor_prepare_weight(tw));
    uint16_t raw[24 * 40];
    struct lf_error err = {0};
    assert_int_equal(lf_tensor_download(tw, raw, sizeof raw, &err), LF_OK);
    for (int64_t i = 0; i < n * k; i++)
        assert_int_equal(raw[i], lf_f32_to_f16(w[i]));
    assert_int_equal(lf_op_linear(tx, tw, NULL, &ty, &err), LF_OK);
    float *got = op_test_download(ty);
    ref_gemm(x, w, NULL, false, true, 1, m, n, k, 0, 0, want);
    op_test_assert_close("linear on an f16 weight held as f32", got, want, (size_t)(m * n), 1e-5,
                         1e-4);
    free(got);
    lf_tensor_release(ty);
    assert_int_equal(lf_op_lora_merge(tw, tu, td, 0.5f, &err), LF_OK);
    ref_lora_merge(w, up, down, n, k, r, 0.5f);
    assert_int_equal(lf_tensor_download(tw, raw, sizeof raw, &err), LF_OK);
    for (int64_t i = 0; i < n * k; i++)
        assert_int_equal(raw[i], lf_f32_to_f16(w[i]));
    lf_tensor_release(tw), lf_tensor_release(tx), lf_tensor_release(tu), lf_tensor_release(td);
    free(w), free(x), free(up), free(down), free(want);
}

/* A LoRA merge as sd_lora_apply does it on a packed conv weight: a copy
** of the base keeps the packed form (the hint declines it: already
** prepared), the merge runs in that form and gives the reference values
** (f16: rounded once), and merging again from the base at another
** strength gives exactly what a first merge at that strength gives. */
static void conv_weight_merged_packed(void **state)
{
    int64_t o = 48, c = 32, r = 8, k = c * 9, nw = o * k;
    int64_t ws[4] = {o, c, 3, 3}, us[4] = {o, r, 1, 1}, ds[4] = {r, c, 3, 3};
    float *w = malloc((size_t)nw * 4), *want = malloc((size_t)nw * 4);
    float *up = malloc((size_t)(o * r) * 4), *down = malloc((size_t)(r * k) * 4);
    op_test_random(w, (size_t)nw, -1, 1, 11);
    op_test_random(up, (size_t)(o * r), -1, 1, 12);
    op_test_random(down, (size_t)(r * k), -1, 1, 13);
    /* f32 and f16 pack as f32, bf16 into a bf16 blocked layout. */
    const enum lf_dtype dtypes[] = {LF_DTYPE_F32, LF_DTYPE_F16, LF_DTYPE_BF16};
    for (int dt = 0; dt < 3; dt++) {
        enum lf_dtype dtype = dtypes[dt];
        struct lf_tensor *base = make(dtype, 4, ws, w);
        struct lf_tensor *tu = make(LF_DTYPE_F32, 4, us, up), *td = make(LF_DTYPE_F32, 4, ds, down);
        assert_true(lf_tensor_prepare_weight(base));
        float *first = NULL;
        const float strengths[3] = {1.0f, 0.5f, 1.0f};
        for (int i = 0; i < 3; i++) {
            struct lf_tensor *acc = NULL;
            struct lf_error err = {0};
            assert_int_equal(lf_tensor_create(cpu, dtype, 4, ws, &acc, &err), LF_OK);
            assert_int_equal(lf_op_copy(acc, base, &err), LF_OK);
            assert_false(lf_tensor_prepare_weight(acc)); /* packed already */
            assert_int_equal(lf_op_lora_merge(acc, tu, td, strengths[i], &err), LF_OK);
            float *got = op_test_download(acc);
            memcpy(want, w, (size_t)nw * 4);
            ref_lora_merge(want, up, down, o, k, r, strengths[i]);
            for (int64_t j = 0; j < nw; j++)
                want[j] = round_to(dtype, want[j]);
            op_test_assert_close("merge into packed weights", got, want, (size_t)nw, 1e-5,
                                 dtype == LF_DTYPE_BF16  ? 8e-3
                                 : dtype == LF_DTYPE_F16 ? 1e-3
                                                         : 1e-5);
            if (i == 0) first = got;
            if (i == 2) assert_memory_equal(got, first, (size_t)nw * 4); /* no drift */
            if (i != 0) free(got);
            lf_tensor_release(acc);
        }
        float *still = op_test_download(base);
        assert_memory_equal(still, w, (size_t)nw * 4); /* the base is untouched */
        free(still), free(first);
        lf_tensor_release(base), lf_tensor_release(tu), lf_tensor_release(td);
    }
    free(w), free(want), free(up), free(down);
}

/* Views share a buffer: the hint is declined, the values stay. */
static void shared_weight_not_prepared(void **state)
{
    float w[2 * 3 * 3 * 3];
    op_test_random(w, 54, -1, 1, 7);
    int64_t ws[4] = {2, 3, 3, 3}, flat[2] = {2, 27};
    struct lf_tensor *tw = make(LF_DTYPE_F32, 4, ws, w), *view = NULL;
    struct lf_error err = {0};
    assert_int_equal(lf_tensor_reshape(tw, 2, flat, &view, &err), LF_OK);
    assert_false(lf_tensor_prepare_weight(tw));
    float *got = op_test_download(view);
    assert_memory_equal(got, w, sizeof w);
    free(got);
    lf_tensor_release(view), lf_tensor_release(tw);
}

/* Freed blocks are reused, and counted as reserved, not in use. */
static void memory_counted(void **state)
{
    struct lf_device_memory_stats a, b, c;
    lf_device_memory_stats(cpu, &a);
    int64_t shape[1] = {1 << 20};
    struct lf_tensor *t = NULL;
    struct lf_error err = {0};
    assert_int_equal(lf_tensor_create(cpu, LF_DTYPE_F32, 1, shape, &t, &err), LF_OK);
    lf_device_memory_stats(cpu, &b);
    assert_int_equal(b.in_use - a.in_use, 4u << 20);
    assert_true(b.peak_in_use >= b.in_use);
    lf_tensor_release(t);
    lf_device_memory_stats(cpu, &c);
    assert_int_equal(c.in_use, a.in_use);
    assert_true(c.reserved >= c.in_use);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chosen_by_name),
        cmocka_unit_test(conv_weight_prepared),
        cmocka_unit_test(f16_linear_weight_prepared),
        cmocka_unit_test(conv_weight_merged_packed),
        cmocka_unit_test(shared_weight_not_prepared),
        cmocka_unit_test(memory_counted),
    };
    return cmocka_run_group_tests(tests, open_cpu, close_cpu);
}
