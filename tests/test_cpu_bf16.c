/*
** test_cpu_bf16.c - the CPU backend's precision is the one asked for: dtype
** auto picks bf16 exactly where the CPU computes bf16 natively (cpuid's
** avx512_bf16 / amx_bf16 in /proc/cpuinfo) and f32 where it does not (also
** when LCMFLOW_CPU_NO_BF16=1 pretends so); a bf16 model holds its weights
** in bf16 (packed convolution weights too) and runs every convolution and
** GEMM in bf16; an f32 model never does.  On the tiny-sd15 fixture.
*/
#include "cpu_impl.h"
#include "op_test.h"
#include "sd_checkpoint.h"
#include "sd_unet.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char fixtures[512];

/* The CPU's own flags, read independently of the backend's detection. */
static bool cpuinfo_has_bf16(void)
{
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
    printf("  /proc/cpuinfo: %s\n", native ? "avx512_bf16 or amx_bf16" : "no native bf16");
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

int main(void)
{
    const char *dir = getenv("LCMFLOW_FIXTURES");
    char probe[600];
    snprintf(fixtures, sizeof fixtures, "%s", dir ? dir : "../shared/fixtures");
    snprintf(probe, sizeof probe, "%s/tiny-sd15/model.safetensors", fixtures);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        fprintf(stderr, "skipping: fixtures not found at %s\n", fixtures);
        return 77;
    }
    fclose(f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auto_decides_from_the_cpu),
        cmocka_unit_test(no_silent_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
