/*
** test_graph.c - YAML graphs: golden error texts (one per kind of mistake,
** exact "file:line:col: message"), a valid graph's resolved values, typed
** --set overrides, and graphs built in code.
**
** Arguments: the build folder of tests/plugins and the source folder
** tests/graphs (the test runs inside it, so messages name files relatively).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "chain_graph.h"
#include "lcmflow/graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *plugin_dir, *graphs_dir;

static struct lf_registry *load_registry(void)
{
    struct lf_registry *reg;
    struct lf_error err = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/lftest_counting.so", plugin_dir);
    assert_int_equal(lf_registry_create(&reg, &err), LF_OK);
    assert_int_equal(lf_registry_load_file(reg, path, &err), LF_OK);
    return reg;
}

static const struct {
    const char *file, *text;
} goldens[] = {
    {"yaml_syntax.yaml", "yaml_syntax.yaml:4:3: YAML syntax error: did not find expected ',' or "
                         "'}' (while parsing a flow mapping that starts at line 3)"},
    {"bad_version.yaml",
     "bad_version.yaml:1:10: unsupported graph version '2' (this lcmflow reads version 1)"},
    {"missing_version.yaml", "missing_version.yaml:1:1: missing 'version: 1'"},
    {"duplicate_id.yaml", "duplicate_id.yaml:5:3: duplicate node id 'a' (first defined at line 3)"},
    {"unknown_type.yaml",
     "unknown_type.yaml:4:16: unknown node type 'TestAd' (did you mean 'TestAdd'?)"},
    {"unknown_param.yaml",
     "unknown_param.yaml:8:7: node 's' (TestScale) has no param 'factr' (did you mean 'factor'?)"},
    {"missing_param.yaml",
     "missing_param.yaml:3:3: node 'read' (TestReadFile) is missing required param 'path'"},
    {"missing_input.yaml",
     "missing_input.yaml:4:3: node 's' (TestScale) is missing required input 'value'"},
    {"wrong_type.yaml", "wrong_type.yaml:4:71: param 'factor' of node 's' (TestScale) expects a "
                        "number, got 'abc'"},
    {"quoted_number.yaml", "quoted_number.yaml:3:40: param 'left' of node 'p' (TestPair) expects "
                           "an integer, got \"42\""},
    {"wrong_bool.yaml", "wrong_bool.yaml:3:43: param 'enabled' of node 'g' (TestGrid) expects "
                        "true or false, got 'maybe'"},
    {"out_of_range.yaml", "out_of_range.yaml:4:71: param 'factor' of node 's' (TestScale) is "
                          "5000, out of range [-1000, 1000]"},
    {"validate_hook.yaml",
     "validate_hook.yaml:3:41: node 'g' (TestGrid): width 60 is not a multiple of 8"},
    {"missing_node.yaml", "missing_node.yaml:4:47: input 'value' of node 's' refers to unknown "
                          "node 'nmber' (did you mean 'number'?)"},
    {"missing_output.yaml", "missing_output.yaml:4:42: node 'a' (TestNumber) has no output "
                            "'valeu' (did you mean 'value'?)"},
    {"unknown_input.yaml", "unknown_input.yaml:4:51: node 's' (TestScale) has no input 'valeu' "
                           "(did you mean 'value'?)"},
    {"bad_reference.yaml",
     "bad_reference.yaml:4:42: input 'value' of node 's': 'a' is not a reference node.output"},
    {"type_mismatch.yaml", "type_mismatch.yaml:4:40: input 'value' of node 'i' (TestInc) expects "
                           "INT, but 'a.value' is FLOAT"},
    {"cycle.yaml", "cycle.yaml:4:3: cycle: a -> b -> c -> a"},
    {"unknown_key.yaml",
     "unknown_key.yaml:3:26: unknown key 'param' in node 'a' (expected type, inputs, params)"},
    {"bad_target.yaml",
     "bad_target.yaml:4:20: output 'b.value' names unknown node 'b' (did you mean 'a'?)"},
    {"null_param.yaml", "null_param.yaml:3:40: param 'text' of node 't' has no value (null); "
                        "leave it out for its default, or quote it (\"null\") for the text"},
    {"nul_param.yaml",
     "nul_param.yaml:3:40: param 'text' of node 't' contains a NUL character (\\0)"},
    {"does_not_exist.yaml", "does_not_exist.yaml: cannot open: No such file or directory"},
};

static void test_goldens(void **state)
{
    struct lf_registry *reg = load_registry();
    int failures = 0;
    (void)state;
    for (size_t i = 0; i < sizeof goldens / sizeof *goldens; i++) {
        struct lf_graph *g = NULL;
        struct lf_error err = {0};
        char text[2048];
        enum lf_status st = lf_graph_load(reg, goldens[i].file, &g, &err);
        lf_error_text(&err, text, sizeof text);
        if (st == LF_OK || strcmp(text, goldens[i].text)) {
            fprintf(stderr, "%s:\n  expected: %s\n  got:      %s\n", goldens[i].file,
                    goldens[i].text, st == LF_OK ? "(no error)" : text);
            failures++;
        }
        assert_null(g);
    }
    assert_int_equal(failures, 0);
    lf_registry_destroy(reg);
}

static void test_valid_graph(void **state)
{
    struct lf_registry *reg = load_registry();
    struct lf_graph *g;
    struct lf_error err = {0};
    const struct lf_value *v;
    (void)state;
    assert_int_equal(lf_graph_load(reg, "ok.yaml", &g, &err), LF_OK);
    assert_int_equal(lf_graph_node_count(g), 4);
    assert_string_equal(lf_graph_node_id(g, 3), "twice");
    assert_string_equal(lf_graph_node_type(g, 3)->name, "TestScale");
    assert_int_equal(lf_graph_find_node(g, "sum"), 2);
    assert_int_equal(lf_graph_find_node(g, "nope"), -1);
    v = lf_graph_param(g, "y", "value");
    assert_int_equal(v->type, LF_TYPE_FLOAT);
    assert_true(v->u.f == 3.5);
    v = lf_graph_param(g, "x", "value"); /* an integer literal for a FLOAT param */
    assert_true(v->u.f == 2.0);
    assert_null(lf_graph_param(g, "x", "nope"));
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
}

