/*
** test_no_device.c - with no Vulkan driver at all, opening a device is a
** clear error, not a crash or an abort (with the CPU backend compiled, the
** CPU is the one device then).  Points the loader at an empty
** driver list, so it runs anywhere (also under sanitizers).
*/
#include "lcmflow/device.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void no_driver_is_an_error(void **state)
{
    setenv("VK_ICD_FILENAMES", "/nonexistent/icd.json", 1);
    setenv("VK_DRIVER_FILES", "/nonexistent/icd.json", 1);
    struct lf_error err = {0};
    struct lf_device *device = NULL;
    enum lf_status s = lf_device_create(NULL, &device, &err);
#ifdef LF_HAVE_CPU_BACKEND
    /* The native CPU backend needs no driver: it is the device then. */
    assert_int_equal(s, LF_OK);
    assert_int_equal(lf_device_get_info(device)->backend, LF_BACKEND_CPU);
    lf_device_destroy(device);
    uint32_t count = 123;
    assert_int_equal(lf_device_list(NULL, 0, &count, &err), LF_OK);
    assert_int_equal(count, 1);
#else
    assert_true(s == LF_ERR_NO_DEVICE);
    assert_null(device);
    assert_true(strstr(err.message, "Vulkan") != NULL);
    uint32_t count = 123;
    s = lf_device_list(NULL, 0, &count, &err);
    assert_true(s == LF_ERR_NO_DEVICE || (s == LF_OK && count == 0));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_driver_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
