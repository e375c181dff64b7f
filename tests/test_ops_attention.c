/*
** test_ops_attention.c - lf_op_attention against the plain-C reference
** (ref_attention.c) for every variant (LCMFLOW_OP_VARIANT = portable,
** lavapipe, gpu), f32 and f16 storage: head dims 4..160 and an odd 5, key
** lengths 1, 7, 77, 300, cross and self attention, a causal 77 x 77 case
** (CLIP), batch 2, scales large enough to move the running max often, keys
** that jump in size in the middle of the sequence; and
** a long case (Lk = 9216) that also checks no Lq x Lk score matrix is
** allocated.
**
** f16 storage runs on head dims <= 40 (and 160 for the lavapipe variant):
** every (variant, head dim, dtype) is a pipeline llvmpipe compiles for
** seconds, and this keeps a cold run (empty shader cache) near a minute of
** CPU; cached runs take about 10 s.
**
** Tolerances: f32 storage 2e-5 absolute + 1e-4 relative (f32 accumulation
** over up to 9216 keys, exp2 in the shader); f16 storage: inputs are
** rounded to f16 on the host so the reference sees them exactly and only
** the f16 output rounding (2^-11 relative) and f32 arithmetic remain:
** 1e-3 absolute + 2e-3 relative.
*/
#include "op_test.h"
#include "ref_attention.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *const variants[] = {"portable", "lavapipe", "gpu"};
#define VARIANT_COUNT 3

struct attn_case {
    int64_t batch, lq, lk;
    int heads;
    int64_t head_dim;
    bool causal;
    float scale;  /* 0: 1/sqrt(head_dim) */
    int64_t jump; /* > 0: keys jump .. jump + 4 are 20 times larger */
};

/* Runs one case in one dtype with the current variant; returns nothing,
** fails the test on a mismatch. */
static void check_case(const struct attn_case *c, enum lf_dtype dtype, const char *variant,
                       uint32_t seed)
{
    int64_t ch = c->heads * c->head_dim;
    int64_t qs[3] = {c->batch, c->lq, ch}, ks[3] = {c->batch, c->lk, ch};
    size_t nq = (size_t)(c->batch * c->lq * ch), nk = (size_t)(c->batch * c->lk * ch);
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *want = malloc(nq * 4);
    assert_true(q && k && v && want);
    op_test_random(q, nq, -1.5f, 1.5f, seed);
    op_test_random(k, nk, -1.5f, 1.5f, seed + 1);
    op_test_random(v, nk, -1, 1, seed + 2);
    if (c->jump > 0)
        for (int64_t b = 0; b < c->batch; b++)
            for (int64_t j = c->jump; j < c->jump + 5 && j < c->lk; j++)
                for (int64_t e = 0; e < ch; e++)
                    k[(b * c->lk + j) * ch + e] *= 20;
    float scale = c->scale > 0 ? c->scale : (float)(1.0 / sqrt((double)c->head_dim));
    struct lf_tensor *tq = op_test_tensor(dtype, 3, qs, q), *tk = op_test_tensor(dtype, 3, ks, k);
    struct lf_tensor *tv = op_test_tensor(dtype, 3, ks, v), *to = NULL;
    struct lf_error err = {0};
    if (lf_op_attention(tq, tk, tv, c->heads, scale, c->causal, &to, &err) != LF_OK)
        fail_msg("attention: %s", err.message);
    assert_int_equal(to->dtype, dtype);
    assert_int_equal(to->rank, 3);
    assert_memory_equal(to->shape, qs, sizeof qs);
    float *got = op_test_download(to);
    ref_attention(q, k, v, c->batch, c->lq, c->lk, c->heads, c->head_dim, scale, c->causal, want);
    char label[128];
    snprintf(label, sizeof label, "%s %s B%lld Lq%lld Lk%lld H%d D%lld%s s%.2g", variant,
             lf_dtype_name(dtype), (long long)c->batch, (long long)c->lq, (long long)c->lk,
             c->heads, (long long)c->head_dim, c->causal ? " causal" : "", (double)scale);
    bool f16 = dtype == LF_DTYPE_F16;
    op_test_assert_close(label, got, want, nq, f16 ? 1e-3 : 2e-5, f16 ? 2e-3 : 1e-4);
    free(q), free(k), free(v), free(want), free(got);
    lf_tensor_release(tq), lf_tensor_release(tk), lf_tensor_release(tv), lf_tensor_release(to);
}

static void set_variant(const char *name)
{
    assert_int_equal(setenv("LCMFLOW_OP_VARIANT", name, 1), 0);
}

