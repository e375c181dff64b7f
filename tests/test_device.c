/*
** test_device.c - devices: selection errors, the neutral info, memory
** accounting and suballocation, batching of many dispatches, the on-disk
** pipeline cache, out-of-memory as an error, and that validation-layer
** errors are counted (the mechanism every op test relies on).
*/
#include "op_test.h"
#include "vk_impl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

static void bad_device_index_is_an_error(void **state)
{
    struct lf_error err = {0};
    struct lf_device *device = NULL;
    struct lf_device_options options = {.index = 999};
    assert_int_equal(lf_device_create(&options, &device, &err), LF_ERR_INVALID);
    assert_null(device);
    assert_non_null(strstr(err.message, "does not exist"));

    setenv("LCMFLOW_DEVICE", "banana", 1);
    options.index = -1;
    assert_int_equal(lf_device_create(&options, &device, &err), LF_ERR_INVALID);
    assert_non_null(strstr(err.message, "LCMFLOW_DEVICE"));
    unsetenv("LCMFLOW_DEVICE");
}

static void list_shows_the_chosen_device(void **state)
{
    struct lf_error err = {0};
    uint32_t count = 0;
    assert_int_equal(lf_device_list(NULL, 0, &count, &err), LF_OK);
    assert_true(count >= 1);
    struct lf_device_info *infos = calloc(count, sizeof *infos);
    assert_int_equal(lf_device_list(infos, count, &count, &err), LF_OK);
    const struct lf_device_info *chosen = lf_device_get_info(op_test_device());
    assert_true(chosen->index < count);
    assert_string_equal(infos[chosen->index].name, chosen->name);
    assert_int_equal(infos[chosen->index].backend, chosen->backend);
    assert_int_equal(infos[chosen->index].caps, chosen->caps);
    /* The combined list is numbered by position; the chosen device can run
    ** lcmflow, has memory, and says what it is in details. */
    for (uint32_t i = 0; i < count; i++)
        assert_int_equal(infos[i].index, i);
    /* lf_device_list_alloc gives the same list in one call. */
    struct lf_device_info *all = NULL;
    uint32_t all_count = 0;
    assert_int_equal(lf_device_list_alloc(&all, &all_count, &err), LF_OK);
    assert_int_equal(all_count, count);
    for (uint32_t i = 0; i < count; i++) {
        assert_int_equal(all[i].index, i);
        assert_string_equal(all[i].name, infos[i].name);
        assert_int_equal(all[i].backend, infos[i].backend);
    }
    free(all);
    assert_true(chosen->caps & LF_DEVICE_CAP_SUPPORTED);
    assert_true(chosen->memory_size > 0);
    assert_true(chosen->details[0] != '\0');
    assert_true(lf_device_has(op_test_device(), chosen->caps));
    assert_false(lf_device_has(op_test_device(), ~chosen->caps));
    assert_int_equal(lf_device_supports_f16(op_test_device()),
                     (chosen->caps & LF_DEVICE_CAP_F16_STORAGE) != 0);
    /* f16 arithmetic without f16 storage would be meaningless. */
    if (chosen->caps & LF_DEVICE_CAP_F16_ARITHMETIC)
        assert_true(chosen->caps & LF_DEVICE_CAP_F16_STORAGE);
    const struct lf_vk_info *vk = lf_vk_device_info(op_test_device());
    if (chosen->backend == LF_BACKEND_VULKAN) {
        assert_non_null(vk);
        assert_true(vk->max_storage_buffer_range > 0);
        assert_true(vk->subgroup_size > 0);
        assert_non_null(strstr(chosen->details, vk->driver_name));
    } else {
        assert_null(vk);
    }
    free(infos);
}

static void memory_is_suballocated_and_counted(void **state)
{
    struct lf_device *device = op_test_device();
    struct lf_error err = {0};
    struct lf_device_memory_stats before, during, after;
    lf_device_memory_stats(device, &before);
    lf_device_reset_peak(device);
    struct lf_tensor *t[64];
    int64_t n = 1000;
    for (int i = 0; i < 64; i++)
        assert_int_equal(lf_tensor_create(device, LF_DTYPE_F32, 1, &n, &t[i], &err), LF_OK);
    lf_device_memory_stats(device, &during);
    /* 64 small tensors share blocks: at most one new block. */
    assert_true(during.reserved - before.reserved <= (256u << 20));
    assert_true(during.in_use >= before.in_use + 64 * 4000);
    /* Distinct, non-overlapping addresses. */
    for (int i = 1; i < 64; i++)
        assert_true(t[i]->buffer != t[0]->buffer);
    if (lf_vk_device_info(device))
        for (int i = 1; i < 64; i++)
            assert_true(lf_vk_buffer(t[i]->buffer)->offset != lf_vk_buffer(t[0]->buffer)->offset ||
                        lf_vk_buffer(t[i]->buffer)->block != lf_vk_buffer(t[0]->buffer)->block);
    for (int i = 0; i < 64; i++)
        lf_tensor_release(t[i]);
    lf_device_memory_stats(device, &after);
    assert_int_equal(after.in_use, before.in_use);
    assert_true(after.peak_in_use >= during.in_use);
}

