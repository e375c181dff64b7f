/*
** test_plugin.c - the plugin loader: a good plugin, deliberately broken
** ones (other ABI, no entry symbol, a node type defined twice), discovery
** through LCMFLOW_PLUGIN_PATH (the ABI pins are test_abi.c).
**
** Arguments: the build folders of tests/plugins, tests/plugins/broken and
** tests/plugins/dup.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lcmflow/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *good_dir, *broken_dir, *dup_dir;

static void path_of(char *buf, size_t size, const char *dir, const char *file)
{
    snprintf(buf, size, "%s/%s", dir, file);
}

static void test_load_good(void **state)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    char path[1024];
    const char *file = NULL;
    (void)state;
    path_of(path, sizeof path, good_dir, "lftest_counting.so");
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(reg, path, &err), LF_OK);
    assert_int_equal(lf_registry_count(reg), 20);
    /* Loading the same file again changes nothing. */
    assert_int_equal(lf_registry_load_file(reg, path, &err), LF_OK);
    assert_int_equal(lf_registry_count(reg), 20);
    const struct lf_node_type *t = lf_registry_find(reg, "TestScale");
    assert_non_null(t);
    assert_string_equal(t->params[0].name, "factor");
    assert_true(t->params[0].default_float == 1.0);
    const struct lf_plugin_desc *p = lf_registry_plugin_of(reg, t, &file);
    assert_non_null(p);
    assert_string_equal(p->name, "lftest_counting");
    assert_non_null(strstr(file, "lftest_counting.so"));
    assert_null(lf_registry_find(reg, "TestScal"));
    assert_string_equal(lf_registry_suggest(reg, "TestScal"), "TestScale");
    assert_string_equal(lf_registry_suggest(reg, "testadd"), "TestAdd");
    assert_null(lf_registry_suggest(reg, "CompletelyDifferent"));
    lf_registry_destroy(reg);
}

static void test_wrong_abi(void **state)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    char path[1024], expect[1200], text[2048];
    (void)state;
    path_of(path, sizeof path, broken_dir, "bad_abi.so");
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(reg, path, &err), LF_ERR_PLUGIN);
    snprintf(expect, sizeof expect, "%s: plugin ABI 999, runtime expects %d", path,
             LF_PLUGIN_ABI_VERSION);
    assert_string_equal(lf_error_text(&err, text, sizeof text), expect);
    assert_int_equal(lf_registry_count(reg), 0);
    lf_registry_destroy(reg);
}

static void test_no_entry(void **state)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    char path[1024], expect[1200], text[2048];
    (void)state;
    path_of(path, sizeof path, broken_dir, "no_entry.so");
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(reg, path, &err), LF_ERR_PLUGIN);
    snprintf(expect, sizeof expect,
             "%s: no entry point 'lcmflow_plugin_entry' (not an lcmflow plugin, or built without "
             "LF_EXPORT)",
             path);
    assert_string_equal(lf_error_text(&err, text, sizeof text), expect);
    lf_registry_destroy(reg);
}

static void test_missing_file(void **state)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    (void)state;
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(reg, "/nonexistent/x.so", &err), LF_ERR_PLUGIN);
    assert_string_equal(err.message, "/nonexistent/x.so: cannot open plugin: no such file");
    /* A missing folder holds no plugins: not an error. */
    assert_int_equal(lf_registry_load_dir(reg, "/nonexistent", &err), LF_OK);
    lf_registry_destroy(reg);
}

static void test_duplicate_type(void **state)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    char a[1024], b[1024], real_a[4096], expect[8192];
    (void)state;
    path_of(a, sizeof a, dup_dir, "dup_a.so");
    path_of(b, sizeof b, dup_dir, "dup_b.so");
    assert_non_null(realpath(a, real_a));
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_dir(reg, dup_dir, &err), LF_ERR_PLUGIN);
    snprintf(expect, sizeof expect, "node type 'TestDup' is defined by both %s and %s", real_a, b);
    assert_string_equal(err.message, expect);
    /* The first one stays loaded, the second was refused. */
    assert_int_equal(lf_registry_count(reg), 1);
    lf_registry_destroy(reg);
}