static void attention_matches_reference(void **state)
{
    static const struct attn_case cases[] = {
        {1, 9, 1, 2, 4, false, 0, 0},     /* a single key: output = v */
        {1, 13, 7, 3, 8, false, 0, 0},    /* fewer keys than lanes */
        {2, 33, 77, 2, 16, false, 0, 0},  /* cross-attention, batch 2 */
        {1, 70, 77, 2, 40, false, 0, 0},  /* SD cross-attention head dim */
        {1, 37, 300, 1, 64, false, 0, 0}, /* CLIP head dim */
        {1, 21, 300, 2, 80, false, 0, 0},
        {1, 11, 77, 1, 160, false, 0, 0},
        {2, 17, 19, 3, 5, false, 0, 0},   /* odd head dim: no vec4 loads */
        {1, 77, 77, 2, 64, true, 0, 0},   /* CLIP's causal self-attention */
        {2, 77, 77, 3, 5, true, 0, 0},    /* causal with odd sizes */
        {1, 45, 300, 2, 40, false, 1, 0}, /* scale 1: large scores */
        {1, 40, 40, 2, 40, true, 1, 0},
        {1, 20, 45, 2, 8, true, 0, 0},  /* causal, more keys than queries */
        {1, 50, 21, 1, 16, true, 0, 0}, /* causal, rows past the last key */
        /* Scores far beyond |q| |k| bounds of the running max: the
        ** lavapipe shader's careful path in every block. */
        {1, 30, 200, 2, 40, false, 4, 0},
        /* Small scores, then keys 150..154 much larger (careful blocks in
        ** the middle of fast ones), causal too. */
        {2, 40, 300, 2, 40, false, 0, 150},
        {1, 200, 200, 1, 16, true, 0, 150},
    };
    for (int vi = 0; vi < VARIANT_COUNT; vi++) {
        set_variant(variants[vi]);
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            for (int dt = 0; dt < 2; dt++) {
                /* Each (variant, head dim, dtype) is a pipeline that takes
                ** llvmpipe seconds to compile: f16 runs on the head dims up
                ** to 40 (vec4 and scalar loads), and 160 for lavapipe (its
                ** wide-head code). */
                int64_t hd = cases[i].head_dim;
                bool wide_ok = hd == 160 && !strcmp(variants[vi], "lavapipe");
                if (dt && hd > 40 && !wide_ok) continue;
                check_case(&cases[i], dt ? LF_DTYPE_F16 : LF_DTYPE_F32, variants[vi],
                           (uint32_t)(i * 10 + dt));
            }
        }
    }
    unsetenv("LCMFLOW_OP_VARIANT");
    op_test_check_validation();
}

/* 9216 keys (SD's largest key length, 96x96 latents) with few queries: the
** flash structure handles it and allocates nothing beyond the output (a
** stored score matrix would be Lq x Lk x H floats, 4.5 MiB for the first
** case); the widest head dim over 4096 keys too (llvmpipe stops a shader's
** loops after 65535 iterations in all: this fails if a variant's inner loops
** are not unrolled). */
static void attention_long_keys(void **state)
{
    static const struct attn_case cases[] = {{1, 64, 9216, 2, 40, false, 0, 0},
                                             {1, 8, 4096, 1, 160, false, 0, 0}};
    struct lf_device *device = op_test_device();
    for (int n = 0; n < 2 * VARIANT_COUNT; n++) {
        const struct attn_case c = cases[n / VARIANT_COUNT];
        int vi = n % VARIANT_COUNT;
        set_variant(variants[vi]);
        struct lf_device_memory_stats before, after;
        struct lf_error err = {0};
        assert_int_equal(lf_device_sync(device, &err), LF_OK);
        lf_device_reset_peak(device);
        lf_device_memory_stats(device, &before);
        check_case(&c, LF_DTYPE_F32, variants[vi], (uint32_t)(77 + n));
        lf_device_memory_stats(device, &after);
        /* Inputs (q, k, v) and the output are all the tensors there were. */
        uint64_t tensors = (uint64_t)(2 * c.lq + 2 * c.lk) * c.heads * c.head_dim * 4;
        printf("  %s D%lld: peak tensor memory %llu bytes for %llu of tensors\n", variants[vi],
               (long long)c.head_dim, (unsigned long long)(after.peak_in_use - before.in_use),
               (unsigned long long)tensors);
        assert_true(after.peak_in_use - before.in_use <= tensors + 4096);
    }
    unsetenv("LCMFLOW_OP_VARIANT");
    op_test_check_validation();
}

static void attention_rejects_bad_shapes(void **state)
{
    struct lf_error err = {0};
    float data[2 * 3 * 8 * 21] = {0};
    int64_t a[3] = {1, 3, 8}, b[3] = {1, 4, 6}, wide[3] = {1, 2, 168}, two[2] = {3, 8};
    struct lf_tensor *ta = op_test_tensor(LF_DTYPE_F32, 3, a, data);
    struct lf_tensor *tb = op_test_tensor(LF_DTYPE_F32, 3, b, data);
    struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F32, 3, wide, data);
    struct lf_tensor *t2 = op_test_tensor(LF_DTYPE_F32, 2, two, data), *to = NULL;
    assert_int_equal(lf_op_attention(ta, tb, tb, 2, 1, false, &to, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "[1, 4, 6]"));
    assert_null(to);
    assert_int_equal(lf_op_attention(ta, ta, ta, 3, 1, false, &to, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "heads"));
    assert_int_equal(lf_op_attention(t2, t2, t2, 1, 1, false, &to, &err), LF_ERR_INVALID);
    if (lf_device_get_info(op_test_device())->backend == LF_BACKEND_VULKAN) {
        /* The Vulkan kernels stop at 160 per head (the CPU backend has no limit). */
        assert_int_equal(lf_op_attention(tw, tw, tw, 1, 1, false, &to, &err), LF_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, "168"));
    }
    if (op_test_lavapipe()) {
        /* Beyond llvmpipe's loop limit: refused, not silently wrong. */
        struct lf_tensor *tl;
        int64_t ls[3] = {1, 20000, 8};
        assert_int_equal(lf_tensor_create(op_test_device(), LF_DTYPE_F32, 3, ls, &tl, &err), LF_OK);
        assert_int_equal(lf_op_attention(ta, tl, tl, 2, 1, false, &to, &err), LF_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, "20000 keys"));
        lf_tensor_release(tl);
    }
    lf_tensor_release(ta), lf_tensor_release(tb), lf_tensor_release(tw), lf_tensor_release(t2);
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attention_matches_reference),
        cmocka_unit_test(attention_long_keys),
        cmocka_unit_test(attention_rejects_bad_shapes),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
