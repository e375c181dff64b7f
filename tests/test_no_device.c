/*
** test_no_device.c - with no Vulkan driver at all, opening a device is a
** clear error, not a crash or an abort.  Points the loader at an empty
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
    assert_true(s == LF_ERR_NO_DEVICE);
    assert_null(device);
    assert_true(strstr(err.message, "Vulkan") != NULL);
    uint32_t count = 123;
    s = lf_device_list(NULL, 0, &count, &err);
    assert_true(s == LF_ERR_NO_DEVICE || (s == LF_OK && count == 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_driver_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
