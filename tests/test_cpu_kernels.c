/*
** test_cpu_kernels.c - the CPU backend's own kernels (runtime/cpu/
** cpu_kernels.h) against the plain-C references, once per instruction set
** this CPU runs (portable always; AVX2 and AVX-512 where present): unary
** functions, broadcast binary ops, GEGLU, group norm (+SiLU), layer norm,
** softmax, flash attention (head dims 5..160, causal, long key runs with
** jumps) and the f16 and bf16 conversions.  Tolerances are the op tests' f32 ones.
*/
#include "cpu_kernels.h"
#include "op_test.h"
#include "ref_attention.h"
#include "ref_group_norm.h"
#include "ref_misc.h"
#include "ref_norm.h"
#include "ref_ops.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *const isas[] = {"portable", "avx2", "avx512"};

/* Calls check(k) for every kernel set this CPU runs; fails if none. */
static void for_each_isa(void (*check)(const struct lf_cpu_kernels *k))
{
    int ran = 0;
    for (size_t i = 0; i < sizeof isas / sizeof *isas; i++) {
        const struct lf_cpu_kernels *k = lf_cpu_kernels_named(isas[i]);
        if (!k) {
            printf("  (%s: not on this CPU)\n", isas[i]);
            continue;
        }
        assert_string_equal(k->isa, isas[i]);
        check(k);
        ran++;
    }
    assert_true(ran >= 1);
}

static float *rnd(size_t n, float lo, float hi, uint32_t seed)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    op_test_random(p, n, lo, hi, seed);
    return p;
}

static void check_unary(const struct lf_cpu_kernels *k)
{
    int64_t n = 40099; /* several parallel chunks and a tail */
    float *x = rnd((size_t)n, -6, 6, 1), *y = malloc((size_t)n * 4), *want = malloc((size_t)n * 4);
    for (unsigned fn = LF_UNARY_GELU; fn <= LF_UNARY_TANH; fn++) {
        k->unary(x, y, n, fn, 1.0f, 0.0f);
        for (int64_t i = 0; i < n; i++)
            want[i] = ref_unary(x[i], (enum lf_unary)fn);
        char label[64];
        snprintf(label, sizeof label, "%s unary %u", k->isa, fn);
        op_test_assert_close(label, y, want, (size_t)n, 1e-6, 1e-5);
    }
    k->unary(x, y, n, LF_CPU_UNARY_IDENTITY, 0.5f, 2.0f);
    for (int64_t i = 0; i < n; i++)
        want[i] = x[i] * 0.5f + 2.0f;
    op_test_assert_close("identity * 0.5 + 2", y, want, (size_t)n, 0, 1e-7);
    /* SiLU far out: e^x must neither overflow into NaN nor lose the sign. */
    float ext[4] = {-200.0f, -90.0f, 90.0f, 200.0f}, got[4];
    k->unary(ext, got, 4, LF_UNARY_SILU, 1.0f, 0.0f);
    assert_true(got[0] <= 0 && got[0] > -1e-30f && got[1] <= 0 && got[1] > -1e-30f);
    assert_true(got[2] == 90.0f && got[3] == 200.0f);
    free(x), free(y), free(want);
}

/* y = a op b for one pair of shapes (rank 4, right-aligned already). */
static void check_binary_shapes(const struct lf_cpu_kernels *k, const int64_t *sa,
                                const int64_t *sb, enum lf_binary fn)
{
    int64_t so[4], na = 1, nb = 1, no = 1;
    for (int i = 0; i < 4; i++) {
        so[i] = sa[i] > sb[i] ? sa[i] : sb[i];
        na *= sa[i], nb *= sb[i], no *= so[i];
    }
    float *a = rnd((size_t)na, -2, 2, 7), *b = rnd((size_t)nb, 0.5f, 2, 8);
    float *y = malloc((size_t)no * 4), *want = malloc((size_t)no * 4);
    struct lf_cpu_broadcast bc;
    lf_cpu_broadcast_init(4, sa, 4, sb, &bc);
    k->binary(a, b, y, &bc, fn);
    for (int64_t i = 0; i < no; i++) {
        int64_t ia = 0, ib = 0, rest = i, ma = 1, mb = 1;
        for (int d = 3; d >= 0; d--) {
            int64_t c = rest % so[d];
            rest /= so[d];
            ia += (sa[d] == 1 ? 0 : c) * ma, ib += (sb[d] == 1 ? 0 : c) * mb;
            ma *= sa[d], mb *= sb[d];
        }
        want[i] = ref_binary(a[ia], b[ib], fn);
    }
    char label[96];
    snprintf(label, sizeof label, "%s binary %d [%lld %lld %lld %lld] . [%lld %lld %lld %lld]",
             k->isa, fn, (long long)sa[0], (long long)sa[1], (long long)sa[2], (long long)sa[3],
             (long long)sb[0], (long long)sb[1], (long long)sb[2], (long long)sb[3]);
    op_test_assert_close(label, y, want, (size_t)no, 0, 1e-7);
    free(a), free(b), free(y), free(want);
}

