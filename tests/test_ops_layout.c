/*
** test_ops_layout.c - lf_op_resize_nearest, lf_op_concat and lf_op_permute
** against the plain-C references (ref_layout.c), f32 and f16 storage, odd
** sizes; the non-multiple resize 2 -> 3 must pick sources 0, 0, 1.
** These ops copy values: results must be exact (f16 inputs are rounded
** before the reference sees them, and a copy does not round again).
*/
#include "op_test.h"
#include "ref_layout.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static float *random_array(int64_t n, uint32_t seed)
{
    float *a = malloc((size_t)(n ? n : 1) * sizeof *a);
    assert_non_null(a);
    op_test_random(a, (size_t)n, -10, 10, seed);
    return a;
}

static void resize_matches_reference(void **state)
{
    static const int64_t cases[][6] = {
        /* B, C, H, W, out_h, out_w */
        {1, 3, 4, 5, 8, 10},                     /* x2 upsample */
        {2, 5, 7, 3, 14, 6}, {1, 1, 2, 2, 3, 3}, /* non-multiple */
        {1, 2, 9, 11, 4, 5},                     /* downsample */
        {1, 4, 3, 8, 3, 17},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int dt = 0; dt < 2; dt++) {
            enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
            const int64_t *k = cases[c];
            int64_t n = k[0] * k[1] * k[2] * k[3], ny = k[0] * k[1] * k[4] * k[5];
            float *x = random_array(n, (uint32_t)c), *want = malloc((size_t)ny * sizeof *x);
            struct lf_tensor *tx = op_test_tensor(dtype, 4, k, x), *ty = NULL;
            struct lf_error err = {0};
            assert_int_equal(lf_op_resize_nearest(tx, k[4], k[5], &ty, &err), LF_OK);
            assert_int_equal(ty->dtype, dtype);
            assert_int_equal(ty->shape[2], k[4]);
            assert_int_equal(ty->shape[3], k[5]);
            ref_resize_nearest(x, k[0] * k[1], k[2], k[3], k[4], k[5], want);
            float *got = op_test_download(ty);
            char label[64];
            snprintf(label, sizeof label, "resize case %zu %s", c, lf_dtype_name(dtype));
            op_test_assert_close(label, got, want, (size_t)ny, 0, 1e-9);
            free(x), free(want), free(got);
            lf_tensor_release(tx), lf_tensor_release(ty);
        }
    /* 2 -> 3 takes sources 0, 0, 1 in each direction. */
    int64_t s[4] = {1, 1, 2, 2};
    float x[4] = {1, 2, 3, 4};
    const float want[9] = {1, 1, 2, 1, 1, 2, 3, 3, 4};
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 4, s, x), *ty = NULL;
    struct lf_error err = {0};
    assert_int_equal(lf_op_resize_nearest(tx, 3, 3, &ty, &err), LF_OK);
    float *got = op_test_download(ty);
    op_test_assert_close("resize 2x2 -> 3x3 sources 0,0,1", got, want, 9, 0, 1e-9);
    free(got);
    lf_tensor_release(ty);
    assert_int_equal(lf_op_resize_nearest(tx, 0, 3, &ty, &err), LF_ERR_INVALID);
    lf_tensor_release(tx);
    op_test_check_validation();
}

