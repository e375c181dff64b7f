/*
** test_ops_gemm.c - GEMM, Linear and the LoRA merge against the plain-C
** references (ref_gemm.c), for every variant (LCMFLOW_OP_VARIANT=portable,
** lavapipe, gpu), both transposes, with and without bias, batched and
** broadcast operands, odd sizes (M, N, K not multiples of any tile, K = 1,
** N = 1), f32 and f16 storage and f16 weights with f32 activations; and a
** GEMM over a 200 MiB input, beyond lavapipe's 128 MiB maxStorageBufferRange.
**
** Inputs are uniform in [-1, 1) (rounded to f16 where stored as f16, so the
** reference sees the device's values).  Tolerances, |err| <= atol + rtol *
** |want|: f32 output 1e-5 + 1e-4 (f32 accumulation over K <= 1024 terms);
** f16 output 1e-3 + 2e-3 (the result is rounded to f16: 2^-11 relative).
**
** Time on lavapipe: about 60 s with an empty pipeline cache (compiling the
** unrolled lavapipe kernels, once per transpose and texel format), about
** 10 s with it.
*/
#include "op_test.h"
#include "ref_gemm.h"
#include "vk_ops.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *const variants[] = {"portable", "lavapipe", "gpu"};
#define VARIANT_COUNT 3

/* Activation dtype, weight (B) dtype. */
static const enum lf_dtype dtypes[][2] = {
    {LF_DTYPE_F32, LF_DTYPE_F32},
    {LF_DTYPE_F16, LF_DTYPE_F16},
    {LF_DTYPE_F32, LF_DTYPE_F16},
};

static void tolerance(enum lf_dtype out, double *atol, double *rtol)
{
    *atol = out == LF_DTYPE_F16 ? 1e-3 : 1e-5;
    *rtol = out == LF_DTYPE_F16 ? 2e-3 : 1e-4;
}

static void set_variant(const char *name)
{
    if (name)
        setenv("LCMFLOW_OP_VARIANT", name, 1);
    else
        unsetenv("LCMFLOW_OP_VARIANT");
}

static float *random_array(int64_t n, uint32_t seed)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    assert_non_null(x);
    op_test_random(x, (size_t)n, -1, 1, seed);
    return x;
}

/* One batched case: A [batch_a..., M, K] (or [.., K, M]), B likewise. */
struct gemm_case {
    int64_t m, n, k;
    int64_t a_batch, b_batch; /* 0: no batch dimension */
};

static void run_case(const char *variant, const struct gemm_case *gc, bool ta, bool tb,
                     bool with_bias, enum lf_dtype adt, enum lf_dtype bdt, uint32_t seed)
{
    int64_t m = gc->m, n = gc->n, k = gc->k;
    int64_t ab = gc->a_batch ? gc->a_batch : 1, bb = gc->b_batch ? gc->b_batch : 1;
    int64_t batch = ab > bb ? ab : bb;
    int64_t ashape[3], bshape[3], bias_shape = n;
    int ar = 0, br = 0;
    if (gc->a_batch) ashape[ar++] = gc->a_batch;
    ashape[ar++] = ta ? k : m;
    ashape[ar++] = ta ? m : k;
    if (gc->b_batch) bshape[br++] = gc->b_batch;
    bshape[br++] = tb ? n : k;
    bshape[br++] = tb ? k : n;
    float *a = random_array(ab * m * k, seed), *b = random_array(bb * k * n, seed + 1);
    float *bias = with_bias ? random_array(n, seed + 2) : NULL;
    struct lf_tensor *tA = op_test_tensor(adt, ar, ashape, a);
    struct lf_tensor *tB = op_test_tensor(bdt, br, bshape, b);
    struct lf_tensor *tbias = bias ? op_test_tensor(bdt, 1, &bias_shape, bias) : NULL, *tc = NULL;
    struct lf_error err = {0};
    set_variant(variant);
    enum lf_status s = lf_op_gemm(tA, tB, tbias, ta, tb, &tc, &err);
    set_variant(NULL);
    if (s != LF_OK) fail_msg("gemm failed: %s", err.message);
    assert_int_equal(tc->dtype, adt);
    assert_int_equal(tc->shape[tc->rank - 2], m);
    assert_int_equal(tc->shape[tc->rank - 1], n);
    assert_int_equal(lf_tensor_numel(tc), batch * m * n);

    int64_t count = batch * m * n;
    float *want = malloc((size_t)(count > 0 ? count : 1) * sizeof *want);
    ref_gemm(a, b, bias, ta, tb, batch, m, n, k, gc->a_batch ? m * k : 0, gc->b_batch ? k * n : 0,
             want);
    float *got = op_test_download(tc);
    double atol, rtol;
    tolerance(adt, &atol, &rtol);
    char label[128];
    snprintf(label, sizeof label, "%s %lldx%lldx%lld b%lld/%lld %s%s%s %s/%s", variant,
             (long long)m, (long long)n, (long long)k, (long long)gc->a_batch,
             (long long)gc->b_batch, ta ? "tA " : "", tb ? "tB " : "", bias ? "bias" : "",
             lf_dtype_name(adt), lf_dtype_name(bdt));
    op_test_assert_close(label, got, want, (size_t)(batch * m * n), atol, rtol);
    free(a), free(b), free(bias), free(want), free(got);
    lf_tensor_release(tA), lf_tensor_release(tB), lf_tensor_release(tbias), lf_tensor_release(tc);
}