static void reshape_shares_memory(void **state)
{
    struct lf_error err = {0};
    int64_t shape[2] = {4, 6}, flat = 24, bad = 25;
    float data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i;
    struct lf_tensor *t = op_test_tensor(LF_DTYPE_F32, 2, shape, data), *v;
    assert_int_equal(lf_tensor_reshape(t, 1, &bad, &v, &err), LF_ERR_INVALID);
    assert_int_equal(lf_tensor_reshape(t, 1, &flat, &v, &err), LF_OK);
    lf_tensor_release(t); /* the view keeps the memory alive */
    float *got = op_test_download(v);
    for (int i = 0; i < 24; i++)
        assert_true(got[i] == (float)i);
    free(got);
    lf_tensor_release(v);
}

/* Host conversion of one f32 value to dtype's bits (f32: its own bits). */
static void store_as(enum lf_dtype dtype, float v, void *at)
{
    uint16_t h = dtype == LF_DTYPE_F16 ? lf_f32_to_f16(v) : lf_f32_to_bf16(v);
    if (dtype == LF_DTYPE_F32)
        memcpy(at, &v, 4);
    else
        memcpy(at, &h, 2);
}

static float load_as(enum lf_dtype dtype, const void *at)
{
    float f;
    uint16_t h;
    if (dtype == LF_DTYPE_F32) {
        memcpy(&f, at, 4);
        return f;
    }
    memcpy(&h, at, 2);
    return dtype == LF_DTYPE_F16 ? lf_f16_to_f32(h) : lf_bf16_to_f32(h);
}

/* lf_tensor_upload_convert gives the bits of the host conversions (exact
** widening, narrowing to nearest even, f16 subnormals and overflow), for
** every pair of float dtypes, written in two parts (the first from an
** unaligned pointer), with enough values for the backends' threaded
** paths; a range past the end and an integer dtype are errors. */
static void upload_convert_matches_host_conversion(void **state)
{
    struct lf_device *device = op_test_device();
    struct lf_error err = {0};
    enum { N = 70003, HEAD = 5 };
    const float special[] = {1.0f,     -2.5f,   1.00390625f, 1.0029297f, 65504.0f, 70000.0f,
                             1e-6f,    -3e-7f,  0.1f,        3.1415927f, -0.0f,    1e-30f,
                             1.0e+30f, -1e-40f, 0.33333334f, 2049.0f};
    const enum lf_dtype types[3] = {LF_DTYPE_F32, LF_DTYPE_F16, LF_DTYPE_BF16};
    float *values = malloc(N * sizeof *values);
    unsigned char *src = malloc(N * 4 + 1), *want = malloc(N * 4), *got = malloc(N * 4);
    assert_non_null(values), assert_non_null(src), assert_non_null(want), assert_non_null(got);
    for (int i = 0; i < N; i++)
        values[i] = i % 3 ? special[i % 16] : (float)(i - N / 2) * 0.0123f;
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            enum lf_dtype from = types[a], to = types[b];
            size_t fs = lf_dtype_size(from), ts = lf_dtype_size(to);
            for (int i = 0; i < N; i++) {
                store_as(from, values[i], src + 1 + i * fs); /* src + 1: unaligned */
                store_as(to, load_as(from, src + 1 + i * fs), want + i * ts);
            }
            int64_t n = N;
            struct lf_tensor *t;
            assert_int_equal(lf_tensor_create(device, to, 1, &n, &t, &err), LF_OK);
            assert_int_equal(lf_tensor_upload_convert(t, 0, src + 1, from, HEAD, &err), LF_OK);
            memmove(src, src + 1, N * fs); /* the rest from an aligned pointer */
            assert_int_equal(
                lf_tensor_upload_convert(t, HEAD, src + HEAD * fs, from, N - HEAD, &err), LF_OK);
            assert_int_equal(lf_tensor_download(t, got, N * ts, &err), LF_OK);
            for (int i = 0; i < N; i++)
                if (memcmp(got + i * ts, want + i * ts, ts)) {
                    printf("%s -> %s: value %d (%g) differs\n", lf_dtype_name(from),
                           lf_dtype_name(to), i, (double)values[i]);
                    fail();
                }
            assert_int_equal(lf_tensor_upload_convert(t, N - 1, src, from, 2, &err),
                             LF_ERR_INVALID);
            assert_int_equal(lf_tensor_upload_convert(t, 0, src, LF_DTYPE_I32, 1, &err),
                             LF_ERR_INVALID);
            lf_tensor_release(t);
        }
    }
    free(values), free(src), free(want), free(got);
}

