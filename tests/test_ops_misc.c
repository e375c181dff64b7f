/*
** test_ops_misc.c - lf_op_geglu and lf_op_timestep_embedding against the
** plain-C references (ref_misc.c).  GEGLU in f32 and f16 storage on odd
** sizes; the timestep embedding with SD 1.5's settings (dim 320,
** flip_sin_to_cos, shift 0, max_period 10000, timesteps up to 999), the
** other order, a shift of 1 and an odd dim.
**
** Tolerances: GEGLU f32 1e-6 absolute + 1e-5 relative (erf approximation
** error < 1.2e-7), f16 1e-3 + 2e-3.  Timestep embedding 3e-4 absolute:
** arguments reach ~1000 rad, so one f32 ulp of the argument (6e-5) already
** moves sin/cos that much; PyTorch computes it in f32 too.
*/
#include "op_test.h"
#include "ref_misc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void geglu_matches_reference(void **state)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 3, 7}, {2, 5, 64}, {1, 77, 1280}};
    for (int dt = 0; dt < 2; dt++) {
        enum lf_dtype dtype = dt ? LF_DTYPE_F16 : LF_DTYPE_F32;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            int64_t n = shapes[i][2], rows = shapes[i][0] * shapes[i][1];
            int64_t xs[3] = {shapes[i][0], shapes[i][1], 2 * n};
            float *x = malloc((size_t)(rows * 2 * n) * 4), *y = malloc((size_t)(rows * n) * 4);
            op_test_random(x, (size_t)(rows * 2 * n), -5, 5, (uint32_t)i + 3);
            struct lf_tensor *tx = op_test_tensor(dtype, 3, xs, x), *ty = NULL;
            struct lf_error err = {0};
            if (lf_op_geglu(tx, &ty, &err) != LF_OK) fail_msg("geglu: %s", err.message);
            assert_int_equal(ty->dtype, dtype);
            assert_int_equal(ty->rank, 3);
            assert_int_equal(ty->shape[2], n);
            assert_int_equal(ty->shape[1], shapes[i][1]);
            float *got = op_test_download(ty);
            ref_geglu(x, rows, n, y);
            char label[96];
            snprintf(label, sizeof label, "geglu %s rows %lld n %lld", lf_dtype_name(dtype),
                     (long long)rows, (long long)n);
            op_test_assert_close(label, got, y, (size_t)(rows * n), dt ? 1e-3 : 1e-6,
                                 dt ? 2e-3 : 1e-5);
            free(x), free(y), free(got);
            lf_tensor_release(tx), lf_tensor_release(ty);
        }
    }
    struct lf_error err = {0};
    int64_t odd = 5;
    float v[5] = {0};
    struct lf_tensor *t = op_test_tensor(LF_DTYPE_F32, 1, &odd, v), *ty = NULL;
    assert_int_equal(lf_op_geglu(t, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "even"));
    lf_tensor_release(t);
    op_test_check_validation();
}

struct emb_case {
    int dim;
    bool flip;
    float shift;
};

static void timestep_embedding_matches_reference(void **state)
{
    static const struct emb_case cases[] = {
        {320, true, 0}, /* SD 1.5 */
        {320, false, 0},
        {64, true, 1},
        {7, true, 0}, /* odd dim: zero last column */
    };
    float t[4] = {999, 759, 1, 0};
    int64_t b = 4;
    struct lf_tensor *tt = op_test_tensor(LF_DTYPE_F32, 1, &b, t);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct emb_case *c = &cases[i];
        struct lf_tensor *ty = NULL;
        struct lf_error err = {0};
        if (lf_op_timestep_embedding(tt, c->dim, c->flip, c->shift, 10000, &ty, &err) != LF_OK)
            fail_msg("timestep_embedding: %s", err.message);
        assert_int_equal(ty->dtype, LF_DTYPE_F32);
        assert_int_equal(ty->rank, 2);
        assert_int_equal(ty->shape[0], 4);
        assert_int_equal(ty->shape[1], c->dim);
        float *got = op_test_download(ty), *want = malloc((size_t)(4 * c->dim) * 4);
        ref_timestep_embedding(t, 4, c->dim, c->flip, c->shift, 10000, want);
        char label[96];
        snprintf(label, sizeof label, "timestep_embedding dim %d flip %d shift %g", c->dim, c->flip,
                 (double)c->shift);
        op_test_assert_close(label, got, want, (size_t)(4 * c->dim), 3e-4, 0);
        /* t = 0 with flip: cos(0) = 1 in the first half, sin(0) = 0 after. */
        if (c->flip && c->dim == 320) {
            assert_true(got[3 * 320 + 0] == 1.0f && got[3 * 320 + 159] == 1.0f);
            assert_true(got[3 * 320 + 160] == 0.0f);
        }
        free(got), free(want);
        lf_tensor_release(ty);
    }
    lf_tensor_release(tt);
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(geglu_matches_reference),
        cmocka_unit_test(timestep_embedding_matches_reference),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