/* Odd shapes take the lavapipe variant's fallback; the multiples of 4
** (K, N, and M for transposed A) exercise the variant itself, with tile
** edges in both M and N. */
static const struct gemm_case shapes[] = {
    {1, 1, 1, 0, 0},     {3, 5, 7, 0, 0},    {17, 1, 33, 0, 0},    {33, 65, 1, 0, 0},
    {65, 67, 129, 0, 0}, {4, 4, 4, 0, 0},    {1, 4, 8, 0, 0},      {37, 68, 20, 0, 0},
    {36, 100, 12, 0, 0}, {64, 64, 64, 0, 0}, {20, 132, 160, 0, 0},
};

static void gemm_shapes_all_variants(void **state)
{
    uint32_t seed = 1;
    for (int v = 0; v < VARIANT_COUNT; v++)
        for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++)
            for (int t = 0; t < 4; t++)
                for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
                    /* bias alternates so every shape sees both. */
                    bool with_bias = (c + (size_t)t + d) % 2 == 0;
                    run_case(variants[v], &shapes[c], t & 1, t & 2, with_bias, dtypes[d][0],
                             dtypes[d][1], seed += 3);
                }
    op_test_check_validation();
}

/* Every lavapipe shader (LCMFLOW_GEMM_LVP picks one; the default is checked
** above): texel, storage-buffer and address variants. */
static const char *const lavapipe_shaders[] = {
    "gemm_lvp_texel", "gemm_lvp_texel_32x64", "gemm_lvp_texel_16x128", "gemm_lvp_ssbo", "gemm_lvp"};

static void gemm_every_lavapipe_shader(void **state)
{
    static const struct gemm_case cases[] = {
        {37, 68, 20, 0, 0},  /* edge tiles in M and N */
        {36, 132, 12, 0, 0}, /* M % 4 == 0: transposed A too */
        {12, 8, 16, 3, 0},   /* batched A, broadcast B */
        {8, 12, 8, 2, 2},    /* both batched */
    };
    uint32_t seed = 5000;
    for (size_t v = 0; v < sizeof lavapipe_shaders / sizeof *lavapipe_shaders; v++) {
        setenv("LCMFLOW_GEMM_LVP", lavapipe_shaders[v], 1);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
            for (int t = 0; t < 4; t++) {
                /* The other kernels share most of the default's code, and
                ** compiling them dominates the time: the other tiles get the
                ** Linear case (B transposed), the storage-buffer kernel also
                ** transposed A, the address kernel (which serves big
                ** tensors) also the plain case. */
                if ((v == 1 || v == 2) && t != 2) continue;
                if (v == 3 && t != 1 && t != 2) continue;
                if (v == 4 && t == 3) continue;
                /* The dtypes follow the transposes, so that each shader
                ** needs only 4 pipelines (compiling them dominates). */
                run_case("lavapipe", &cases[c], t & 1, t & 2, (t + (int)c) % 2 == 0,
                         dtypes[t % 3][0], dtypes[t % 3][1], seed += 3);
            }
        printf("  (checked %s)\n", lavapipe_shaders[v]);
    }
    unsetenv("LCMFLOW_GEMM_LVP");
    op_test_check_validation();
}