static void test_set(void **state)
{
    struct lf_registry *reg = load_registry();
    struct lf_graph *g;
    struct lf_error err = {0};
    char text[2048];
    (void)state;
    assert_int_equal(lf_graph_load(reg, "ok.yaml", &g, &err), LF_OK);
    assert_int_equal(lf_graph_set(g, "twice.factor=-2.5", &err), LF_OK);
    assert_true(lf_graph_param(g, "twice", "factor")->u.f == -2.5);
    assert_int_equal(lf_graph_set(g, "twice.factor=abc", &err), LF_ERR_INVALID);
    assert_string_equal(lf_error_text(&err, text, sizeof text),
                        "param 'factor' of node 'twice' (TestScale) expects a number, got 'abc'");
    assert_true(lf_graph_param(g, "twice", "factor")->u.f == -2.5); /* unchanged */
    assert_int_equal(lf_graph_set(g, "twice.factor=5000", &err), LF_ERR_INVALID);
    assert_string_equal(err.message,
                        "param 'factor' of node 'twice' (TestScale) is 5000, out of range "
                        "[-1000, 1000]");
    assert_int_equal(lf_graph_set(g, "twice.facto=1", &err), LF_ERR_NOT_FOUND);
    assert_string_equal(err.message, "twice.facto: node 'twice' (TestScale) has no param 'facto' "
                                     "(did you mean 'factor'?)");
    assert_int_equal(lf_graph_set(g, "twic.factor=1", &err), LF_ERR_NOT_FOUND);
    assert_string_equal(err.message,
                        "twic.factor: no node 'twic' in ok.yaml (did you mean 'twice'?)");
    assert_int_equal(lf_graph_set(g, "twice", &err), LF_ERR_INVALID);
    assert_string_equal(err.message, "'twice' is not of the form node.param=value");
    /* An override survives re-validation (it joined the written params). */
    assert_int_equal(lf_graph_set(g, "x.value=7", &err), LF_OK);
    assert_int_equal(lf_graph_validate(g, &err), LF_OK);
    assert_true(lf_graph_param(g, "x", "value")->u.f == 7.0);
    assert_true(lf_graph_param(g, "twice", "factor")->u.f == -2.5);
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
}