/* More dispatches than one batch holds, each depending on the previous. */
static void long_dependency_chains_are_ordered(void **state)
{
    struct lf_error err = {0};
    int64_t n = 4097;
    float *x = calloc((size_t)n, sizeof *x);
    struct lf_tensor *t = op_test_tensor(LF_DTYPE_F32, 1, &n, x);
    for (int i = 0; i < 1000; i++) {
        struct lf_tensor *next;
        assert_int_equal(lf_op_scale(t, 1.0f, 1.0f, &next, &err), LF_OK);
        lf_tensor_release(t);
        t = next;
    }
    float *got = op_test_download(t);
    for (int64_t i = 0; i < n; i++)
        assert_true(got[i] == 1000.0f);
    free(x), free(got);
    lf_tensor_release(t);
    op_test_check_validation();
}

static void too_large_a_tensor_is_an_error(void **state)
{
    struct lf_error err = {0};
    struct lf_tensor *t = NULL;
    int64_t shape[2] = {1 << 20, 1 << 11}; /* 2^31 f32 = 8 GiB */
    if (lf_device_get_info(op_test_device())->backend == LF_BACKEND_CPU) {
        /* Host memory: 8 GiB may well fit; past 2^32 elements nothing does. */
        shape[1] = 1 << 12;
        assert_int_equal(lf_tensor_create(op_test_device(), LF_DTYPE_F32, 2, shape, &t, &err),
                         LF_ERR_UNSUPPORTED);
        assert_null(t);
        assert_non_null(strstr(err.message, "too large"));
        return;
    }
    enum lf_status s = lf_tensor_create(op_test_device(), LF_DTYPE_F32, 2, shape, &t, &err);
    assert_int_equal(s, LF_ERR_OUT_OF_DEVICE_MEMORY);
    assert_null(t);
    assert_non_null(strstr(err.message, "MiB"));
    int64_t negative = -1;
    assert_int_equal(lf_tensor_create(op_test_device(), LF_DTYPE_F32, 1, &negative, &t, &err),
                     LF_ERR_INVALID);
}

static void pipeline_cache_is_saved(void **state)
{
    const char *dir = getenv("XDG_CACHE_HOME");
    if (!dir || !lf_vk_device_info(op_test_device())) skip();
    struct lf_error err = {0};
    struct lf_device *device;
    struct lf_device_options options = {.index = -1};
    assert_int_equal(lf_device_create(&options, &device, &err), LF_OK);
    int64_t n = 3;
    struct lf_tensor *t;
    assert_int_equal(lf_tensor_create(device, LF_DTYPE_F32, 1, &n, &t, &err), LF_OK);
    assert_int_equal(lf_op_fill(t, 1.0f, &err), LF_OK);
    assert_int_equal(lf_device_sync(device, &err), LF_OK);
    char path[600];
    snprintf(path, sizeof path, "%s", lf_vk_device(device)->pipeline_cache_path);
    lf_tensor_release(t);
    lf_device_destroy(device);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0);
    assert_non_null(strstr(path, dir));
}

/* A deliberate misuse must be counted, or a silent validation layer would
** let every op test pass unchecked. */
static void validation_errors_are_counted(void **state)
{
    struct lf_device *base = op_test_device();
    if (!getenv("LCMFLOW_VALIDATION") || !lf_vk_device_info(base)) skip();
    struct lf_vk_device *device = lf_vk_device(base);
    uint32_t before = lf_device_validation_errors(base);
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = 0, /* invalid: size must be > 0 */
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
    };
    VkBuffer buffer = VK_NULL_HANDLE;
    fprintf(stderr, "(an intentional validation error follows)\n");
    if (vkCreateBuffer(device->device, &info, NULL, &buffer) == VK_SUCCESS && buffer)
        vkDestroyBuffer(device->device, buffer, NULL);
    if (lf_device_validation_errors(base) == before) {
        fprintf(stderr, "validation layer not installed: nothing to check\n");
        skip();
    }
    assert_true(lf_device_validation_errors(base) > before);
    device->validation_errors = before; /* the misuse was ours */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_device_index_is_an_error),
        cmocka_unit_test(list_shows_the_chosen_device),
        cmocka_unit_test(memory_is_suballocated_and_counted),
        cmocka_unit_test(reshape_shares_memory),
        cmocka_unit_test(upload_convert_matches_host_conversion),
        cmocka_unit_test(long_dependency_chains_are_ordered),
        cmocka_unit_test(too_large_a_tensor_is_an_error),
        cmocka_unit_test(pipeline_cache_is_saved),
        cmocka_unit_test(validation_errors_are_counted),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