static void gemm_batched(void **state)
{
    static const struct gemm_case cases[] = {
        {5, 7, 3, 3, 0},   /* batched A, broadcast B (odd) */
        {12, 8, 16, 3, 0}, /* the same, lavapipe-sized */
        {9, 12, 8, 2, 2},  /* both batched */
        {8, 20, 4, 0, 3},  /* broadcast A, batched B */
        {1, 1, 1, 4, 4},
    };
    uint32_t seed = 1000;
    for (int v = 0; v < VARIANT_COUNT; v++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
            for (int t = 0; t < 4; t++)
                for (int bias = 0; bias < 2; bias++)
                    run_case(variants[v], &cases[c], t & 1, t & 2, bias, LF_DTYPE_F32,
                             v == 1 ? LF_DTYPE_F16 : LF_DTYPE_F32, seed += 3);
    op_test_check_validation();
}

/* Two batch dims: A [2, 3, M, K] against B [K, N]. */
static void gemm_rank4_batch(void **state)
{
    int64_t m = 6, n = 8, k = 12;
    int64_t ashape[4] = {2, 3, m, k}, bshape[2] = {k, n};
    float *a = random_array(6 * m * k, 77), *b = random_array(k * n, 78);
    struct lf_tensor *tA = op_test_tensor(LF_DTYPE_F32, 4, ashape, a);
    struct lf_tensor *tB = op_test_tensor(LF_DTYPE_F32, 2, bshape, b), *tc;
    struct lf_error err = {0};
    assert_int_equal(lf_op_gemm(tA, tB, NULL, false, false, &tc, &err), LF_OK);
    assert_int_equal(tc->rank, 4);
    assert_int_equal(tc->shape[0], 2);
    assert_int_equal(tc->shape[1], 3);
    float *want = malloc((size_t)(6 * m * n) * sizeof *want), *got = op_test_download(tc);
    ref_gemm(a, b, NULL, false, false, 6, m, n, k, m * k, 0, want);
    op_test_assert_close("rank-4 batch", got, want, (size_t)(6 * m * n), 1e-5, 1e-4);
    free(a), free(b), free(want), free(got);
    lf_tensor_release(tA), lf_tensor_release(tB), lf_tensor_release(tc);
    op_test_check_validation();
}

static void linear_matches_reference(void **state)
{
    /* x [2, 5, K] f32 with f16 weight [N, K] and bias: SD's usual setting. */
    static const int64_t sizes[][2] = {{320, 64}, {7, 3}, {1, 1}, {40, 36}};
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        int64_t k = sizes[c][0], n = sizes[c][1];
        int64_t xshape[3] = {2, 5, k}, wshape[2] = {n, k};
        float *x = random_array(10 * k, 200 + (uint32_t)c), *w = random_array(n * k, 300);
        float *bias = random_array(n, 400);
        struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 3, xshape, x);
        struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F16, 2, wshape, w);
        struct lf_tensor *tbias = op_test_tensor(LF_DTYPE_F16, 1, &n, bias), *ty;
        struct lf_error err = {0};
        assert_int_equal(lf_op_linear(tx, tw, tbias, &ty, &err), LF_OK);
        assert_int_equal(ty->rank, 3);
        assert_int_equal(ty->shape[0], 2);
        assert_int_equal(ty->shape[1], 5);
        assert_int_equal(ty->shape[2], n);
        assert_int_equal(ty->dtype, LF_DTYPE_F32);
        float *want = malloc((size_t)(10 * n) * sizeof *want), *got = op_test_download(ty);
        ref_gemm(x, w, bias, false, true, 1, 10, n, k, 0, 0, want);
        char label[64];
        snprintf(label, sizeof label, "linear [2, 5, %lld] -> %lld", (long long)k, (long long)n);
        op_test_assert_close(label, got, want, (size_t)(10 * n), 1e-5, 1e-4);
        free(x), free(w), free(bias), free(want), free(got);
        lf_tensor_release(tx), lf_tensor_release(tw), lf_tensor_release(tbias);
        lf_tensor_release(ty);
    }
    /* A single vector [K] gives [N]. */
    int64_t k = 8, n = 4, wshape[2] = {n, k};
    float x[8], w[32], want[4];
    op_test_random(x, 8, -1, 1, 9);
    op_test_random(w, 32, -1, 1, 10);
    struct lf_tensor *tx = op_test_tensor(LF_DTYPE_F32, 1, &k, x);
    struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F32, 2, wshape, w), *ty;
    struct lf_error err = {0};
    assert_int_equal(lf_op_linear(tx, tw, NULL, &ty, &err), LF_OK);
    assert_int_equal(ty->rank, 1);
    assert_int_equal(ty->shape[0], n);
    float *got = op_test_download(ty);
    ref_gemm_row(x, w, NULL, true, 0, n, k, want);
    op_test_assert_close("linear [8] -> [4]", got, want, 4, 1e-5, 1e-4);
    free(got);
    lf_tensor_release(ty);
    /* Mismatched K is refused with both shapes named. */
    int64_t bad[2] = {n, k + 1};
    float wb[36] = {0};
    struct lf_tensor *twb = op_test_tensor(LF_DTYPE_F32, 2, bad, wb);
    assert_int_equal(lf_op_linear(tx, twb, NULL, &ty, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "[4, 9]"));
    lf_tensor_release(tx), lf_tensor_release(tw), lf_tensor_release(twb);
    op_test_check_validation();
}