static void test_set_string_and_path(void **state)
{
    static const char text[] = "version: 1\n"
                               "nodes:\n"
                               "  r: { type: TestReadFile, params: { path: data/in.txt } }\n"
                               "  t: { type: TestText, params: { text: 'hello' } }\n"
                               "  g: { type: TestGrid, params: { enabled: false } }\n";
    struct lf_registry *reg = load_registry();
    struct lf_graph *g;
    struct lf_error err = {0};
    (void)state;
    assert_int_equal(lf_graph_load_string(reg, "some/dir/g.yaml", text, sizeof text - 1, &g, &err),
                     LF_OK);
    /* Relative PATH params resolve against the graph's folder; others stay. */
    assert_string_equal(lf_graph_param(g, "r", "path")->u.s, "some/dir/data/in.txt");
    assert_string_equal(lf_graph_param(g, "t", "text")->u.s, "hello");
    assert_false(lf_graph_param(g, "g", "enabled")->u.b);
    assert_int_equal(lf_graph_param(g, "g", "width")->u.i, 64); /* default */
    assert_int_equal(lf_graph_set(g, "t.text=a dog", &err), LF_OK);
    assert_string_equal(lf_graph_param(g, "t", "text")->u.s, "a dog");
    assert_int_equal(lf_graph_set(g, "r.path=/abs/x.txt", &err), LF_OK);
    assert_string_equal(lf_graph_param(g, "r", "path")->u.s, "/abs/x.txt");
    assert_int_equal(lf_graph_set(g, "g.enabled=true", &err), LF_OK);
    assert_true(lf_graph_param(g, "g", "enabled")->u.b);
    assert_int_equal(lf_graph_set(g, "g.width=12", &err), LF_ERR_INVALID);
    assert_string_equal(err.message, "g.width: width 12 is not a multiple of 8");
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
}

static void test_build_in_code(void **state)
{
    struct lf_registry *reg = load_registry();
    struct lf_graph *g;
    struct lf_error err = {0};
    char text[2048];
    (void)state;
    assert_int_equal(lf_graph_create(reg, "script.lua", &g, &err), LF_OK);
    assert_int_equal(lf_graph_add_node(g, "n", "TestNumber", 3, &err), LF_OK);
    assert_int_equal(lf_graph_add_param(g, "n", "value", "4", false, &err), LF_OK);
    assert_int_equal(lf_graph_add_node(g, "s", "TestScale", 4, &err), LF_OK);
    assert_int_equal(lf_graph_add_input(g, "s", "value", "n.value", &err), LF_OK);
    assert_int_equal(lf_graph_add_node(g, "n", "TestNumber", 5, &err), LF_ERR_GRAPH);
    assert_string_equal(lf_error_text(&err, text, sizeof text),
                        "script.lua:5: duplicate node id 'n'");
    assert_int_equal(lf_graph_validate(g, &err), LF_OK);
    assert_int_equal(lf_graph_add_node(g, "bad", "TestNumbr", 9, &err), LF_OK);
    assert_int_equal(lf_graph_validate(g, &err), LF_ERR_GRAPH);
    assert_string_equal(lf_error_text(&err, text, sizeof text),
                        "script.lua:9: unknown node type 'TestNumbr' (did you mean 'TestNumber'?)");
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
}

static const char seed_yaml[] = "version: 1\n"
                                "nodes:\n"
                                "  s: { type: TestSeed, params: { seed: 18446744073709551615 } }\n";

