/*
** test_ops_norm.c - lf_op_layer_norm (with and without gamma/beta) and
** lf_op_softmax over the last dimension against the plain-C references
** (ref_norm.c), in f32 and f16 storage, on odd sizes, with an offset mean
** (catches E[x^2] - E[x]^2 cancellation) and large logits (catches a
** softmax without max subtraction).
**
** Tolerances: layer norm f32 2e-5 absolute + 1e-4 relative, f16 3e-3 +
** 3e-3 (outputs up to ~4 rounded to f16); softmax f32 1e-6 + 1e-4, f16
** 1e-4 absolute + 2e-3 relative (probabilities rounded to f16).
*/
#include "op_test.h"
#include "ref_norm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct shape2 {
    int64_t rows, cols;
};

/* 40000 columns: more loop iterations than llvmpipe allows a shader
** invocation (65535) unless the column loops are unrolled. */
static const struct shape2 shapes[] = {{1, 1},    {3, 7},    {5, 64},   {17, 320},
                                       {2, 1283}, {300, 77}, {2, 40000}};

static void layer_norm_matches_reference(void **state)
{
    for (int dt = 0; dt < 2; dt++) {
        enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            for (int affine = 0; affine < 3; affine++) {
                int64_t rows = shapes[i].rows, cols = shapes[i].cols, n = rows * cols;
                /* Rank 3 [rows, 1, cols]: normalisation is over the last dim only. */
                int64_t shape[3] = {rows, 1, cols};
                float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
                float *g = malloc((size_t)cols * 4), *b = malloc((size_t)cols * 4);
                op_test_random(x, (size_t)n, 2, 6, (uint32_t)(i + 10 * affine)); /* mean ~4 */
                op_test_random(g, (size_t)cols, 0.5f, 1.5f, (uint32_t)i + 100);
                op_test_random(b, (size_t)cols, -1, 1, (uint32_t)i + 200);
                struct lf_tensor *tx = op_test_tensor(dtype, 3, shape, x);
                /* gamma/beta in f16 with f32 x too: weights are often f16. */
                struct lf_tensor *tg = affine ? op_test_tensor(LF_DTYPE_F16, 1, &cols, g) : NULL;
                struct lf_tensor *tb =
                                     affine == 2 ? op_test_tensor(LF_DTYPE_F32, 1, &cols, b) : NULL,
                                 *ty = NULL;
                struct lf_error err = {0};
                if (lf_op_layer_norm(tx, tg, tb, 1e-5f, &ty, &err) != LF_OK)
                    fail_msg("layer_norm: %s", err.message);
                assert_int_equal(ty->dtype, dtype);
                float *got = op_test_download(ty);
                ref_layer_norm(x, affine ? g : NULL, affine == 2 ? b : NULL, rows, cols, 1e-5f, y);
                char label[96];
                snprintf(label, sizeof label, "layer_norm %s %lldx%lld affine %d",
                         lf_dtype_name(dtype), (long long)rows, (long long)cols, affine);
                op_test_assert_close(label, got, y, (size_t)n, dt ? 3e-3 : 2e-5, dt ? 3e-3 : 1e-4);
                free(x), free(y), free(g), free(b), free(got);
                lf_tensor_release(tx), lf_tensor_release(tg), lf_tensor_release(tb);
                lf_tensor_release(ty);
            }
        }
    }
    op_test_check_validation();
}

static void layer_norm_rejects_bad_gamma(void **state)
{
    struct lf_error err = {0};
    float data[12] = {0};
    int64_t xs[2] = {3, 4}, gs = 3;
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 2, xs, data);
    struct lf_tensor *tg = op_test_tensor(LF_DTYPE_F32, 1, &gs, data), *ty = NULL;
    assert_int_equal(lf_op_layer_norm(tx, tg, NULL, 1e-5f, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "gamma"));
    assert_null(ty);
    lf_tensor_release(tx), lf_tensor_release(tg);
    op_test_check_validation();
}

static void softmax_matches_reference(void **state)
{
    for (int dt = 0; dt < 2; dt++) {
        enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            int64_t rows = shapes[i].rows, cols = shapes[i].cols, n = rows * cols;
            int64_t shape[2] = {rows, cols};
            float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
            /* Logits up to 200: exp overflows f32 unless the max is subtracted. */
            op_test_random(x, (size_t)n, -40, 200, (uint32_t)i + 7);
            struct lf_tensor *tx = op_test_tensor(dtype, 2, shape, x), *ty = NULL;
            struct lf_error err = {0};
            if (lf_op_softmax(tx, &ty, &err) != LF_OK) fail_msg("softmax: %s", err.message);
            assert_int_equal(ty->dtype, dtype);
            float *got = op_test_download(ty);
            ref_softmax(x, rows, cols, y);
            char label[96];
            snprintf(label, sizeof label, "softmax %s %lldx%lld large logits", lf_dtype_name(dtype),
                     (long long)rows, (long long)cols);
            op_test_assert_close(label, got, y, (size_t)n, dt ? 1e-4 : 1e-6, dt ? 2e-3 : 1e-4);
            /* And with modest logits, where many entries matter. */
            op_test_random(x, (size_t)n, -3, 3, (uint32_t)i + 70);
            lf_tensor_release(tx), lf_tensor_release(ty), free(got);
            tx = op_test_tensor(dtype, 2, shape, x);
            if (lf_op_softmax(tx, &ty, &err) != LF_OK) fail_msg("softmax: %s", err.message);
            got = op_test_download(ty);
            ref_softmax(x, rows, cols, y);
            snprintf(label, sizeof label, "softmax %s %lldx%lld", lf_dtype_name(dtype),
                     (long long)rows, (long long)cols);
            op_test_assert_close(label, got, y, (size_t)n, dt ? 1e-4 : 1e-6, dt ? 2e-3 : 1e-4);
            free(x), free(y), free(got);
            lf_tensor_release(tx), lf_tensor_release(ty);
        }
    }
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layer_norm_matches_reference),
        cmocka_unit_test(layer_norm_rejects_bad_gamma),
        cmocka_unit_test(softmax_matches_reference),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
