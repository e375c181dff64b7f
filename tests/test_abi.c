/*
** test_abi.c - pins the layout of the plugin ABI (plugin.h) on LP64: the
** size and every field offset of the descriptors plugins compile against,
** the enum values and flag bits.  A failure here means a change that
** breaks built plugins: append instead (plugin.h's rules), then update the
** pin of the appended field only.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lcmflow/plugin.h"

#include <stdio.h>

struct pin {
    const char *what;
    size_t got, want;
};

#define AT(type, field, want)                                                                      \
    {                                                                                              \
#type "." #field, offsetof(struct type, field), want                                       \
    }
#define SIZE(type, want)                                                                           \
    {                                                                                              \
        "sizeof " #type, sizeof(struct type), want                                                 \
    }

#define VALUE(name, want)                                                                          \
    {                                                                                              \
#name, (size_t)(name), want                                                                \
    }

static void check(const struct pin *pins, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (pins[i].got != pins[i].want) {
            printf("  %s is %zu, pinned at %zu\n", pins[i].what, pins[i].got, pins[i].want);
            bad++;
        }
    assert_int_equal(bad, 0);
}

static void test_array_elements(void **state)
{
    /* Elements of sentinel-terminated arrays: never grow in ABI 1. */
    static const struct pin pins[] = {
        SIZE(lf_input_desc, 24),
        AT(lf_input_desc, type, 8),
        AT(lf_input_desc, flags, 12),
        AT(lf_input_desc, description, 16),
        SIZE(lf_output_desc, 32),
        AT(lf_output_desc, type, 8),
        AT(lf_output_desc, depends_on, 16),
        AT(lf_output_desc, description, 24),
        SIZE(lf_param_desc, 72),
        AT(lf_param_desc, type, 8),
        AT(lf_param_desc, flags, 12),
        AT(lf_param_desc, default_int, 16),
        AT(lf_param_desc, default_float, 24),
        AT(lf_param_desc, default_string, 32),
        AT(lf_param_desc, default_bool, 40),
        AT(lf_param_desc, min, 48),
        AT(lf_param_desc, max, 56),
        AT(lf_param_desc, min_int, 48), /* ABI 1.2: the same bytes as min */
        AT(lf_param_desc, max_int, 56),
        AT(lf_param_desc, description, 64),
        SIZE(lf_value, 16),
        AT(lf_value, u, 8),
    };
    (void)state;
    check(pins, sizeof pins / sizeof *pins);
}

static void test_structs(void **state)
{
    /* Reached through pointers, grown only at the end (struct_size). */
    static const struct pin pins[] = {
        SIZE(lf_object, 32),
        AT(lf_object, refcount, 0),
        AT(lf_object, nbytes, 8),
        AT(lf_object, kind, 16),
        AT(lf_object, destroy, 24),
        AT(lf_node_call, struct_size, 0),
        AT(lf_node_call, host, 8),
        AT(lf_node_call, ctx, 16),
        AT(lf_node_call, node_id, 24),
        AT(lf_node_call, type, 32),
        AT(lf_node_call, params, 40),
        AT(lf_node_call, inputs, 48),
        AT(lf_node_call, outputs, 56),
        AT(lf_node_call, file_identity, 64), /* ABI 1.2 */
        SIZE(lf_node_call, 72),
        AT(lf_node_type, name, 0),
        AT(lf_node_type, description, 8),
        AT(lf_node_type, flags, 16),
        AT(lf_node_type, inputs, 24),
        AT(lf_node_type, outputs, 32),
        AT(lf_node_type, params, 40),
        AT(lf_node_type, execute, 48),
        AT(lf_node_type, validate, 56),
        AT(lf_node_type, file_identity, 64),
        AT(lf_node_type, param_defaults, 72), /* ABI 1.1 */
        SIZE(lf_node_type, 80),
        AT(lf_plugin_desc, abi_version, 0),
        AT(lf_plugin_desc, struct_size, 4),
        AT(lf_plugin_desc, name, 8),
        AT(lf_plugin_desc, version, 16),
        AT(lf_plugin_desc, node_types, 24),
        AT(lf_plugin_desc, purge, 32),
        AT(lf_plugin_desc, node_type_size, 40), /* ABI 1.1 */
        SIZE(lf_plugin_desc, 48),
        AT(lf_host_api, abi_version, 0),
        AT(lf_host_api, struct_size, 4),
        AT(lf_host_api, log, 8),
        AT(lf_host_api, progress, 16),
        AT(lf_host_api, interrupted, 24),
        AT(lf_host_api, error_set, 32),
        AT(lf_host_api, get_device, 40),
        AT(lf_host_api, graph_yaml, 48), /* ABI 1.1 */
        AT(lf_host_api, cache_get, 56),  /* ABI 1.2 */
        AT(lf_host_api, cache_put, 64),
        AT(lf_host_api, latent_preview, 72), /* ABI 1.3 */
        AT(lf_host_api, image_preview, 80),  /* ABI 1.4 */
        SIZE(lf_host_api, 88),
    };
    (void)state;
    check(pins, sizeof pins / sizeof *pins);
}

static void test_enums_and_flags(void **state)
{
    /* Values built plugins compiled in: never renumbered. */
    static const struct pin pins[] = {
        VALUE(LF_PLUGIN_ABI_VERSION, 1), VALUE(LF_TYPE_NONE, 0),
        VALUE(LF_TYPE_INT, 1),           VALUE(LF_TYPE_FLOAT, 2),
        VALUE(LF_TYPE_STRING, 3),        VALUE(LF_TYPE_BOOL, 4),
        VALUE(LF_TYPE_TENSOR, 5),        VALUE(LF_TYPE_IMAGE, 8),
        VALUE(LF_TYPE_VAE, 11),          VALUE(LF_PORT_OPTIONAL, 1),
        VALUE(LF_PARAM_REQUIRED, 1),     VALUE(LF_PARAM_HAS_RANGE, 2),
        VALUE(LF_PARAM_PATH, 4),         VALUE(LF_PARAM_UNSIGNED, 8),
        VALUE(LF_PARAM_INT_RANGE, 16),   VALUE(LF_NODE_DETERMINISTIC, 1),
        VALUE(LF_NODE_READS_FILES, 2),   VALUE(LF_NODE_SIDE_EFFECT, 4),
        VALUE(LF_LOG_DEBUG, 3),
    };
    (void)state;
    check(pins, sizeof pins / sizeof *pins);
    assert_string_equal(LF_PLUGIN_ENTRY_SYMBOL, "lcmflow_plugin_entry");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_elements),
        cmocka_unit_test(test_structs),
        cmocka_unit_test(test_enums_and_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