static void test_plugin_path(void **state)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    char env[2048];
    (void)state;
    snprintf(env, sizeof env, "/nonexistent:%s", good_dir);
    setenv("LCMFLOW_PLUGIN_PATH", env, 1);
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_default(reg, &err), LF_OK);
    assert_non_null(lf_registry_find(reg, "TestAdd"));
    lf_registry_destroy(reg);
    /* An entry naming a plugin file loads that file (it used to be ignored). */
    snprintf(env, sizeof env, "%s/lftest_counting.so", good_dir);
    setenv("LCMFLOW_PLUGIN_PATH", env, 1);
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_default(reg, &err), LF_OK);
    assert_non_null(lf_registry_find(reg, "TestAdd"));
    lf_registry_destroy(reg);
    /* Broken plugins on the path are reported (file and reason) and
    ** skipped; the good ones after them still load (they used to stop
    ** every command). */
    snprintf(env, sizeof env, "%s:%s", broken_dir, good_dir);
    setenv("LCMFLOW_PLUGIN_PATH", env, 1);
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_default(reg, &err), LF_OK);
    assert_non_null(lf_registry_find(reg, "TestAdd"));
    assert_int_equal(lf_registry_failure_count(reg), 2);
    const char *file = NULL;
    assert_non_null(strstr(lf_registry_failure(reg, 0, &file), "bad_abi.so: plugin ABI 999"));
    assert_non_null(strstr(file, "bad_abi.so"));
    assert_non_null(strstr(lf_registry_failure(reg, 1, &file), "no_entry.so: no entry point"));
    assert_null(lf_registry_failure(reg, 2, &file));
    /* A graph needing a type that is not there quotes the skipped plugins. */
    struct lf_graph *g = NULL;
    static const char yaml[] = "version: 1\nnodes:\n  a: { type: TestBad }\n";
    assert_int_equal(lf_graph_load_string(reg, "g.yaml", yaml, strlen(yaml), &g, &err),
                     LF_ERR_GRAPH);
    assert_non_null(strstr(err.message, "unknown node type 'TestBad'"));
    assert_non_null(strstr(err.message, "2 plugins could not be loaded: "));
    assert_non_null(strstr(err.message, "bad_abi.so: plugin ABI 999"));
    lf_registry_destroy(reg);
    /* Loading a folder by name still stops at the first broken plugin. */
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_dir(reg, broken_dir, &err), LF_ERR_PLUGIN);
    assert_non_null(strstr(err.message, "bad_abi.so: plugin ABI 999"));
    lf_registry_destroy(reg);
    unsetenv("LCMFLOW_PLUGIN_PATH");
}

/* A fake host: the plugin's descriptors walked and one node executed with
** no registry and no executor. */
static enum lf_status fake_error_set(struct lf_error *err, enum lf_status code, const char *fmt,
                                     ...)
{
    (void)fmt;
    if (err) err->code = code;
    return code;
}

static void test_fake_host(void **state)
{
    static const struct lf_host_api host = {
        .abi_version = LF_PLUGIN_ABI_VERSION,
        .struct_size = sizeof host,
        .error_set = fake_error_set,
    };
    struct lf_registry *reg;
    struct lf_error err = {0};
    char path[1024];
    (void)state;
    path_of(path, sizeof path, good_dir, "lftest_counting.so");
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(reg, path, &err), LF_OK);
    const struct lf_node_type *add = lf_registry_find(reg, "TestAdd");
    size_t nin = 0;
    for (size_t i = 0; i < lf_registry_count(reg); i++) {
        const struct lf_node_type *t = lf_registry_type(reg, i);
        assert_non_null(t->description);
        assert_non_null(t->execute);
    }
    for (const struct lf_input_desc *d = add->inputs; d->name; d++)
        nin++;
    assert_int_equal(nin, 2);
    assert_true(add->inputs[1].flags & LF_PORT_OPTIONAL);
    struct lf_value in[2] = {{.type = LF_TYPE_FLOAT, .u.f = 1.25},
                             {.type = LF_TYPE_FLOAT, .u.f = 2}};
    struct lf_value out[1] = {{0}};
    struct lf_node_call call = {.struct_size = sizeof call,
                                .host = &host,
                                .node_id = "fake",
                                .type = add,
                                .inputs = in,
                                .outputs = out};
    assert_int_equal(add->execute(&call, &err), LF_OK);
    assert_int_equal(out[0].type, LF_TYPE_FLOAT);
    assert_true(out[0].u.f == 3.25);
    lf_registry_destroy(reg);
}