static void concat_matches_reference(void **state)
{
    static const struct {
        int rank, axis;
        int64_t a[4], b[4];
    } cases[] = {
        {4, 1, {2, 3, 5, 7}, {2, 4, 5, 7}}, /* channels of NCHW */
        {4, 0, {1, 3, 2, 2}, {2, 3, 2, 2}},
        {4, 3, {2, 1, 3, 5}, {2, 1, 3, 1}},
        {3, -1, {2, 77, 3}, {2, 77, 9}},
        {1, 0, {13}, {6}},
        {2, 1, {3, 0}, {3, 4}}, /* empty a */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int dt = 0; dt < 3; dt++) {
            /* dt 2: a f32, b f16 (the output takes a's dtype). */
            enum lf_dtype da = dt == 1 ? LF_DTYPE_F16 : LF_DTYPE_F32;
            enum lf_dtype db = dt >= 1 ? LF_DTYPE_F16 : LF_DTYPE_F32;
            int rank = cases[c].rank,
                axis = cases[c].axis < 0 ? cases[c].axis + rank : cases[c].axis;
            int64_t na = 1, nb = 1;
            for (int d = 0; d < rank; d++)
                na *= cases[c].a[d], nb *= cases[c].b[d];
            float *a = random_array(na, (uint32_t)c), *b = random_array(nb, (uint32_t)c + 100);
            float *want = malloc((size_t)(na + nb) * sizeof *a);
            struct lf_tensor *ta = op_test_tensor(da, rank, cases[c].a, a);
            struct lf_tensor *tb = op_test_tensor(db, rank, cases[c].b, b), *ty = NULL;
            struct lf_error err = {0};
            assert_int_equal(lf_op_concat(ta, tb, cases[c].axis, &ty, &err), LF_OK);
            assert_int_equal(ty->dtype, da);
            assert_int_equal(ty->shape[axis], cases[c].a[axis] + cases[c].b[axis]);
            ref_concat(a, cases[c].a, b, cases[c].b, rank, axis, want);
            /* b's f16-rounded values pass through f32 unchanged; a f16 output
            ** rounds b's values again, which is exact for f16 inputs. */
            float *got = op_test_download(ty);
            char label[64];
            snprintf(label, sizeof label, "concat case %zu %s+%s", c, lf_dtype_name(da),
                     lf_dtype_name(db));
            op_test_assert_close(label, got, want, (size_t)(na + nb), 0, 1e-9);
            free(a), free(b), free(want), free(got);
            lf_tensor_release(ta), lf_tensor_release(tb), lf_tensor_release(ty);
        }
    struct lf_error err = {0};
    int64_t s1[2] = {2, 3}, s2[2] = {3, 3};
    float v[9] = {0};
    struct lf_tensor *t1 = op_test_tensor(LF_DTYPE_F32, 2, s1, v);
    struct lf_tensor *t2 = op_test_tensor(LF_DTYPE_F32, 2, s2, v), *ty = NULL;
    assert_int_equal(lf_op_concat(t1, t2, 1, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "differ outside axis"));
    assert_int_equal(lf_op_concat(t1, t2, 2, &ty, &err), LF_ERR_INVALID);
    assert_null(ty);
    lf_tensor_release(t1), lf_tensor_release(t2);
    op_test_check_validation();
}

static void permute_matches_reference(void **state)
{
    static const struct {
        int rank;
        int64_t shape[4];
        int perm[4];
    } cases[] = {
        {2, {5, 7}, {1, 0}},
        {3, {2, 9, 4}, {0, 2, 1}},
        {3, {3, 4, 5}, {2, 0, 1}},
        {4, {2, 3, 5, 7}, {0, 2, 3, 1}}, /* NCHW -> NHWC */
        {4, {2, 5, 7, 3}, {0, 3, 1, 2}}, /* NHWC -> NCHW */
        {4, {2, 3, 4, 5}, {3, 2, 1, 0}},
        {1, {9}, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int dt = 0; dt < 2; dt++) {
            enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
            int64_t n = 1;
            for (int d = 0; d < cases[c].rank; d++)
                n *= cases[c].shape[d];
            float *x = random_array(n, (uint32_t)c), *want = malloc((size_t)n * sizeof *x);
            struct lf_tensor *tx = op_test_tensor(dtype, cases[c].rank, cases[c].shape, x);
            struct lf_tensor *ty = NULL;
            struct lf_error err = {0};
            assert_int_equal(lf_op_permute(tx, cases[c].perm, &ty, &err), LF_OK);
            for (int d = 0; d < cases[c].rank; d++)
                assert_int_equal(ty->shape[d], cases[c].shape[cases[c].perm[d]]);
            ref_permute(x, cases[c].shape, cases[c].rank, cases[c].perm, want);
            float *got = op_test_download(ty);
            char label[64];
            snprintf(label, sizeof label, "permute case %zu %s", c, lf_dtype_name(dtype));
            op_test_assert_close(label, got, want, (size_t)n, 0, 1e-9);
            free(x), free(want), free(got);
            lf_tensor_release(tx), lf_tensor_release(ty);
        }
    struct lf_error err = {0};
    int64_t s[3] = {2, 3, 4};
    float v[24] = {0};
    int bad[3] = {0, 1, 1};
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 3, s, v), *ty = NULL;
    assert_int_equal(lf_op_permute(tx, bad, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "permutation"));
    lf_tensor_release(tx);
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resize_matches_reference),
        cmocka_unit_test(concat_matches_reference),
        cmocka_unit_test(permute_matches_reference),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
