/*
** test_ops_elementwise.c - fill, unary, scale, cast, copy and broadcasting
** binary ops against the plain-C reference, in f32 and f16 storage, on odd
** sizes; and an elementwise op over a 200 MiB tensor, beyond lavapipe's
** 128 MiB maxStorageBufferRange.
**
** Tolerances: f32 storage 1e-6 absolute + 1e-5 relative (the shader's erf
** approximation has |error| < 1.2e-7); f16 storage: the output is rounded to
** f16, so 1e-3 absolute + 1e-3 relative (one f16 ulp is 2^-11 relative).
*/
#include "op_test.h"
#include "ref_ops.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const int64_t sizes[] = {1, 7, 64, 1000, 4099};

static void tolerance(enum lf_dtype dtype, double *atol, double *rtol)
{
    *atol = dtype == LF_DTYPE_F16 ? 1e-3 : 1e-6;
    *rtol = dtype == LF_DTYPE_F16 ? 1e-3 : 1e-5;
}

static void unary_matches_reference(void **state)
{
    for (int dt = 0; dt < 2; dt++) {
        enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
        for (int fn = LF_UNARY_GELU; fn <= LF_UNARY_TANH; fn++) {
            for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
                int64_t n = sizes[k];
                float *x = malloc((size_t)n * sizeof *x), *want = malloc((size_t)n * sizeof *x);
                op_test_random(x, (size_t)n, -6, 6, (uint32_t)(fn * 100 + k));
                struct lf_tensor *tx = op_test_tensor(dtype, 1, &n, x), *ty = NULL;
                struct lf_error err = {0};
                assert_int_equal(lf_op_unary(tx, (enum lf_unary)fn, &ty, &err), LF_OK);
                assert_int_equal(ty->dtype, dtype);
                float *got = op_test_download(ty);
                for (int64_t i = 0; i < n; i++)
                    want[i] = ref_unary(x[i], (enum lf_unary)fn);
                double atol, rtol;
                tolerance(dtype, &atol, &rtol);
                char label[64];
                snprintf(label, sizeof label, "unary %d %s n=%lld", fn, lf_dtype_name(dtype),
                         (long long)n);
                op_test_assert_close(label, got, want, (size_t)n, atol, rtol);
                free(x), free(want), free(got);
                lf_tensor_release(tx), lf_tensor_release(ty);
            }
        }
    }
    op_test_check_validation();
}

static void scale_cast_copy_fill(void **state)
{
    struct lf_error err = {0};
    int64_t shape[2] = {3, 37}, n = 3 * 37;
    float x[3 * 37], want[3 * 37];
    op_test_random(x, (size_t)n, -100, 100, 5);
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 2, shape, x), *ty, *th, *tz;
    assert_int_equal(lf_op_scale(tx, 0.5f, 3.0f, &ty, &err), LF_OK);
    float *got = op_test_download(ty);
    for (int i = 0; i < n; i++)
        want[i] = x[i] * 0.5f + 3.0f;
    op_test_assert_close("scale", got, want, (size_t)n, 1e-6, 1e-6);
    free(got);

    assert_int_equal(lf_op_cast(tx, LF_DTYPE_F16, &th, &err), LF_OK);
    assert_int_equal(th->dtype, LF_DTYPE_F16);
    got = op_test_download(th);
    for (int i = 0; i < n; i++)
        want[i] = lf_f16_to_f32(lf_f32_to_f16(x[i]));
    op_test_assert_close("cast f32->f16 rounds to nearest", got, want, (size_t)n, 0, 0 + 1e-9);
    free(got);

    assert_int_equal(lf_tensor_create(op_test_device(), LF_DTYPE_F32, 2, shape, &tz, &err), LF_OK);
    assert_int_equal(lf_op_copy(tz, th, &err), LF_OK);
    got = op_test_download(tz);
    op_test_assert_close("copy f16->f32", got, want, (size_t)n, 0, 1e-9);
    free(got);

    assert_int_equal(lf_op_fill(tz, -2.5f, &err), LF_OK);
    got = op_test_download(tz);
    for (int i = 0; i < n; i++)
        want[i] = -2.5f;
    op_test_assert_close("fill", got, want, (size_t)n, 0, 1e-9);
    free(got);

    /* A bf16 tensor is for loading only where the device does not compute
    ** bf16: ops refuse it with a message.  Where it does (the CPU backend),
    ** ops take it: scale by 2, exact in bf16 for these values. */
    struct lf_tensor *tb;
    assert_int_equal(lf_tensor_create(op_test_device(), LF_DTYPE_BF16, 2, shape, &tb, &err), LF_OK);
    if (!lf_device_has(op_test_device(), LF_DEVICE_CAP_BF16)) {
        assert_int_equal(lf_op_scale(tb, 1, 0, &ty, &err), LF_ERR_INVALID);
        assert_non_null(strstr(err.message, "bf16"));
    } else {
        float *vals = malloc((size_t)n * sizeof *vals);
        for (int i = 0; i < n; i++)
            vals[i] = (float)(i % 17) - 8.0f;
        struct lf_tensor *t2;
        assert_int_equal(lf_tensor_upload_f32(tb, vals, n, &err), LF_OK);
        assert_int_equal(lf_op_scale(tb, 2, 0, &t2, &err), LF_OK);
        assert_int_equal(t2->dtype, LF_DTYPE_BF16);
        got = op_test_download(t2);
        for (int i = 0; i < n; i++)
            want[i] = 2 * vals[i];
        op_test_assert_close("scale bf16", got, want, (size_t)n, 0, 0);
        free(got), free(vals);
        lf_tensor_release(t2);
    }
    lf_tensor_release(tb);
    lf_tensor_release(tx), lf_tensor_release(ty), lf_tensor_release(th), lf_tensor_release(tz);
    op_test_check_validation();
}