static void gemm_rejects_bad_shapes(void **state)
{
    struct lf_error err = {0};
    float z[64] = {0};
    int64_t s23[2] = {2, 3}, s43[2] = {4, 3}, s5[1] = {5}, b2[3] = {2, 3, 4}, b3[3] = {3, 3, 4};
    struct lf_tensor *a = op_test_tensor(LF_DTYPE_F32, 2, s23, z);
    struct lf_tensor *b = op_test_tensor(LF_DTYPE_F32, 2, s43, z);
    struct lf_tensor *bias = op_test_tensor(LF_DTYPE_F32, 1, s5, z);
    struct lf_tensor *ba = op_test_tensor(LF_DTYPE_F32, 3, b2, z);
    struct lf_tensor *bb = op_test_tensor(LF_DTYPE_F32, 3, b3, z), *c = NULL;
    assert_int_equal(lf_op_gemm(a, b, NULL, false, false, &c, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "differ in K"));
    assert_null(c);
    /* [2, 3] @ [4, 3]^T is fine, with a bias of 4, not 5. */
    assert_int_equal(lf_op_gemm(a, b, bias, false, true, &c, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "bias"));
    assert_int_equal(lf_op_gemm(ba, bb, NULL, false, true, &c, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "batch"));
    assert_int_equal(lf_op_gemm(a, bias, NULL, false, false, &c, &err), LF_ERR_INVALID);
    lf_tensor_release(a), lf_tensor_release(b), lf_tensor_release(bias);
    lf_tensor_release(ba), lf_tensor_release(bb);
    op_test_check_validation();
}

/* llvmpipe silently ends an invocation after 65535 loop iterations: a K
** that long is refused there rather than computed wrongly. */
static void gemm_refuses_too_long_k_on_lavapipe(void **state)
{
    if (!op_test_lavapipe()) {
        printf("  not lavapipe: nothing to check\n");
        return;
    }
    int64_t k = 262144, ashape[2] = {1, k}, bshape[2] = {k, 4};
    float *a = calloc((size_t)k * 4, sizeof *a);
    assert_non_null(a);
    struct lf_tensor *tA = op_test_tensor(LF_DTYPE_F32, 2, ashape, a);
    struct lf_tensor *tB = op_test_tensor(LF_DTYPE_F32, 2, bshape, a), *tc = NULL;
    struct lf_error err = {0};
    assert_int_equal(lf_op_gemm(tA, tB, NULL, false, false, &tc, &err), LF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "K = 262144"));
    assert_null(tc);
    free(a);
    lf_tensor_release(tA), lf_tensor_release(tB);
    op_test_check_validation();
}

