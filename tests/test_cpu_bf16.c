/*
** test_cpu_bf16.c - the CPU backend's precision is the one asked for: dtype
** auto picks bf16 exactly where the CPU computes bf16 natively (cpuid's
** avx512_bf16 / amx_bf16 in /proc/cpuinfo) and f32 where it does not (also
** when LCMFLOW_CPU_NO_BF16=1 pretends so); a bf16 model holds its weights
** in bf16 (packed convolution weights too) and runs every convolution and
** GEMM in bf16; an f32 model never does (on the tiny-sd15 fixture).  And
** the bf16 ops themselves against the f32 references on bf16-rounded
** inputs.
*/
#include "test_util.h"
#include "cpu_impl.h"
#include "op_test.h"
#include "ref_conv.h"
#include "ref_gemm.h"
#include "sd_checkpoint.h"
#include "sd_unet.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <cmocka.h>

static char fixtures[512];

/* Whether an ISA cap set for oneDNN (ONEDNN_MAX_CPU_ISA, or its old name)
** still lets it use bf16 instructions: then it emulates bf16. */
static bool onednn_cap_allows_bf16(void)
{
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    if (!cap || !*cap) cap = getenv("DNNL_MAX_CPU_ISA");
    if (!cap || !*cap) return true;
    char up[64];
    size_t n = 0;
    for (; cap[n] && n + 1 < sizeof up; n++)
        up[n] = (char)toupper((unsigned char)cap[n]);
    up[n] = '\0';
    return !strcmp(up, "ALL") || strstr(up, "BF16") || strstr(up, "AMX");
}

/* The CPU's own flags, read independently of the backend's detection (and
** oneDNN's cap, so the test also runs with one: then auto is f32). */
static bool cpuinfo_has_bf16(void)
{
    if (!onednn_cap_allows_bf16()) return false;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5))
            found = strstr(line, " avx512_bf16") || strstr(line, " amx_bf16");
    fclose(f);
    return found;
}

static struct lf_device *open_cpu(bool pretend_no_bf16)
{
    struct lf_error err = {0};
    struct lf_device *d;
    if (pretend_no_bf16)
        setenv("LCMFLOW_CPU_NO_BF16", "1", 1);
    else
        unsetenv("LCMFLOW_CPU_NO_BF16");
    setenv("LCMFLOW_DEVICE", "cpu", 1);
    if (lf_device_create(NULL, &d, &err)) fail_msg("opening the CPU backend: %s", err.message);
    unsetenv("LCMFLOW_DEVICE");
    unsetenv("LCMFLOW_CPU_NO_BF16");
    assert_int_equal(lf_device_get_info(d)->backend, LF_BACKEND_CPU);
    return d;
}

static void auto_decides_from_the_cpu(void **state)
{
    bool native = cpuinfo_has_bf16();
    printf("  native bf16 (/proc/cpuinfo, oneDNN's ISA cap): %s\n", native ? "yes" : "no");
    for (int pretend = 0; pretend < 2; pretend++) {
        struct lf_device *d = open_cpu(pretend);
        struct lf_error err = {0};
        enum lf_dtype w, a;
        assert_true(lf_device_has(d, LF_DEVICE_CAP_BF16)); /* computes bf16 always */
        assert_int_equal(lf_device_has(d, LF_DEVICE_CAP_BF16_NATIVE), native && !pretend);
        assert_int_equal(sd_dtype_choose(d, "auto", &w, &a, &err), LF_OK);
        enum lf_dtype want = native && !pretend ? LF_DTYPE_BF16 : LF_DTYPE_F32;
        assert_int_equal(w, want);
        assert_int_equal(a, want);
        /* Explicit values are kept, native or not. */
        assert_int_equal(sd_dtype_choose(d, "bf16", &w, &a, &err), LF_OK);
        assert_int_equal(w, LF_DTYPE_BF16);
        assert_int_equal(a, LF_DTYPE_BF16);
        assert_int_equal(sd_dtype_choose(d, "f32", &w, &a, &err), LF_OK);
        assert_int_equal(w, LF_DTYPE_F32);
        assert_int_equal(a, LF_DTYPE_F32);
        assert_int_equal(sd_dtype_choose(d, "f8", &w, &a, &err), LF_ERR_INVALID);
        assert_non_null(strstr(err.message, "bf16"));
        lf_device_destroy(d);
    }
}