/* INT params are 64-bit end to end (plugin ABI 1.2): an unsigned seed of
** 2^64-1 from YAML and --set, exact int64 ranges, and the graph written
** back as YAML (what SaveImage embeds) reads the same values again. */
static void test_int64_params(void **state)
{
    struct lf_registry *reg = load_registry();
    struct lf_graph *g, *back;
    struct lf_error err = {0};
    char *yaml;
    (void)state;
    assert_int_equal(lf_graph_load_string(reg, "seed.yaml", seed_yaml, strlen(seed_yaml), &g, &err),
                     LF_OK);
    assert_true(lf_graph_param(g, "s", "seed")->u.ui == UINT64_MAX);
    assert_true(lf_graph_param(g, "s", "high")->u.ui == UINT64_C(9223372036854775808));
    assert_int_equal(lf_graph_set(g, "s.seed=18446744073709551614", &err), LF_OK);
    assert_true(lf_graph_param(g, "s", "seed")->u.ui == UINT64_MAX - 1);
    assert_int_equal(lf_graph_set(g, "s.seed=-1", &err), LF_ERR_INVALID);
    assert_string_equal(err.message, "param 'seed' of node 's' (TestSeed) expects an unsigned "
                                     "integer, got '-1'");
    assert_int_equal(lf_graph_set(g, "s.seed=18446744073709551616", &err), LF_ERR_INVALID);
    assert_int_equal(lf_graph_set(g, "s.offset=-9223372036854775807", &err), LF_OK);
    assert_true(lf_graph_param(g, "s", "offset")->u.i == INT64_MIN + 1);
    assert_int_equal(lf_graph_set(g, "s.offset=-9223372036854775808", &err), LF_ERR_INVALID);
    assert_string_equal(err.message, "param 'offset' of node 's' (TestSeed) is "
                                     "-9223372036854775808, out of range [-9223372036854775807, "
                                     "9223372036854775806]");
    assert_int_equal(lf_graph_set(g, "s.high=18446744073709551614", &err), LF_OK);
    assert_int_equal(lf_graph_set(g, "s.high=18446744073709551615", &err), LF_ERR_INVALID);
    assert_string_equal(err.message, "param 'high' of node 's' (TestSeed) is "
                                     "18446744073709551615, out of range [9223372036854775808, "
                                     "18446744073709551614]");
    assert_int_equal(lf_graph_set(g, "s.high=9223372036854775807", &err), LF_ERR_INVALID);
    /* Written back and read again: the same bits. */
    assert_int_equal(lf_graph_to_yaml(g, &yaml, &err), LF_OK);
    assert_non_null(strstr(yaml, "seed: 18446744073709551614"));
    assert_int_equal(lf_graph_load_string(reg, "back.yaml", yaml, strlen(yaml), &back, &err),
                     LF_OK);
    assert_true(lf_graph_param(back, "s", "seed")->u.ui == UINT64_MAX - 1);
    assert_true(lf_graph_param(back, "s", "offset")->u.i == INT64_MIN + 1);
    assert_true(lf_graph_param(back, "s", "high")->u.ui == UINT64_MAX - 1);
    free(yaml);
    lf_graph_destroy(back);
    lf_graph_destroy(g);
    lf_registry_destroy(reg);
}

/* A 50,000-node chain loads: no quadratic scan (it took minutes), and the
** dependency sort does not recurse once per node (it overflowed the stack). */
static void test_large_chain(void **state)
{
    struct lf_registry *reg = load_registry();
    struct lf_graph *g = NULL;
    struct lf_error err = {0};
    size_t n = 50000, size;
    char *yaml = chain_graph_yaml(n, &size);
    (void)state;
    assert_non_null(yaml);
    assert_int_equal(lf_graph_load_string(reg, "chain.yaml", yaml, size, &g, &err), LF_OK);
    assert_int_equal(lf_graph_node_count(g), n);
    assert_int_equal(lf_graph_find_node(g, "n49999"), 49999);
    assert_int_equal(lf_graph_find_node(g, "n50000"), -1);
    lf_graph_destroy(g);
    /* A duplicate id at the end is still found, with the first's line. */
    char *dup = malloc(size + 64);
    assert_non_null(dup);
    int len = snprintf(dup, size + 64, "%s  n7: { type: TestNumber }\n", yaml);
    assert_int_equal(lf_graph_load_string(reg, "chain.yaml", dup, (size_t)len, &g, &err),
                     LF_ERR_GRAPH);
    assert_string_equal(err.message, "duplicate node id 'n7' (first defined at line 10)");
    assert_int_equal(err.line, 50003);
    free(dup);
    free(yaml);
    lf_registry_destroy(reg);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),       cmocka_unit_test(test_valid_graph),
        cmocka_unit_test(test_set),           cmocka_unit_test(test_set_string_and_path),
        cmocka_unit_test(test_build_in_code), cmocka_unit_test(test_int64_params),
        cmocka_unit_test(test_large_chain),
    };
    if (argc < 3) {
        fprintf(stderr, "usage: test-graph PLUGIN_DIR GRAPHS_DIR\n");
        return 1;
    }
    plugin_dir = realpath(argv[1], NULL);
    graphs_dir = argv[2];
    if (!plugin_dir || chdir(graphs_dir) != 0) {
        fprintf(stderr, "test-graph: cannot use %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
