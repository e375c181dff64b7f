/*
** test_backend.c - the backend seam (runtime/backend.h): every compiled
** backend's table is complete, and the op fronts refuse tensors of two
** different devices with a message before any backend sees them.
*/
#include "backend.h"
#include "op_test.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Every entry backend.h does not mark (optional). */
#define ENTRY(e)                                                                                   \
    {                                                                                              \
#e, b->e != NULL                                                                           \
    }
static void every_table_is_complete(void **state)
{
    size_t count = 0;
    const struct lf_backend *const *all = lf_backend_all(&count);
    assert_true(count >= 1);
    for (size_t i = 0; i < count; i++) {
        const struct lf_backend *b = all[i];
        assert_non_null(b->name);
        struct {
            const char *name;
            bool set;
        } entries[] = {
            ENTRY(list),           ENTRY(open),         ENTRY(destroy),
            ENTRY(sync),           ENTRY(buffer_alloc), ENTRY(buffer_free),
            ENTRY(buffer_write),   ENTRY(buffer_read),  ENTRY(memory_stats),
            ENTRY(reset_peak),     ENTRY(gemm),         ENTRY(conv2d),
            ENTRY(group_norm),     ENTRY(layer_norm),   ENTRY(attention),
            ENTRY(softmax),        ENTRY(unary),        ENTRY(geglu),
            ENTRY(binary),         ENTRY(fill),         ENTRY(concat),
            ENTRY(resize_nearest), ENTRY(permute),      ENTRY(timestep_embedding),
            ENTRY(lora_merge),
        };
        for (size_t e = 0; e < sizeof entries / sizeof *entries; e++) {
            if (!entries[e].set)
                fprintf(stderr, "backend %s: %s is NULL\n", b->name, entries[e].name);
            assert_true(entries[e].set);
        }
        /* Kinds are distinct: each backend answers for its own. */
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(all[j]->kind, b->kind);
    }
}

/* Every listed device names a compiled backend. */
static void devices_belong_to_compiled_backends(void **state)
{
    size_t count = 0;
    const struct lf_backend *const *all = lf_backend_all(&count);
    struct lf_error err = {0};
    uint32_t n = 0;
    assert_int_equal(lf_device_list(NULL, 0, &n, &err), LF_OK);
    struct lf_device_info *infos = calloc(n ? n : 1, sizeof *infos);
    assert_int_equal(lf_device_list(infos, n, &n, &err), LF_OK);
    for (uint32_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t b = 0; b < count; b++)
            found = found || all[b]->kind == infos[i].backend;
        assert_true(found);
    }
    /* The test device's handle points at its own backend's table. */
    const struct lf_device *device = op_test_device();
    assert_int_equal(device->backend->kind, device->info.backend);
    free(infos);
}

static void assert_refused(enum lf_status s, struct lf_tensor *out, const struct lf_error *err,
                           const char *op)
{
    assert_int_equal(s, LF_ERR_INVALID);
    assert_null(out);
    assert_non_null(strstr(err->message, op));
    assert_non_null(strstr(err->message, "different devices"));
}

/* Two handles on the same physical device are two devices: their tensors
** must not meet in one op. */
static void ops_refuse_tensors_of_two_devices(void **state)
{
    struct lf_error err = {0};
    struct lf_device *other = NULL;
    struct lf_device_options options = {.index = (int)lf_device_get_info(op_test_device())->index};
    assert_int_equal(lf_device_create(&options, &other, &err), LF_OK);
    assert_true(other != op_test_device());

    int64_t s2[2] = {4, 4}, s3[3] = {1, 4, 4}, s4[4] = {1, 4, 2, 2}, w4[4] = {4, 4, 1, 1};
    int64_t up4[4] = {4, 1, 1, 1}, down4[4] = {1, 4, 1, 1}, n4 = 4;
    float data[16] = {0};
    struct lf_tensor *a = op_test_tensor(LF_DTYPE_F32, 2, s2, data), *b = NULL;
    struct lf_tensor *q = op_test_tensor(LF_DTYPE_F32, 3, s3, data), *k = NULL;
    struct lf_tensor *x = op_test_tensor(LF_DTYPE_F32, 4, s4, data), *w = NULL, *g = NULL;
    struct lf_tensor *wl = op_test_tensor(LF_DTYPE_F32, 4, w4, data), *up = NULL, *down = NULL;
    assert_int_equal(lf_tensor_from_f32(other, LF_DTYPE_F32, 2, s2, data, &b, &err), LF_OK);
    assert_int_equal(lf_tensor_from_f32(other, LF_DTYPE_F32, 3, s3, data, &k, &err), LF_OK);
    assert_int_equal(lf_tensor_from_f32(other, LF_DTYPE_F32, 4, w4, data, &w, &err), LF_OK);
    assert_int_equal(lf_tensor_from_f32(other, LF_DTYPE_F32, 1, &n4, data, &g, &err), LF_OK);
    assert_int_equal(lf_tensor_from_f32(other, LF_DTYPE_F32, 4, up4, data, &up, &err), LF_OK);
    assert_int_equal(lf_tensor_from_f32(other, LF_DTYPE_F32, 4, down4, data, &down, &err), LF_OK);

    struct lf_tensor *out = NULL;
    struct lf_conv2d_params p = {.stride = 1};
    assert_refused(lf_op_gemm(a, b, NULL, false, false, &out, &err), out, &err, "gemm");
    assert_refused(lf_op_binary(a, b, LF_BINARY_ADD, &out, &err), out, &err, "binary");
    assert_refused(lf_op_concat(a, b, 0, &out, &err), out, &err, "concat");
    assert_refused(lf_op_conv2d(x, w, NULL, &p, &out, &err), out, &err, "conv2d");
    assert_refused(lf_op_group_norm(x, g, NULL, 2, 1e-5f, false, &out, &err), out, &err,
                   "group_norm");
    assert_refused(lf_op_layer_norm(q, g, NULL, 1e-5f, &out, &err), out, &err, "layer_norm");
    assert_refused(lf_op_attention(q, k, k, 1, 1.0f, false, &out, &err), out, &err, "attention");
    assert_refused(lf_op_copy(a, b, &err), NULL, &err, "copy");
    assert_refused(lf_op_lora_merge(wl, up, down, 1.0f, &err), NULL, &err, "lora_merge");
    /* The message names both devices by their place in the list. */
    assert_non_null(strstr(err.message, lf_device_get_info(other)->name));

    lf_tensor_release(a), lf_tensor_release(b), lf_tensor_release(q), lf_tensor_release(k);
    lf_tensor_release(x), lf_tensor_release(w), lf_tensor_release(g), lf_tensor_release(wl);
    lf_tensor_release(up), lf_tensor_release(down);
    assert_int_equal(lf_device_validation_errors(other), 0);
    lf_device_destroy(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_table_is_complete),
        cmocka_unit_test(devices_belong_to_compiled_backends),
        cmocka_unit_test(ops_refuse_tensors_of_two_devices),
    };
    return op_test_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