/* Every UNet weight of rank >= 2 is held in dtype: bf16 weights as bf16
** (plain, or packed in a bf16 layout), f32 ones as f32. */
static void check_held(const struct sd_weights *w, enum lf_dtype dtype)
{
    size_t packed = 0, checked = 0;
    for (size_t i = 0; i < w->count; i++) {
        struct lf_tensor *t = w->items[i].tensor;
        assert_int_equal(t->dtype, dtype);
        struct lf_cpu_buffer *b = lf_cpu_buf(t);
        if (b->form == CPU_BUF_PACKED) {
            packed++;
            assert_int_equal(b->fmt.md.data_type, dtype == LF_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32);
        } else {
            assert_int_equal(b->form, CPU_BUF_PLAIN); /* never widened to f32 */
        }
        checked++;
    }
    printf("  %s: %zu weights, %zu packed\n", lf_dtype_name(dtype), checked, packed);
    assert_true(packed > 0);
}

struct run {
    uint64_t weight_bytes;
    struct lf_cpu_dtype_counts calls;
};

/* Loads tiny-sd15 with the dtype param name on d and runs one UNet step at
** 8x8 latents; checks the weights, counts the oneDNN calls by precision. */
static struct run load_and_step(struct lf_device *d, const char *name, enum lf_dtype want)
{
    struct lf_error err = {0};
    enum lf_dtype w, a;
    assert_int_equal(sd_dtype_choose(d, name, &w, &a, &err), LF_OK);
    assert_int_equal(w, want);
    char path[700];
    snprintf(path, sizeof path, "%s/tiny-sd15/model.safetensors", fixtures);
    struct lf_device_memory_stats m0, m1;
    lf_device_memory_stats(d, &m0);
    struct sd_checkpoint ck;
    struct sd_unet u;
    if (sd_checkpoint_load(d, path, w, &ck, &err) || sd_unet_init(&u, ck.unet, &ck.arch.unet, &err))
        fail_msg("%s", err.message);
    u.act_dtype = a;
    lf_device_memory_stats(d, &m1);
    check_held(ck.unet, want);
    int64_t xs[4] = {1, u.in_channels, 8, 8}, cs[3] = {1, 77, u.context_dim};
    float *x = malloc((size_t)(u.in_channels * 64) * sizeof *x);
    float *c = malloc((size_t)(77 * u.context_dim) * sizeof *c);
    op_test_random(x, (size_t)(u.in_channels * 64), -1, 1, 1);
    op_test_random(c, (size_t)(77 * u.context_dim), -1, 1, 2);
    struct lf_tensor *tx, *tc, *out;
    if (lf_tensor_from_f32(d, LF_DTYPE_F32, 4, xs, x, &tx, &err) ||
        lf_tensor_from_f32(d, LF_DTYPE_F32, 3, cs, c, &tc, &err))
        fail_msg("%s", err.message);
    struct lf_cpu_dtype_counts c0, c1;
    lf_cpu_dtype_counts(&c0);
    if (sd_unet_forward(&u, tx, 500.0f, tc, &out, &err)) fail_msg("%s", err.message);
    lf_cpu_dtype_counts(&c1);
    assert_int_equal(out->dtype, LF_DTYPE_F32); /* the sampler's latents, in any dtype */
    struct run r = {m1.in_use - m0.in_use, {c1.f32 - c0.f32, c1.bf16 - c0.bf16}};
    printf("  %s: weights %.2f MiB, oneDNN calls f32 %ld, bf16 %ld\n", name,
           (double)r.weight_bytes / (1 << 20), r.calls.f32, r.calls.bf16);
    free(x), free(c);
    lf_tensor_release(tx), lf_tensor_release(tc), lf_tensor_release(out);
    sd_unet_clear(&u);
    sd_checkpoint_clear(&ck);
    return r;
}