struct bcast_case {
    int ra;
    int64_t a[4];
    int rb;
    int64_t b[4];
};

static void binary_broadcasts(void **state)
{
    static const struct bcast_case cases[] = {
        {1, {13}, 1, {13}},
        {4, {2, 5, 3, 7}, 4, {2, 5, 3, 7}},
        {4, {2, 5, 3, 7}, 1, {7}},
        {4, {2, 5, 3, 7}, 4, {1, 5, 1, 1}}, /* per-channel bias on NCHW */
        {3, {4, 1, 6}, 2, {5, 1}},
        {2, {1, 9}, 3, {3, 4, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const struct bcast_case *k = &cases[c];
        for (int dt = 0; dt < 2; dt++) {
            enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
            int64_t na = 1, nb = 1;
            for (int i = 0; i < k->ra; i++)
                na *= k->a[i];
            for (int i = 0; i < k->rb; i++)
                nb *= k->b[i];
            float *a = malloc((size_t)na * 4), *b = malloc((size_t)nb * 4);
            op_test_random(a, (size_t)na, -2, 2, (uint32_t)c);
            op_test_random(b, (size_t)nb, 0.5f, 2, (uint32_t)c + 50);
            struct lf_tensor *ta = op_test_tensor(dtype, k->ra, k->a, a);
            struct lf_tensor *tb = op_test_tensor(dtype, k->rb, k->b, b);
            for (int fn = LF_BINARY_ADD; fn <= LF_BINARY_DIV; fn++) {
                struct lf_tensor *ty = NULL;
                struct lf_error err = {0};
                assert_int_equal(lf_op_binary(ta, tb, (enum lf_binary)fn, &ty, &err), LF_OK);
                /* Reference: index the broadcast shape explicitly. */
                int rank = ty->rank;
                int64_t n = lf_tensor_numel(ty);
                float *want = malloc((size_t)n * 4);
                for (int64_t i = 0; i < n; i++) {
                    int64_t rest = i, ia = 0, ib = 0, sa = 1, sb = 1;
                    for (int d = rank - 1; d >= 0; d--) {
                        int64_t coord = rest % ty->shape[d];
                        rest /= ty->shape[d];
                        int da = k->ra - (rank - d), db = k->rb - (rank - d);
                        if (da >= 0) {
                            ia += (k->a[da] == 1 ? 0 : coord) * sa;
                            sa *= k->a[da];
                        }
                        if (db >= 0) {
                            ib += (k->b[db] == 1 ? 0 : coord) * sb;
                            sb *= k->b[db];
                        }
                    }
                    want[i] = ref_binary(a[ia], b[ib], (enum lf_binary)fn);
                }
                float *got = op_test_download(ty);
                double atol, rtol;
                tolerance(dtype, &atol, &rtol);
                char label[64];
                snprintf(label, sizeof label, "binary case %zu fn %d %s", c, fn,
                         lf_dtype_name(dtype));
                op_test_assert_close(label, got, want, (size_t)n, atol, rtol);
                free(want), free(got);
                lf_tensor_release(ty);
            }
            free(a), free(b);
            lf_tensor_release(ta), lf_tensor_release(tb);
        }
    }
    struct lf_error err = {0};
    int64_t s1 = 3, s2 = 4;
    float v[4] = {0};
    struct lf_tensor *t1 = op_test_tensor(LF_DTYPE_F32, 1, &s1, v);
    struct lf_tensor *t2 = op_test_tensor(LF_DTYPE_F32, 1, &s2, v), *ty;
    assert_int_equal(lf_op_binary(t1, t2, LF_BINARY_ADD, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "do not broadcast"));
    lf_tensor_release(t1), lf_tensor_release(t2);
    op_test_check_validation();
}

/* 200 MiB of f32: more than one storage-buffer binding can address on
** lavapipe; every element must still be computed. */
static void elementwise_beyond_binding_range(void **state)
{
    struct lf_error err = {0};
    int64_t n = 200ll * 1024 * 1024 / 4;
    float *x = malloc((size_t)n * 4);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 1000);
    struct lf_tensor *tx, *ty;
    assert_int_equal(lf_tensor_from_f32(op_test_device(), LF_DTYPE_F32, 1, &n, x, &tx, &err),
                     LF_OK);
    assert_int_equal(lf_op_scale(tx, 2.0f, 1.0f, &ty, &err), LF_OK);
    assert_int_equal(lf_tensor_download_f32(ty, x, n, &err), LF_OK);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] != (float)(i % 1000) * 2.0f + 1.0f) bad++;
    assert_int_equal(bad, 0);
    free(x);
    lf_tensor_release(tx), lf_tensor_release(ty);
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unary_matches_reference),
        cmocka_unit_test(scale_cast_copy_fill),
        cmocka_unit_test(binary_broadcasts),
        cmocka_unit_test(elementwise_beyond_binding_range),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
