/*
** fuzz_graph.c - libFuzzer harness for the YAML graph loader with
** validation: every input is loaded as a graph file against a registry
** holding the test plugin's node types (tests/plugins/counting.c, linked
** in: ints with ranges, floats, bools, strings and paths, optional inputs,
** a validate hook, param defaults).  A refusal must carry a message; a
** graph that loads is walked and every param is set again from its text.
** Built when meson option `fuzz` is true (clang only); see
** tests/fuzz/README.md.
*/
#include "lcmflow/graph.h"
#include "lcmflow/plugin.h"
#include "lcmflow/tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const struct lf_plugin_desc *lcmflow_plugin_entry(const struct lf_host_api *host);

/* The graph code compiled into the harness needs these, never with tensors. */
const struct lf_host_api *lf_host_api_get(void)
{
    return NULL;
}
size_t lf_tensor_nbytes(const struct lf_tensor *t)
{
    (void)t;
    abort();
}
struct lf_tensor *lf_tensor_retain(struct lf_tensor *t)
{
    (void)t;
    abort();
}
void lf_tensor_release(struct lf_tensor *t)
{
    if (t) abort();
}

static struct lf_registry *reg;

/* The test plugin asks for an ABI 1.2 host (cache_put); nothing is run. */
static bool no_cache_put(struct lf_host_ctx *ctx, uint64_t key, struct lf_object *object)
{
    (void)ctx, (void)key, (void)object;
    return false;
}
static const struct lf_host_api host = {.struct_size = sizeof host, .cache_put = no_cache_put};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct lf_error err = {0};
    (void)argc, (void)argv;
    if (lf_registry_create(&reg, &err) ||
        lf_registry_add(reg, lcmflow_plugin_entry(&host), "fuzz", &err)) {
        fprintf(stderr, "fuzz-graph: %s\n", err.message);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lf_graph *g;
    struct lf_error err = {0};
    if (lf_graph_load_string(reg, "fuzz.yaml", (const char *)data, size, &g, &err) != LF_OK) {
        if (err.message[0] == '\0' || g) abort(); /* a refusal must say why */
        return 0;
    }
    char ref[600];
    for (size_t i = 0; i < lf_graph_node_count(g); i++) {
        const char *id = lf_graph_node_id(g, i);
        const struct lf_node_type *t = lf_graph_node_type(g, i);
        if (lf_graph_find_node(g, id) != (long)i) abort();
        for (const struct lf_param_desc *d = t->params; d && d->name; d++) {
            const char *text = lf_graph_param_text(g, id, d->name);
            const struct lf_value *v = lf_graph_param(g, id, d->name);
            if (!v) abort();
            if (!text || strlen(id) + strlen(d->name) + 2 > sizeof ref) continue;
            snprintf(ref, sizeof ref, "%s.%s", id, d->name);
            /* The written text parsed once; it must parse again (a relative
            ** path was made absolute against the graph's folder, ".", so it
            ** is unchanged). */
            if (lf_graph_set_param(g, ref, text, &err) != LF_OK && err.message[0] == '\0') abort();
        }
    }
    lf_graph_destroy(g);
    return 0;
}