static enum lf_status nothing(const struct lf_node_call *c, struct lf_error *err)
{
    (void)c, (void)err;
    return LF_OK;
}

/* A linked-in plugin of one type with one param; the loader's verdict. */
static enum lf_status add_param(struct lf_param_desc param, struct lf_error *err)
{
    const struct lf_param_desc params[] = {param, {0}};
    const struct lf_node_type type = {.name = "T", .params = params, .execute = nothing};
    const struct lf_node_type *const types[] = {&type, NULL};
    const struct lf_plugin_desc desc = {.abi_version = LF_PLUGIN_ABI_VERSION,
                                        .struct_size = sizeof desc,
                                        .name = "p",
                                        .version = "1",
                                        .node_types = types};
    struct lf_registry *reg;
    assert_int_equal(lf_registry_create(&reg, err), LF_OK);
    enum lf_status st = lf_registry_add(reg, &desc, "(test)", err);
    lf_registry_destroy(reg);
    return st;
}

/* ABI 1.2 param flags are checked at load: unknown bits (a plugin for a
** newer lcmflow), INT-only flags elsewhere, a default outside the range. */
static void test_param_flags(void **state)
{
    struct lf_error err = {0};
    (void)state;
    assert_int_equal(
        add_param((struct lf_param_desc){.name = "x",
                                         .type = LF_TYPE_INT,
                                         .flags = LF_PARAM_UNSIGNED | LF_PARAM_HAS_RANGE |
                                                  LF_PARAM_INT_RANGE,
                                         .default_int = -1,
                                         .min_int = 0,
                                         .max_int = -1},
                  &err),
        LF_OK);
    assert_int_equal(
        add_param((struct lf_param_desc){.name = "x", .type = LF_TYPE_INT, .flags = 1u << 9}, &err),
        LF_ERR_PLUGIN);
    assert_string_equal(err.message, "(test): param 'x' of 'T' has flags this runtime does not "
                                     "know (a plugin for a newer lcmflow)");
    assert_int_equal(
        add_param(
            (struct lf_param_desc){.name = "x", .type = LF_TYPE_FLOAT, .flags = LF_PARAM_UNSIGNED},
            &err),
        LF_ERR_PLUGIN);
    assert_int_equal(
        add_param(
            (struct lf_param_desc){.name = "x", .type = LF_TYPE_INT, .flags = LF_PARAM_INT_RANGE},
            &err),
        LF_ERR_PLUGIN);
    assert_int_equal(
        add_param((struct lf_param_desc){.name = "x",
                                         .type = LF_TYPE_INT,
                                         .flags = LF_PARAM_HAS_RANGE | LF_PARAM_INT_RANGE,
                                         .default_int = 11,
                                         .min_int = 1,
                                         .max_int = 10},
                  &err),
        LF_ERR_PLUGIN);
    assert_string_equal(err.message, "(test): param 'x' of 'T' has a default outside its range");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_good),      cmocka_unit_test(test_wrong_abi),
        cmocka_unit_test(test_no_entry),       cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_duplicate_type), cmocka_unit_test(test_plugin_path),
        cmocka_unit_test(test_fake_host),      cmocka_unit_test(test_param_flags),
    };
    if (argc < 4) {
        fprintf(stderr, "usage: test-plugin GOOD_DIR BROKEN_DIR DUP_DIR\n");
        return 1;
    }
    good_dir = argv[1];
    broken_dir = argv[2];
    dup_dir = argv[3];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