static void check_binary(const struct lf_cpu_kernels *k)
{
    static const int64_t shapes[][2][4] = {
        {{2, 3, 4, 5}, {2, 3, 4, 5}},        {{2, 8, 90, 90}, {1, 8, 1, 1}},
        {{1, 1, 1, 1}, {2, 3, 4, 5}},        {{2, 1, 7, 1}, {1, 3, 1, 6}},
        {{1, 1, 4100, 320}, {1, 1, 1, 320}}, {{1, 1, 1, 20000}, {1, 1, 1, 1}},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int fn = LF_BINARY_ADD; fn <= LF_BINARY_DIV; fn++) {
            check_binary_shapes(k, shapes[s][0], shapes[s][1], (enum lf_binary)fn);
            check_binary_shapes(k, shapes[s][1], shapes[s][0], (enum lf_binary)fn);
        }
}

static void check_geglu(const struct lf_cpu_kernels *k)
{
    int64_t rows = 77, n = 320;
    float *x = rnd((size_t)(rows * 2 * n), -5, 5, 3);
    float *y = malloc((size_t)(rows * n) * 4), *want = malloc((size_t)(rows * n) * 4);
    k->geglu(x, y, rows, n);
    ref_geglu(x, rows, n, want);
    op_test_assert_close(k->isa, y, want, (size_t)(rows * n), 1e-6, 1e-5);
    free(x), free(y), free(want);
}

static void check_norms(const struct lf_cpu_kernels *k)
{
    int64_t B = 2, C = 64, S = 9 * 11, G = 32, n = B * C * S;
    float *x = rnd((size_t)n, -3, 5, 4), *y = malloc((size_t)n * 4), *want = malloc((size_t)n * 4);
    float *gamma = rnd((size_t)C, 0.5f, 1.5f, 5), *beta = rnd((size_t)C, -1, 1, 6);
    for (int silu = 0; silu < 2; silu++) {
        k->group_norm(x, gamma, beta, B, C, S, G, 1e-5f, silu, y);
        ref_group_norm(x, gamma, beta, B, C, S, (int)G, 1e-5f, silu, want);
        op_test_assert_close(silu ? "group norm + silu" : "group norm", y, want, (size_t)n, 2e-5,
                             1e-4);
    }
    k->group_norm(x, NULL, NULL, 1, C, S * 2, 4, 1e-6f, false, y);
    ref_group_norm(x, NULL, NULL, 1, C, S * 2, 4, 1e-6f, false, want);
    op_test_assert_close("group norm, no affine", y, want, (size_t)n, 2e-5, 1e-4);
    k->layer_norm(x, gamma, beta, B * S, C, 1e-5f, y); /* n = rows x C */
    ref_layer_norm(x, gamma, beta, B * S, C, 1e-5f, want);
    op_test_assert_close("layer norm", y, want, (size_t)n, 2e-5, 1e-4);
    k->layer_norm(x, NULL, NULL, 99, 128, 1e-5f, y);
    ref_layer_norm(x, NULL, NULL, 99, 128, 1e-5f, want);
    op_test_assert_close("layer norm, no affine", y, want, (size_t)n, 2e-5, 1e-4);
    free(x), free(y), free(want), free(gamma), free(beta);
}

static void check_softmax(const struct lf_cpu_kernels *k)
{
    int64_t rows = 33, cols = 4097;
    float *x = rnd((size_t)(rows * cols), -30, 30, 9);
    float *y = malloc((size_t)(rows * cols) * 4), *want = malloc((size_t)(rows * cols) * 4);
    k->softmax(x, y, rows, cols);
    ref_softmax(x, rows, cols, want);
    op_test_assert_close("softmax", y, want, (size_t)(rows * cols), 1e-6, 1e-4);
    free(x), free(y), free(want);
}

