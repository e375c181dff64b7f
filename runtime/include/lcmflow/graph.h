/*
** graph.h - graphs (YAML or built in code): load, validate, set params.
** The node types they use come from a registry (registry.h); running a
** graph is executor.h.
**
**     struct lf_registry *reg;
**     struct lf_graph *g;
**     struct lf_error err = {0};
**     if (lf_registry_create(&reg, &err) || lf_registry_load_default(reg, &err) ||
**         lf_graph_load(reg, "g.yaml", &g, &err) ||
**         lf_graph_set_param(g, "sample.seed", "7", &err))
**         ... print lf_error_text(&err, ...): "g.yaml:3:12: unknown node type ..."
**
** A graph is metadata only: loading and validating it allocates no tensors.
** Every error in a graph is reported with the file, 1-based line and column
** of the offending YAML node, and nothing runs.
*/
#ifndef LCMFLOW_GRAPH_H
#define LCMFLOW_GRAPH_H

#include "lcmflow/error.h"
#include "lcmflow/plugin.h"
#include "lcmflow/registry.h"
#include "lcmflow/value.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- graphs ---- */

struct lf_graph;

/* Reads and validates a YAML graph file; caller frees with lf_graph_destroy.
** reg is borrowed and must outlive the graph. */
enum lf_status lf_graph_load(struct lf_registry *reg, const char *path, struct lf_graph **out,
                             struct lf_error *err);
/* The same from text in memory; name is used in messages and its folder for
** relative paths. */
enum lf_status lf_graph_load_string(struct lf_registry *reg, const char *name, const char *text,
                                    size_t size, struct lf_graph **out, struct lf_error *err);

/* Building a graph in code (the Lua binding's path).  Start empty, add nodes,
** inputs and params as text, then validate.  Positions (source, line) are
** used in messages; line 0 means none. */
enum lf_status lf_graph_create(struct lf_registry *reg, const char *source, struct lf_graph **out,
                               struct lf_error *err);
enum lf_status lf_graph_add_node(struct lf_graph *g, const char *id, const char *type, int line,
                                 struct lf_error *err);
/* ref is "node.output". */
enum lf_status lf_graph_add_input(struct lf_graph *g, const char *id, const char *input,
                                  const char *ref, struct lf_error *err);
/* text is parsed by the param's declared type at validation; quoted means the
** text was a string (so "42" stays a string where one is expected and is
** refused where a number is). */
enum lf_status lf_graph_add_param(struct lf_graph *g, const char *id, const char *param,
                                  const char *text, bool quoted, struct lf_error *err);
/* ref is "node" (every output; runs side-effect nodes) or "node.output". */
enum lf_status lf_graph_add_output(struct lf_graph *g, const char *ref, struct lf_error *err);
/* Resolves types, params, inputs and order; needed before running.  Called
** by lf_graph_load. */
enum lf_status lf_graph_validate(struct lf_graph *g, struct lf_error *err);

void lf_graph_destroy(struct lf_graph *g); /* NULL allowed */

/* The graph as YAML in the file format, with params as currently set
** (overrides included): what made an output, for embedding in it.
** *out is malloc'd; caller frees. */
enum lf_status lf_graph_to_yaml(const struct lf_graph *g, char **out, struct lf_error *err);

/* Overrides a param: assignment is "node.param=value" for lf_graph_set,
** separate for lf_graph_set_param.  The value is typed by the declared type
** (an INT param refuses "abc", a range is checked).  The graph must be
** validated. */
enum lf_status lf_graph_set(struct lf_graph *g, const char *assignment, struct lf_error *err);
enum lf_status lf_graph_set_param(struct lf_graph *g, const char *node_param, const char *value,
                                  struct lf_error *err);

/* Inspection.  Borrowed, valid until the graph changes or is destroyed. */
const char *lf_graph_path(const struct lf_graph *g);
size_t lf_graph_node_count(const struct lf_graph *g);
const char *lf_graph_node_id(const struct lf_graph *g, size_t index);
const struct lf_node_type *lf_graph_node_type(const struct lf_graph *g, size_t index);
/* -1 when absent. */
long lf_graph_find_node(const struct lf_graph *g, const char *id);
/* A validated param's current value (typed); NULL when unknown. */
const struct lf_value *lf_graph_param(const struct lf_graph *g, const char *node_id,
                                      const char *param);

/* The param's text as written in the graph (or set since), before typing
** and path resolution; NULL when the param was not written (default). */
const char *lf_graph_param_text(const struct lf_graph *g, const char *node_id, const char *param);

#endif
