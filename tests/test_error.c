/* test_error.c - the error object formats positions the way editors parse them. */
#include "lcmflow/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void formats_path_line_col(void **state)
{
    struct lf_error err = {0};
    char buf[256];
    assert_int_equal(
        lf_error_set_at(&err, LF_ERR_GRAPH, "g.yaml", 3, 7, "unknown node type '%s'", "Foo"),
        LF_ERR_GRAPH);
    assert_string_equal(lf_error_text(&err, buf, sizeof buf),
                        "g.yaml:3:7: unknown node type 'Foo'");
    lf_error_prefix(&err, "loading");
    assert_string_equal(err.message, "loading: unknown node type 'Foo'");
}

static void formats_without_position(void **state)
{
    struct lf_error err = {0};
    char buf[256];
    lf_error_set(&err, LF_ERR_IO, "cannot open");
    assert_string_equal(lf_error_text(&err, buf, sizeof buf), "cannot open");
    assert_int_equal(lf_error_set(NULL, LF_ERR_IO, "x"), LF_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_path_line_col),
        cmocka_unit_test(formats_without_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