struct attn_case {
    int64_t batch, lq, lk, heads, head_dim;
    bool causal;
    int64_t jump; /* > 0: keys jump .. jump + 4 are 20 times larger */
};

/* The kernel over the whole case at once, or in slices of `slice` query
** rows sharing one key pack (as the backend calls it). */
static void run_attention(const struct lf_cpu_kernels *k, struct lf_cpu_attention *a, int64_t slice)
{
    a->pack = aligned_alloc(64, (lf_cpu_attention_pack_floats(a) * 4 + 63) / 64 * 64);
    assert_non_null(a->pack);
    a->packed = false;
    for (int64_t q0 = 0; q0 < a->lq; q0 += slice) {
        a->q_begin = q0;
        a->q_end = a->lq - q0 < slice ? a->lq : q0 + slice;
        assert_true(k->attention(a));
        a->packed = true;
    }
    free(a->pack);
}

static void check_attention_case(const struct lf_cpu_kernels *k, const struct attn_case *c)
{
    int64_t ch = c->heads * c->head_dim;
    size_t nq = (size_t)(c->batch * c->lq * ch), nk = (size_t)(c->batch * c->lk * ch);
    float *q = rnd(nq, -1.5f, 1.5f, 11), *kk = rnd(nk, -1.5f, 1.5f, 12), *v = rnd(nk, -1, 1, 13);
    float *y = malloc(nq * 4), *want = malloc(nq * 4);
    if (c->jump > 0)
        for (int64_t b = 0; b < c->batch; b++)
            for (int64_t j = c->jump; j < c->jump + 5 && j < c->lk; j++)
                for (int64_t e = 0; e < ch; e++)
                    kk[(b * c->lk + j) * ch + e] *= 20;
    float scale = (float)(1.0 / sqrt((double)c->head_dim));
    struct lf_cpu_attention a = {.q = q,
                                 .k = kk,
                                 .v = v,
                                 .y = y,
                                 .batch = c->batch,
                                 .lq = c->lq,
                                 .lk = c->lk,
                                 .heads = c->heads,
                                 .head_dim = c->head_dim,
                                 .scale = scale,
                                 .causal = c->causal};
    ref_attention(q, kk, v, c->batch, c->lq, c->lk, (int)c->heads, c->head_dim, scale, c->causal,
                  want);
    char label[160];
    int at = snprintf(label, sizeof label, "%s attention B%lld Lq%lld Lk%lld H%lld D%lld%s", k->isa,
                      (long long)c->batch, (long long)c->lq, (long long)c->lk, (long long)c->heads,
                      (long long)c->head_dim, c->causal ? " causal" : "");
    /* Whole, then in slices of 7 rows (not a multiple of the tile). */
    run_attention(k, &a, c->lq);
    op_test_assert_close(label, y, want, nq, 2e-5, 1e-4);
    memset(y, 0, nq * 4);
    run_attention(k, &a, 7);
    snprintf(label + at, sizeof label - (size_t)at, ", slices of 7");
    op_test_assert_close(label, y, want, nq, 2e-5, 1e-4);

    /* bf16 in and out: the f32 kernel's result on the bf16-rounded inputs,
    ** within one bf16 rounding of the output. */
    uint16_t *q16 = malloc(nq * 2), *k16 = malloc(nk * 2), *v16 = malloc(nk * 2);
    uint16_t *y16 = malloc(nq * 2);
    k->f32_to_bf16(q, q16, (int64_t)nq);
    k->f32_to_bf16(kk, k16, (int64_t)nk);
    k->f32_to_bf16(v, v16, (int64_t)nk);
    k->bf16_to_f32(q16, q, (int64_t)nq);
    k->bf16_to_f32(k16, kk, (int64_t)nk);
    k->bf16_to_f32(v16, v, (int64_t)nk);
    ref_attention(q, kk, v, c->batch, c->lq, c->lk, (int)c->heads, c->head_dim, scale, c->causal,
                  want);
    struct lf_cpu_attention a16 = a;
    a16.q = q16, a16.k = k16, a16.v = v16, a16.y = y16, a16.bf16 = true;
    run_attention(k, &a16, 7);
    k->bf16_to_f32(y16, y, (int64_t)nq);
    snprintf(label + at, sizeof label - (size_t)at, ", bf16");
    op_test_assert_close(label, y, want, nq, 1e-4, 8e-3);
    free(q16), free(k16), free(v16), free(y16);
    free(q), free(kk), free(v), free(y), free(want);
}

