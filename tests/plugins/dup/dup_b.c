/* dup_b.c - defines TestDup, as does the other plugin here (the loader must refuse the pair). */
#include "lcmflow/plugin.h"

static enum lf_status dup_exec(const struct lf_node_call *c, struct lf_error *err)
{
    (void)err;
    c->outputs[0] = (struct lf_value){.type = LF_TYPE_INT, .u.i = 1};
    return LF_OK;
}

static const struct lf_node_type dup_type = {
    .name = "TestDup",
    .description = "Defined twice.",
    .outputs = (const struct lf_output_desc[]){{.name = "value", .type = LF_TYPE_INT}, {0}},
    .execute = dup_exec,
};

static const struct lf_node_type *const types[] = {&dup_type, NULL};

static const struct lf_plugin_desc desc = {
    .abi_version = LF_PLUGIN_ABI_VERSION,
    .struct_size = sizeof desc,
    .name = "dup_b",
    .version = "1.0.0",
    .node_types = types,
};

LF_EXPORT const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *host)
{
    (void)host;
    return &desc;
}
