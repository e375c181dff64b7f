/*
** op_test.c - shared helpers of the op tests (see op_test.h).
*/
#include "op_test.h"
#include "vk_impl.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

static struct lf_device *device;

int op_test_finish(int rc)
{
    lf_device_destroy(device);
    device = NULL;
    return rc;
}

bool op_test_lavapipe(void)
{
    const struct lf_vk_info *vk = lf_vk_device_info(op_test_device());
    return vk && vk->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
}

struct lf_device *op_test_device(void)
{
    if (device) return device;
    struct lf_error err = {0};
    char text[1200];
    if (lf_device_create(NULL, &device, &err) != LF_OK) {
        fprintf(stderr, "skipping: %s\n", lf_error_text(&err, text, sizeof text));
        exit(77);
    }
    return device;
}

void op_test_check_validation(void)
{
    if (device) assert_int_equal(lf_device_validation_errors(device), 0);
}

void op_test_random(float *data, size_t count, float lo, float hi, uint32_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < count; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        data[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

struct lf_tensor *op_test_tensor(enum lf_dtype dtype, int rank, const int64_t *shape, float *data)
{
    struct lf_error err = {0};
    struct lf_tensor *t = NULL;
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    if (dtype == LF_DTYPE_F16)
        for (int64_t i = 0; i < n; i++)
            data[i] = lf_f16_to_f32(lf_f32_to_f16(data[i]));
    if (lf_tensor_from_f32(op_test_device(), dtype, rank, shape, data, &t, &err) != LF_OK)
        fail_msg("creating a tensor: %s", err.message);
    return t;
}

float *op_test_download(struct lf_tensor *t)
{
    struct lf_error err = {0};
    size_t n = (size_t)lf_tensor_numel(t);
    float *data = malloc((n ? n : 1) * sizeof *data);
    assert_non_null(data);
    if (lf_tensor_download_f32(t, data, (int64_t)n, &err) != LF_OK)
        fail_msg("downloading a tensor: %s", err.message);
    return data;
}

double op_test_compare(const float *got, const float *want, size_t count, double atol, double rtol,
                       double *worst_abs)
{
    double worst = 0, worst_a = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (isnan(got[i]) != isnan(want[i])) d = INFINITY;
        double r = d / (atol + rtol * fabs((double)want[i]));
        if (r > worst) worst = r;
        if (d > worst_a) worst_a = d;
    }
    if (worst_abs) *worst_abs = worst_a;
    return worst;
}

void op_test_assert_close(const char *label, const float *got, const float *want, size_t count,
                          double atol, double rtol)
{
    double worst_abs;
    double r = op_test_compare(got, want, count, atol, rtol, &worst_abs);
    printf("  %-48s max |err| %.3g (%.2f of tolerance)\n", label, worst_abs, r);
    if (!(r <= 1.0))
        fail_msg("%s: error %.3g exceeds tolerance atol %.3g rtol %.3g", label, worst_abs, atol,
                 rtol);
}