static void no_silent_fallback(void **state)
{
    bool native = cpuinfo_has_bf16();
    struct lf_device *d = open_cpu(false);
    /* auto on a native CPU, else the explicit value: bf16 throughout. */
    struct run b = load_and_step(d, native ? "auto" : "bf16", LF_DTYPE_BF16);
    assert_true(b.calls.bf16 > 0);
    assert_int_equal(b.calls.f32, 0);
    /* Explicit f32 stays f32, native bf16 or not. */
    struct run f = load_and_step(d, "f32", LF_DTYPE_F32);
    assert_true(f.calls.f32 > 0);
    assert_int_equal(f.calls.bf16, 0);
    /* bf16 weights take half the memory (a widened copy would not). */
    assert_true(b.weight_bytes * 100 <= f.weight_bytes * 55);
    lf_device_destroy(d);
    /* auto where bf16 is not native (pretended): f32 throughout. */
    d = open_cpu(true);
    struct run p = load_and_step(d, "auto", LF_DTYPE_F32);
    assert_int_equal(p.calls.bf16, 0);
    /* ... and an explicit bf16 there is still bf16 (emulated or not). */
    struct run e = load_and_step(d, "bf16", LF_DTYPE_BF16);
    assert_int_equal(e.calls.f32, 0);
    assert_true(e.calls.bf16 > 0);
    lf_device_destroy(d);
}

static float bf16_round(float x)
{
    return lf_bf16_to_f32(lf_f32_to_bf16(x));
}

static struct lf_tensor *bf16_tensor(struct lf_device *d, int rank, const int64_t *shape,
                                     float *data, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        data[i] = bf16_round(data[i]);
    struct lf_tensor *t;
    struct lf_error err = {0};
    if (lf_tensor_from_f32(d, LF_DTYPE_BF16, rank, shape, data, &t, &err))
        fail_msg("%s", err.message);
    return t;
}