static void check_attention(const struct lf_cpu_kernels *k)
{
    static const struct attn_case cases[] = {
        {1, 70, 77, 2, 40, false, 0},      {2, 64, 64, 2, 64, false, 30},
        {1, 77, 77, 3, 64, true, 0},       {1, 100, 300, 1, 80, false, 150},
        {1, 5, 1, 2, 160, false, 0},       {1, 33, 7, 4, 5, false, 0},
        {1, 20, 130, 1, 512, false, 0},    {2, 9, 9, 2, 16, true, 0},
        {1, 130, 1000, 1, 48, false, 700},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_attention_case(k, &cases[i]);
}

static void check_f16(const struct lf_cpu_kernels *k)
{
    int64_t n = 70003;
    float *x = rnd((size_t)n, -70000, 70000, 21), *back = malloc((size_t)n * 4);
    uint16_t *h = malloc((size_t)n * 2);
    x[0] = 1e-6f, x[1] = -0.0f, x[2] = 65520.0f, x[3] = 3e-8f, x[4] = INFINITY, x[5] = NAN;
    k->f32_to_f16(x, h, n);
    for (int64_t i = 0; i < n; i++)
        if (h[i] != lf_f32_to_f16(x[i]))
            fail_msg("%s f32->f16 of %g: %04x, want %04x", k->isa, (double)x[i], h[i],
                     lf_f32_to_f16(x[i]));
    k->f16_to_f32(h, back, n);
    for (int64_t i = 0; i < n; i++) {
        float want = lf_f16_to_f32(h[i]);
        if (memcmp(&back[i], &want, 4) && !(isnan(back[i]) && isnan(want)))
            fail_msg("%s f16->f32 of %04x: %g, want %g", k->isa, h[i], (double)back[i],
                     (double)want);
    }
    free(x), free(back), free(h);
}

/* bf16: bit-exact against the engine's scalar conversions, ties to even,
** NaN kept a NaN, over the whole f32 range. */
static void check_bf16(const struct lf_cpu_kernels *k)
{
    int64_t n = 70003;
    float *x = rnd((size_t)n, -1e38f, 1e38f, 22), *back = malloc((size_t)n * 4);
    uint16_t *h = malloc((size_t)n * 2);
    for (int64_t i = 6; i < n / 2; i++)
        x[i] = x[i] * 1e-36f; /* small and subnormal magnitudes too */
    x[0] = 1.0f + 1.0f / 256, x[1] = -0.0f, x[2] = 1.0f + 3.0f / 256, x[3] = 1e-40f,
    x[4] = INFINITY, x[5] = NAN;
    k->f32_to_bf16(x, h, n);
    for (int64_t i = 0; i < n; i++)
        if (h[i] != lf_f32_to_bf16(x[i]))
            fail_msg("%s f32->bf16 of %g: %04x, want %04x", k->isa, (double)x[i], h[i],
                     lf_f32_to_bf16(x[i]));
    assert_int_equal(h[0], 0x3f80); /* the tie to even rounds down */
    assert_int_equal(h[2], 0x3f82); /* and up */
    assert_true(isnan(lf_bf16_to_f32(h[5])));
    k->bf16_to_f32(h, back, n);
    for (int64_t i = 0; i < n; i++) {
        float want = lf_bf16_to_f32(h[i]);
        if (memcmp(&back[i], &want, 4))
            fail_msg("%s bf16->f32 of %04x: %g, want %g", k->isa, h[i], (double)back[i],
                     (double)want);
    }
    free(x), free(back), free(h);
}

/* The bf16 kernels against the f32 ones on the same bf16 values, their
** results rounded to bf16: the same f32 math, so equal (group norm: within
** one bf16 step, its sums run in other chunks). */
static uint16_t *to_bf16(const float *x, int64_t n)
{
    uint16_t *h = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++)
        h[i] = lf_f32_to_bf16(x[i]);
    return h;
}

static void assert_bf16_equal(const char *label, const uint16_t *got, const float *want, int64_t n,
                              double rtol)
{
    float *g = malloc((size_t)n * 4), *w = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        g[i] = lf_bf16_to_f32(got[i]), w[i] = lf_bf16_to_f32(lf_f32_to_bf16(want[i]));
    op_test_assert_close(label, g, w, (size_t)n, rtol ? 1e-6 : 0, rtol);
    free(g), free(w);
}

