/* bad_abi.c - a plugin built for another ABI version (the loader must refuse it). */
#include "lcmflow/plugin.h"

static const struct lf_node_type *const types[] = {NULL};

static const struct lf_plugin_desc desc = {
    .abi_version = 999,
    .struct_size = sizeof desc,
    .name = "bad_abi",
    .version = "0.0.1",
    .node_types = types,
};

LF_EXPORT const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *host)
{
    (void)host;
    return &desc;
}