/* A = [51200, 1024] f32 is 200 MiB, more than one storage binding reaches
** on lavapipe; rows spread over the whole tensor are checked, the last
** included, with the device's default variant. */
static void gemm_beyond_binding_range(void **state)
{
    const int64_t m = 51200, k = 1024, n = 8;
    int64_t ashape[2] = {m, k}, bshape[2] = {k, n};
    float *a = malloc((size_t)(m * k) * sizeof *a);
    assert_non_null(a);
    for (int64_t i = 0; i < m * k; i++)
        a[i] = (float)((i * 7 + i / k * 13) % 17) * 0.125f - 1.0f;
    float *b = random_array(k * n, 555);
    struct lf_error err = {0};
    struct lf_tensor *tA, *tB, *tc;
    assert_int_equal(lf_tensor_from_f32(op_test_device(), LF_DTYPE_F32, 2, ashape, a, &tA, &err),
                     LF_OK);
    tB = op_test_tensor(LF_DTYPE_F32, 2, bshape, b);
    /* The default shader, then the storage-buffer variant (beyond its
    ** binding range it falls back to addresses) and the address variant. */
    static const char *const shaders[] = {"", "gemm_lvp_ssbo", "gemm_lvp"};
    for (int v = 0; v < 3; v++) {
        setenv("LCMFLOW_GEMM_LVP", shaders[v], 1);
        enum lf_status s = lf_op_gemm(tA, tB, NULL, false, false, &tc, &err);
        unsetenv("LCMFLOW_GEMM_LVP");
        assert_int_equal(s, LF_OK);
        float *got = op_test_download(tc);
        float want[8];
        int checked = 0;
        for (int64_t row = 0; row < m; row += (row < m - 64 ? 397 : 1)) {
            ref_gemm_row(a, b, NULL, false, row, n, k, want);
            double worst = op_test_compare(got + row * n, want, (size_t)n, 1e-4, 1e-4, NULL);
            if (!(worst <= 1.0))
                fail_msg("%s: row %lld differs from the reference",
                         shaders[v][0] ? shaders[v] : "default", (long long)row);
            checked++;
        }
        printf("  200 MiB GEMM (%s): %d rows match the reference\n",
               shaders[v][0] ? shaders[v] : "default", checked);
        free(got);
        lf_tensor_release(tc);
    }
    free(a), free(b);
    lf_tensor_release(tA), lf_tensor_release(tB);
    op_test_check_validation();
}

/* Dispatches recorded by one merge (Vulkan devices; 0 elsewhere): tells
** which strategy ran. */
static uint64_t dispatches(void)
{
    const struct lf_device *device = op_test_device();
    return lf_vk_device_info(device) ? ((const struct lf_vk_device *)device)->dispatch_count : 0;
}

static uint64_t lora_case(int rank, const int64_t *wshape, const int64_t *ushape,
                          const int64_t *dshape, enum lf_dtype wdt, float scale, uint32_t seed)
{
    int64_t nw = 1, nu = 1, nd = 1;
    for (int i = 0; i < rank; i++)
        nw *= wshape[i], nu *= ushape[i], nd *= dshape[i];
    float *w = random_array(nw, seed), *up = random_array(nu, seed + 1);
    float *down = random_array(nd, seed + 2);
    struct lf_tensor *tw = op_test_tensor(wdt, rank, wshape, w);
    struct lf_tensor *tu = op_test_tensor(LF_DTYPE_F16, rank, ushape, up);
    struct lf_tensor *td = op_test_tensor(LF_DTYPE_F16, rank, dshape, down);
    struct lf_error err = {0};
    uint64_t before = dispatches();
    if (lf_op_lora_merge(tw, tu, td, scale, &err) != LF_OK)
        fail_msg("lora_merge failed: %s", err.message);
    uint64_t used = dispatches() - before;
    int64_t r = ushape[1];
    ref_lora_merge(w, up, down, wshape[0], nw / wshape[0], r, scale);
    float *got = op_test_download(tw);
    double atol, rtol;
    tolerance(wdt, &atol, &rtol);
    char label[96];
    snprintf(label, sizeof label, "lora_merge rank-%d tensor, r=%lld, %s, scale %g", rank,
             (long long)r, lf_dtype_name(wdt), (double)scale);
    op_test_assert_close(label, got, w, (size_t)nw, atol, rtol);
    free(w), free(up), free(down), free(got);
    lf_tensor_release(tw), lf_tensor_release(tu), lf_tensor_release(td);
    return used;
}