static void check_bf16_kernels(const struct lf_cpu_kernels *k)
{
    int64_t n = 40099;
    float *x = rnd((size_t)n * 2, -6, 6, 31), *f = malloc((size_t)n * 8);
    uint16_t *y = malloc((size_t)n * 2);
    for (int64_t i = 0; i < 2 * n; i++)
        x[i] = lf_bf16_to_f32(lf_f32_to_bf16(x[i]));
    uint16_t *hx = to_bf16(x, 2 * n);
    char label[64];
    for (unsigned fn = LF_UNARY_GELU; fn <= LF_UNARY_TANH; fn++) {
        k->unary(x, f, n, fn, 0.5f, 1.0f);
        k->unary_bf16(hx, y, n, fn, 0.5f, 1.0f);
        snprintf(label, sizeof label, "%s unary bf16 %u", k->isa, fn);
        assert_bf16_equal(label, y, f, n, 0);
    }
    /* a [3, 1, 7, 1999] op b [1, 5, 1, 1999]: both broadcast */
    int64_t sa[4] = {3, 1, 7, 1999}, sb[4] = {1, 5, 1, 1999}, ny = 3 * 5 * 7 * 1999;
    struct lf_cpu_broadcast bc;
    lf_cpu_broadcast_init(4, sa, 4, sb, &bc);
    uint16_t *yb = malloc((size_t)ny * 2);
    float *fy = malloc((size_t)ny * 4);
    for (int fn = LF_BINARY_ADD; fn <= LF_BINARY_DIV; fn++) {
        k->binary(x, x + n, fy, &bc, (enum lf_binary)fn);
        k->binary_bf16(hx, hx + n, yb, &bc, (enum lf_binary)fn);
        snprintf(label, sizeof label, "%s binary bf16 %d", k->isa, fn);
        assert_bf16_equal(label, yb, fy, ny, 0);
    }
    k->geglu(x, f, 37, 1000);
    k->geglu_bf16(hx, y, 37, 1000);
    assert_bf16_equal("geglu bf16", y, f, 37 * 1000, 0);
    float *gamma = rnd(64, 0.5f, 1.5f, 32), *beta = rnd(64, -1, 1, 33);
    for (int silu = 0; silu < 2; silu++) {
        k->group_norm(x, gamma, beta, 2, 64, 301, 32, 1e-5f, silu, f);
        k->group_norm_bf16(hx, gamma, beta, 2, 64, 301, 32, 1e-5f, silu, y);
        assert_bf16_equal(silu ? "group norm + silu bf16" : "group norm bf16", y, f, 2 * 64 * 301,
                          8e-3);
    }
    free(x), free(f), free(y), free(hx), free(yb), free(fy), free(gamma), free(beta);
}

static void unary_all_isas(void **state)
{
    for_each_isa(check_unary);
}
static void binary_all_isas(void **state)
{
    for_each_isa(check_binary);
}
static void geglu_all_isas(void **state)
{
    for_each_isa(check_geglu);
}
static void norms_all_isas(void **state)
{
    for_each_isa(check_norms);
    for_each_isa(check_softmax);
}
static void attention_all_isas(void **state)
{
    for_each_isa(check_attention);
}
static void f16_all_isas(void **state)
{
    for_each_isa(check_f16);
    for_each_isa(check_bf16);
    for_each_isa(check_bf16_kernels);
}

/* LCMFLOW_CPU_ISA picks the set (checked in a child-free way: the choice
** is made once per process, so only the named lookup is tested here). */
static void isa_names(void **state)
{
    assert_non_null(lf_cpu_kernels());
    assert_non_null(lf_cpu_kernels_named("portable"));
    assert_null(lf_cpu_kernels_named("sse9"));
    assert_null(lf_cpu_kernels_named(NULL));
    const char *env = getenv("LCMFLOW_CPU_ISA");
    if (env && lf_cpu_kernels_named(env)) assert_string_equal(lf_cpu_kernels()->isa, env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(isa_names),       cmocka_unit_test(unary_all_isas),
        cmocka_unit_test(binary_all_isas), cmocka_unit_test(geglu_all_isas),
        cmocka_unit_test(norms_all_isas),  cmocka_unit_test(attention_all_isas),
        cmocka_unit_test(f16_all_isas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