/* Convolutions on packed bf16 weights (3x3 and 1x1, with bias) and a
** linear layer, all bf16, against the f32 reference on the same rounded
** inputs: within the bf16 rounding of the output (2^-8 relative) plus
** accumulation; the packed weight downloads as uploaded and a LoRA merge
** into it matches the reference merge rounded once to bf16. */
static void bf16_ops_match_references(void **state)
{
    struct lf_device *d = open_cpu(false);
    struct lf_error err = {0};
    for (int k = 1; k <= 3; k += 2) {
        int64_t o = 64, c = 32, h = 12, w = 10, nw = o * c * k * k, nx = c * h * w;
        int64_t ws[4] = {o, c, k, k}, xs[4] = {1, c, h, w}, bs[1] = {o};
        float *wv = malloc((size_t)nw * 4), *xv = malloc((size_t)nx * 4), *bv = malloc(64 * 4);
        float *want = malloc((size_t)(o * h * w) * 4), *back = malloc((size_t)nw * 4);
        op_test_random(wv, (size_t)nw, -0.5f, 0.5f, 10 + (uint32_t)k);
        op_test_random(xv, (size_t)nx, -1, 1, 20 + (uint32_t)k);
        op_test_random(bv, 64, -1, 1, 30);
        struct lf_tensor *tw = bf16_tensor(d, 4, ws, wv, nw), *tx = bf16_tensor(d, 4, xs, xv, nx);
        struct lf_tensor *tb, *ty;
        assert_int_equal(lf_tensor_from_f32(d, LF_DTYPE_F32, 1, bs, bv, &tb, &err), LF_OK);
        bool packed = lf_tensor_prepare_weight(tw);
        if (packed) assert_int_equal(lf_cpu_buf(tw)->fmt.md.data_type, dnnl_bf16);
        assert_int_equal(lf_tensor_download_f32(tw, back, nw, &err), LF_OK);
        assert_memory_equal(back, wv, (size_t)nw * 4);
        struct lf_conv2d_params p = {1, k / 2, k / 2, k / 2, k / 2};
        struct lf_cpu_dtype_counts c0, c1;
        lf_cpu_dtype_counts(&c0);
        assert_int_equal(lf_op_conv2d(tx, tw, tb, &p, &ty, &err), LF_OK);
        lf_cpu_dtype_counts(&c1);
        assert_int_equal(c1.bf16 - c0.bf16, 1);
        assert_int_equal(ty->dtype, LF_DTYPE_BF16);
        float *got = op_test_download(ty);
        ref_conv2d(xv, wv, bv, 1, c, h, w, o, k, k, &p, want);
        char label[64];
        snprintf(label, sizeof label, "bf16 conv %lldx%lld%s", (long long)k, (long long)k,
                 packed ? " packed" : "");
        op_test_assert_close(label, got, want, (size_t)(o * h * w), 2e-3, 8e-3);
        free(got), free(wv), free(xv), free(bv), free(want), free(back);
        lf_tensor_release(tw), lf_tensor_release(tx), lf_tensor_release(tb);
        lf_tensor_release(ty);
    }
    /* linear [m, k] x [n, k]^T, then a LoRA merge into the bf16 weight */
    int64_t m = 37, n = 48, kk = 80, r = 4;
    int64_t xs[2] = {m, kk}, ws[2] = {n, kk}, us[2] = {n, r}, ds[2] = {r, kk};
    float *xv = malloc((size_t)(m * kk) * 4), *wv = malloc((size_t)(n * kk) * 4);
    float *up = malloc((size_t)(n * r) * 4), *down = malloc((size_t)(r * kk) * 4);
    float *want = malloc((size_t)(m * n) * 4);
    op_test_random(xv, (size_t)(m * kk), -1, 1, 40);
    op_test_random(wv, (size_t)(n * kk), -0.5f, 0.5f, 41);
    op_test_random(up, (size_t)(n * r), -1, 1, 42);
    op_test_random(down, (size_t)(r * kk), -1, 1, 43);
    struct lf_tensor *tx = bf16_tensor(d, 2, xs, xv, m * kk),
                     *tw = bf16_tensor(d, 2, ws, wv, n * kk);
    struct lf_tensor *tu, *td, *ty;
    assert_int_equal(lf_tensor_from_f32(d, LF_DTYPE_F32, 2, us, up, &tu, &err), LF_OK);
    assert_int_equal(lf_tensor_from_f32(d, LF_DTYPE_F32, 2, ds, down, &td, &err), LF_OK);
    struct lf_cpu_dtype_counts c0, c1;
    lf_cpu_dtype_counts(&c0);
    assert_int_equal(lf_op_linear(tx, tw, NULL, &ty, &err), LF_OK);
    lf_cpu_dtype_counts(&c1);
    assert_int_equal(c1.bf16 - c0.bf16, 1);
    float *got = op_test_download(ty);
    ref_gemm(xv, wv, NULL, false, true, 1, m, n, kk, 0, 0, want);
    op_test_assert_close("bf16 linear", got, want, (size_t)(m * n), 2e-3, 8e-3);
    free(got);
    assert_int_equal(lf_op_lora_merge(tw, tu, td, 0.5f, &err), LF_OK);
    assert_int_equal(tw->dtype, LF_DTYPE_BF16);
    ref_lora_merge(wv, up, down, n, kk, r, 0.5f);
    float *merged = op_test_download(tw);
    for (int64_t i = 0; i < n * kk; i++)
        wv[i] = bf16_round(wv[i]);
    op_test_assert_close("LoRA merge into bf16", merged, wv, (size_t)(n * kk), 0, 8e-3);
    free(merged), free(xv), free(wv), free(up), free(down), free(want);
    lf_tensor_release(tx), lf_tensor_release(tw), lf_tensor_release(tu), lf_tensor_release(td);
    lf_tensor_release(ty);
    lf_device_destroy(d);
}

int main(void)
{
    if (!test_fixtures_find(fixtures, sizeof fixtures, "tiny-sd15/model.safetensors")) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auto_decides_from_the_cpu),
        cmocka_unit_test(no_silent_fallback),
        cmocka_unit_test(bf16_ops_match_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