/* Every strategy of the backend (the Vulkan ones: OpenBLAS on the host
** where it applies, device GEMM + add, the merge shader). */
static void lora_merge_matches_reference(void **state)
{
    static const float scales[] = {0.75f, -1.5f};
    static const char *const strategies[] = {"host", "gemm", "op"};
    const struct lf_device *device = op_test_device();
    bool vulkan = lf_vk_device_info(device) != NULL;
    bool host = vulkan && lf_vk_lora_host_available((const struct lf_vk_device *)device);
    for (int d = 0; d < 2 * 3; d++) {
        const char *strategy = strategies[d / 2];
        setenv("LCMFLOW_LORA_MERGE", strategy, 1);
        printf("  lora_merge, LCMFLOW_LORA_MERGE=%s%s\n", strategy,
               !strcmp(strategy, "host") && !host ? " (unavailable: gemm)" : "");
        enum lf_dtype wdt = d % 2 ? LF_DTYPE_F16 : LF_DTYPE_F32;
        for (int s = 0; s < 2; s++) {
            /* Linear [13, 17] with rank 4, and an SD-like [320, 768] with rank 8. */
            int64_t w1[2] = {13, 17}, u1[2] = {13, 4}, d1[2] = {4, 17};
            uint64_t used = lora_case(2, w1, u1, d1, wdt, scales[s], 10u + (uint32_t)(d * 2 + s));
            /* The strategy forced is the one that ran: the host merge
            ** dispatches nothing, the shader once, GEMM + add three times. */
            if (vulkan && !strcmp(strategy, "op")) assert_int_equal(used, 1);
            if (vulkan && !strcmp(strategy, "host") && host) assert_int_equal(used, 0);
            if (vulkan && (!strcmp(strategy, "gemm") || (!strcmp(strategy, "host") && !host)))
                assert_int_equal(used, 3);
            int64_t w2[2] = {320, 768}, u2[2] = {320, 8}, d2[2] = {8, 768};
            lora_case(2, w2, u2, d2, wdt, scales[s], 20u + (uint32_t)(d * 2 + s));
            /* Conv 3x3: down [r, C, 3, 3], up [O, r, 1, 1]; and a 1x1 conv. */
            int64_t w3[4] = {6, 5, 3, 3}, u3[4] = {6, 3, 1, 1}, d3[4] = {3, 5, 3, 3};
            lora_case(4, w3, u3, d3, wdt, scales[s], 30u + (uint32_t)(d * 2 + s));
            int64_t w4[4] = {7, 9, 1, 1}, u4[4] = {7, 2, 1, 1}, d4[4] = {2, 9, 1, 1};
            lora_case(4, w4, u4, d4, wdt, scales[s], 40u + (uint32_t)(d * 2 + s));
        }
    }
    unsetenv("LCMFLOW_LORA_MERGE");
    /* Shapes that do not fit are refused with all three named. */
    float z[64] = {0};
    int64_t w[2] = {4, 6}, u[2] = {4, 2}, dn[2] = {3, 6};
    struct lf_tensor *tw = op_test_tensor(LF_DTYPE_F32, 2, w, z);
    struct lf_tensor *tu = op_test_tensor(LF_DTYPE_F32, 2, u, z);
    struct lf_tensor *td = op_test_tensor(LF_DTYPE_F32, 2, dn, z);
    struct lf_error err = {0};
    assert_int_equal(lf_op_lora_merge(tw, tu, td, 1.0f, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "[3, 6]"));
    lf_tensor_release(tw), lf_tensor_release(tu), lf_tensor_release(td);
    op_test_check_validation();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemm_shapes_all_variants),
        cmocka_unit_test(gemm_every_lavapipe_shader),
        cmocka_unit_test(gemm_batched),
        cmocka_unit_test(gemm_rank4_batch),
        cmocka_unit_test(linear_matches_reference),
        cmocka_unit_test(gemm_rejects_bad_shapes),
        cmocka_unit_test(gemm_refuses_too_long_k_on_lavapipe),
        cmocka_unit_test(gemm_beyond_binding_range),
        cmocka_unit_test(lora_merge_matches_reference),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
