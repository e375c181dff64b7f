/*
** test_ops_group_norm.c - lf_op_group_norm against the plain-C reference
** (ref_group_norm.c, double two-pass): groups of one channel (the tiny
** model's 32 channels in 32 groups), SD's 32 groups, rank 3 and rank 4,
** groups spanning several reduction chunks with a partial last chunk,
** gamma/beta present (f32 or f16) or absent, fused SiLU on and off, f32 and
** f16 storage; inputs with a large mean (100 +- 1), where a single-pass sum
** of squares in f32 would cancel; and a [1, 128, 512, 520] f32 input
** (130 MiB, beyond lavapipe's 128 MiB maxStorageBufferRange).
**
** Tolerances: f32 storage 1e-4 absolute + 1e-4 relative (the normalised
** values are O(1); f32 statistics of a mean-100 input lose about 1e-5);
** f16 storage 4e-3 absolute + 2e-3 relative (inputs and output are rounded
** to f16; the reference sees the rounded inputs).
*/
#include "op_test.h"
#include "ref_group_norm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct gn_case {
    int rank;
    int64_t shape[4];
    int groups;
    float eps;
    float lo, hi; /* input range */
};

static const struct gn_case cases[] = {
    {4, {2, 32, 5, 7}, 32, 1e-5f, -2, 2}, /* one channel per group */
    {4, {1, 64, 9, 9}, 32, 1e-6f, -1, 3},
    {3, {2, 6, 13}, 3, 1e-5f, -1, 1}, /* rank 3 */
    {4, {1, 320, 8, 8}, 32, 1e-5f, -1, 1},
    {4, {1, 8, 64, 72}, 2, 1e-5f, 99, 101}, /* 18432 per group: 5 chunks, mean 100 */
    {4, {1, 4, 3, 1}, 1, 1e-2f, -1, 1},     /* one group, large eps */
    {2, {3, 5}, 5, 1e-5f, -1, 1},           /* no spatial dims */
};

static void run_case(const struct gn_case *k, size_t index, enum lf_dtype dtype, bool affine,
                     enum lf_dtype affine_dtype, bool silu)
{
    int64_t n = 1, S = 1, C = k->shape[1];
    for (int d = 0; d < k->rank; d++)
        n *= k->shape[d];
    S = n / (k->shape[0] * C);
    float *x = malloc((size_t)n * sizeof *x), *want = malloc((size_t)n * sizeof *x);
    float *gamma = malloc((size_t)C * sizeof *x), *beta = malloc((size_t)C * sizeof *x);
    assert_non_null(x);
    assert_non_null(want);
    op_test_random(x, (size_t)n, k->lo, k->hi, (uint32_t)index + 10);
    op_test_random(gamma, (size_t)C, 0.5f, 1.5f, (uint32_t)index + 20);
    op_test_random(beta, (size_t)C, -0.5f, 0.5f, (uint32_t)index + 30);
    struct lf_tensor *tx = op_test_tensor(dtype, k->rank, k->shape, x);
    struct lf_tensor *tg = affine ? op_test_tensor(affine_dtype, 1, &C, gamma) : NULL;
    struct lf_tensor *tb = affine ? op_test_tensor(affine_dtype, 1, &C, beta) : NULL;
    struct lf_tensor *ty = NULL;
    struct lf_error err = {0};
    if (lf_op_group_norm(tx, tg, tb, k->groups, k->eps, silu, &ty, &err) != LF_OK)
        fail_msg("group_norm: %s", err.message);
    assert_int_equal(ty->dtype, dtype);
    ref_group_norm(x, affine ? gamma : NULL, affine ? beta : NULL, k->shape[0], C, S, k->groups,
                   k->eps, silu, want);
    float *got = op_test_download(ty);
    char label[96];
    snprintf(label, sizeof label, "case %zu %s%s%s%s", index, lf_dtype_name(dtype),
             affine ? " affine " : "", affine ? lf_dtype_name(affine_dtype) : "",
             silu ? " silu" : "");
    double atol = dtype == LF_DTYPE_F16 ? 4e-3 : 1e-4, rtol = dtype == LF_DTYPE_F16 ? 2e-3 : 1e-4;
    op_test_assert_close(label, got, want, (size_t)n, atol, rtol);
    free(got), free(x), free(want), free(gamma), free(beta);
    lf_tensor_release(tx), lf_tensor_release(tg), lf_tensor_release(tb), lf_tensor_release(ty);
}

static void group_norm_matches_reference(void **state)
{
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        run_case(&cases[c], c, LF_DTYPE_F32, true, LF_DTYPE_F32, false);
        run_case(&cases[c], c, LF_DTYPE_F32, true, LF_DTYPE_F16, true);
        run_case(&cases[c], c, LF_DTYPE_F32, false, LF_DTYPE_F32, true);
        if (cases[c].hi < 50) /* f16 cannot hold 100 +- 1 finely enough to matter */
            run_case(&cases[c], c, LF_DTYPE_F16, true, LF_DTYPE_F16, c % 2 == 0);
    }
    op_test_check_validation();
}

static void group_norm_rejects_bad_arguments(void **state)
{
    struct lf_error err = {0};
    float v[2 * 6 * 4] = {0};
    int64_t xs[3] = {2, 6, 4}, cs = 5;
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 3, xs, v);
    struct lf_tensor *tg = op_test_tensor(LF_DTYPE_F32, 1, &cs, v), *ty = NULL;
    assert_int_equal(lf_op_group_norm(tx, NULL, NULL, 4, 1e-5f, false, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "do not divide"));
    assert_int_equal(lf_op_group_norm(tx, tg, NULL, 3, 1e-5f, false, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "gamma"));
    assert_int_equal(lf_op_group_norm(tx, NULL, NULL, 0, 1e-5f, false, &ty, &err), LF_ERR_INVALID);
    assert_null(ty);
    lf_tensor_release(tx), lf_tensor_release(tg);
    op_test_check_validation();
}

/* The VAE decoder's largest activations: 128 x 512 x 512 and more, f32. */
static void group_norm_beyond_binding_range(void **state)
{
    const struct gn_case big = {4, {1, 128, 512, 520}, 32, 1e-6f, 9, 11};
    run_case(&big, 100, LF_DTYPE_F32, true, LF_DTYPE_F16, true);
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(group_norm_matches_reference),
        cmocka_unit_test(group_norm_rejects_bad_arguments),
        cmocka_unit_test(group_norm_beyond_binding_range),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
