/*
** chain_graph.h - a large YAML graph for scale checks (test_graph.c) and the
** parse benchmark (bench/bench_graph.c): n nodes of the test plugin, a
** TestNumber followed by a chain of TestScale nodes, each fed by the one
** before it (the deepest dependency order there is).
*/
#ifndef LCMFLOW_TEST_CHAIN_GRAPH_H
#define LCMFLOW_TEST_CHAIN_GRAPH_H

#include <stdio.h>
#include <stdlib.h>

/* The graph's text (malloc'd, caller frees; NULL when out of memory);
** *size is its length. */
static char *chain_graph_yaml(size_t n, size_t *size)
{
    size_t cap = 64 + n * 96, len = 0;
    *size = 0;
    char *text = malloc(cap);
    if (!text) return NULL;
    len += (size_t)snprintf(text, cap,
                            "version: 1\nnodes:\n  n0: { type: TestNumber, params: "
                            "{ value: 1 } }\n");
    for (size_t i = 1; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "  n%zu: { type: TestScale, inputs: { value: n%zu.value }, "
                                "params: { factor: 1 } }\n",
                                i, i - 1);
    *size = len;
    return text;
}

#endif
